"""A user's own recordings as a corpus: any rate, mono or stereo, converted to 16 kHz mono FLAC.

Transcripts are optional: ``name.txt`` beside ``name.wav``, or a TSV ``relative/path<TAB>words``.
Each bad file (corrupt, empty, unreadable, non-finite samples) is reported by name and reason and
either skipped (``on_bad: skip``) or, after every file was checked, fails the stage (``on_bad: fail``);
files already converted are kept either way.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import soundfile as sf
from tqdm.auto import tqdm

from ..io import audio as audio_io
from ..text.normalize import normalize_words
from ..core.errors import BadInputError, KitError
from ..io.manifest import SPLITS, Manifest
from ..io.manifest import write as write_manifest
from ..core.files import atomic_write_json

log = logging.getLogger(__name__)


def find_audio(folder: Path) -> list[Path]:
    """Audio files below ``folder`` (by extension), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in audio_io.AUDIO_EXTENSIONS)


def content_index(folder: Path, files: list[Path]) -> dict[str, list[int]]:
    """``{relative path: [size in bytes, mtime in ns]}`` of ``files`` below ``folder``: what a folder holds, cheap to
    take for hours of audio (a content hash would read every byte on every run). A file copied in, removed,
    re-recorded or edited changes its entry; touching a file without changing it only costs its reprocessing."""
    out = {}
    for f in files:
        st = f.stat()
        out[f.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def index_changes(before: dict, now: dict) -> dict[str, list[str]]:
    """``new``, ``changed``, ``unchanged`` and ``removed`` relative paths between two :func:`content_index` results."""
    return {"new": sorted(k for k in now if k not in before),
            "changed": sorted(k for k in now if k in before and list(before[k]) != list(now[k])),
            "unchanged": sorted(k for k in now if k in before and list(before[k]) == list(now[k])),
            "removed": sorted(k for k in before if k not in now)}


def read_transcripts_tsv(path: Path) -> dict[str, str]:
    """``relative/path<TAB>words`` lines as a dict; malformed lines are an error naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"transcripts are not UTF-8 text (byte {exc.start})") from None
    out = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise BadInputError(path, f"line {number}: expected 'relative/path<TAB>words'")
        name, words = line.split("\t", 1)
        out[name.strip()] = words.strip()
    return out


def transcript_for(audio: Path, folder: Path, table: dict[str, str] | None) -> str | None:
    """Transcript of ``audio`` from the TSV table or a ``.txt`` beside it, normalised; None if there is none."""
    rel = audio.relative_to(folder).as_posix()
    text = None
    if table is not None:
        text = table.get(rel, table.get(audio.name))
    else:
        side = audio.with_suffix(".txt")
        if side.is_file():
            try:
                text = side.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise BadInputError(side, f"transcript is not UTF-8 text (byte {exc.start})") from None
    if text is None:
        return None
    words = normalize_words(text)
    if not words:
        raise BadInputError(audio, "its transcript is empty")
    return " ".join(words)


def build(p: dict, out_dir: Path) -> dict:
    """Convert ``p['folder']`` into ``out_dir`` (audio/, manifests/); split by ``valid_fraction``/``test_fraction``."""
    if not p["folder"]:
        raise KitError("source=folder needs the parameter 'folder' (a directory of recordings)")
    folder = Path(p["folder"]).expanduser().resolve()
    if not folder.is_dir():
        raise KitError(f"{folder}: folder not found")
    files = find_audio(folder)
    if not files:
        raise KitError(f"{folder}: no audio files ({', '.join(audio_io.AUDIO_EXTENSIONS)})")
    table = read_transcripts_tsv(Path(p["transcripts"]).expanduser()) if p["transcripts"] else None

    audio_dir = out_dir / "audio"
    good, bad = [], []
    for src in tqdm(files, desc="converting recordings", unit="file"):
        rel = src.relative_to(folder).with_suffix(".flac")
        dst = audio_dir / rel
        try:
            words = transcript_for(src, folder, table)
            if dst.is_file():  # converted in an earlier, interrupted run
                frames = sf.info(str(dst)).frames
            else:
                frames = audio_io.convert_to_16k_mono(src, dst).frames
            speaker = rel.parts[0] if len(rel.parts) > 1 else "unknown"
            good.append((rel.as_posix(), frames, words, speaker))
        except BadInputError as exc:
            log.error("bad input: %s", exc)
            bad.append({"file": str(src), "reason": exc.reason})
    atomic_write_json(out_dir / "bad_files.json", bad)
    if bad and p["on_bad"] == "fail":
        raise KitError(f"{len(bad)} bad file(s) in {folder} (on_bad=fail): "
                       + "; ".join(f"{b['file']}: {b['reason']}" for b in bad)
                       + f". {len(good)} good file(s) are converted in {audio_dir} and kept.")
    if not good:
        raise KitError(f"{folder}: none of the {len(files)} audio files is usable; see the errors above")
    with_text = sum(w is not None for _, _, w, _ in good)
    if 0 < with_text < len(good):
        log.warning("%d of %d recordings have no transcript: .wrd files are not written", len(good) - with_text,
                    len(good))

    order = list(range(len(good)))
    random.Random(p["seed"]).shuffle(order)
    n_valid = int(round(p["valid_fraction"] * len(good)))
    n_test = int(round(p["test_fraction"] * len(good)))
    n_valid, n_test = (0, 0) if len(good) - n_valid - n_test < 1 else (n_valid, n_test)
    parts = {"valid": sorted(order[:n_valid]), "test": sorted(order[n_valid:n_valid + n_test]),
             "train": sorted(order[n_valid + n_test:])}
    for split in SPLITS:
        rows = [good[i] for i in parts[split]]
        all_text = with_text == len(good)
        write_manifest(out_dir / "manifests", split, Manifest(
            root=audio_dir.resolve(), paths=[r[0] for r in rows], n_samples=[r[1] for r in rows],
            words=[r[2] for r in rows] if all_text else None, speakers=[r[3] for r in rows]))
    log.info("folder %s: %d good, %d bad, splits %s", folder, len(good), len(bad),
             {k: len(v) for k, v in parts.items()})
    return {"n_text_sentences": 0, "n_bad_files": len(bad), "bad_files": bad}
