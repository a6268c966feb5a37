"""fairseq manifests: ``{split}.tsv`` (root line, then ``path<TAB>num_samples``) with ``.wrd``/``.phn``/``.spk``.

``.wrd`` holds one word transcript per line and ``.phn`` space-separated phones, in the tsv's order;
``.spk`` (the kit's addition, ignored by fairseq) holds one speaker or voice name per line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BadInputError
from ..core.files import atomic_write_text

SPLITS = ("train", "valid", "test")


@dataclass
class Manifest:
    """One split: the audio root, relative paths, sample counts and optional per-line annotations."""

    root: Path
    paths: list[str]
    n_samples: list[int]
    words: list[str] | None = None
    phones: list[str] | None = None
    speakers: list[str] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def audio_path(self, i: int) -> Path:
        return self.root / self.paths[i]

    @property
    def total_samples(self) -> int:
        return int(sum(self.n_samples))


def write(directory, split: str, manifest: Manifest) -> dict[str, str]:
    """Write ``{split}.tsv`` and whichever of ``.wrd``, ``.phn``, ``.spk`` the manifest has; return the paths."""
    directory = Path(directory)
    lines = [str(manifest.root)] + [f"{p}\t{n}" for p, n in zip(manifest.paths, manifest.n_samples)]
    out = {"tsv": str(atomic_write_text(directory / f"{split}.tsv", "\n".join(lines) + "\n"))}
    for ext, values in (("wrd", manifest.words), ("phn", manifest.phones), ("spk", manifest.speakers)):
        if values is not None:
            if len(values) != len(manifest):
                raise ValueError(f"{split}.{ext}: {len(values)} lines for {len(manifest)} utterances")
            text = "".join(f"{v}\n" for v in values)
            out[ext] = str(atomic_write_text(directory / f"{split}.{ext}", text))
    return out


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"not UTF-8 text (byte {exc.start})") from None


def read(directory, split: str, check_files: bool = True) -> Manifest:
    """Read a split back; mismatched line counts, malformed lines and (optionally) missing audio are errors."""
    directory = Path(directory)
    tsv = directory / f"{split}.tsv"
    if not tsv.is_file():
        raise BadInputError(tsv, "manifest not found")
    lines = _read_lines(tsv)
    if not lines:
        raise BadInputError(tsv, "empty manifest (no root line)")
    root = Path(lines[0].strip())
    paths, counts = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip().isdigit():
            raise BadInputError(tsv, f"line {number}: expected 'path<TAB>num_samples', got {line!r}")
        paths.append(parts[0])
        counts.append(int(parts[1]))
    manifest = Manifest(root, paths, counts)
    if check_files:
        missing = [p for p in paths if not (root / p).is_file()]
        if missing:
            raise BadInputError(tsv, f"{len(missing)} audio file(s) listed but missing, first: {root / missing[0]}")
    for ext, attr in (("wrd", "words"), ("phn", "phones"), ("spk", "speakers")):
        path = directory / f"{split}.{ext}"
        if path.is_file():
            values = _read_lines(path)
            if len(values) != len(paths):
                raise BadInputError(path, f"{len(values)} lines but {tsv.name} lists {len(paths)} utterances")
            setattr(manifest, attr, values)
    return manifest


def write_vads(path, intervals: list[list[tuple[int, int]]]) -> Path:
    """A fairseq ``.vads`` file: one line per utterance, its speech intervals ``start:end`` in samples."""
    return atomic_write_text(path, "".join(" ".join(f"{a}:{b}" for a, b in iv) + "\n" for iv in intervals))


def read_vads(path) -> list[list[tuple[int, int]]]:
    """A ``.vads`` file back as a list of interval lists; a malformed line is an error naming it."""
    out = []
    for number, line in enumerate(_read_lines(Path(path)), 1):
        try:
            out.append([tuple(int(v) for v in item.split(":")) for item in line.split()])
        except ValueError:
            raise BadInputError(path, f"line {number}: expected 'start:end' sample intervals, got {line!r}") from None
    return out
