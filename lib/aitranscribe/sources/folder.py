"""A user's own recordings as a corpus: any rate, mono or stereo, converted to 16 kHz mono FLAC.

Transcripts are optional: ``name.txt`` beside ``name.wav``, or a TSV ``relative/path<TAB>words``.
Each bad file (corrupt, empty, unreadable, non-finite samples) is reported by name and reason and
either skipped (``on_bad: skip``) or, after every file was checked, fails the stage (``on_bad: fail``);
files already converted are kept either way.

Long recordings: a file longer than ``max_utterance_s`` is cut into utterances at pauses,
``<relative path without suffix>/NNNN.flac``, each with the speaker an unsupervised diarization of the recording
gives it (``<recording>:SPEAKER_<n>``; :mod:`aitranscribe.sources.sessions`). Its transcript, if any, is not split
(the alignment is unknown): its utterances get none.

Incremental: each recording's conversion is recorded in ``recordings/<relative path>.json`` with the size and
modification time it was made from; a re-run converts only new and changed files, deletes the outputs of
removed ones and rewrites the manifests. The stage reruns when the folder's :func:`content` changes.

Splits: every utterance's split is drawn from a hash of its relative path and the seed (``valid_fraction``,
``test_fraction``), not by shuffling the whole list, so adding a recording never moves the others' utterances
between splits (unless none was drawn for train: then all are train). Utterances cut from one recording can land
in different splits.

Unpaired text: ``text_file`` (UTF-8, one sentence per line) is copied to ``text/corpus.txt``; training needs it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from tqdm.auto import tqdm

from ..core.errors import BadInputError, KitError
from ..core.files import atomic_write_bytes, atomic_write_json
from ..features import diarize
from ..features.vad import DEFAULTS as VAD_SETTINGS
from ..io import audio as audio_io
from ..io.manifest import SPLITS, Manifest
from ..io.manifest import write as write_manifest
from ..text.normalize import normalize_words
from . import sessions

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



def resolve_folder(p: dict) -> Path:
    """The folder of recordings of parameters ``p``; a clear error when it is unset or missing."""
    if not p["folder"]:
        raise KitError("source=folder needs the parameter 'folder' (a directory of recordings)")
    folder = Path(p["folder"]).expanduser().resolve()
    if not folder.is_dir():
        raise KitError(f"{folder}: folder not found")
    return folder


def _stamp(path: Path) -> list[int] | None:
    """``[size, mtime in ns]`` of a file, None when it does not exist."""
    if not path.is_file():
        return None
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def content(p: dict) -> dict:
    """What stage 01 reads with ``source: folder``: the content index of the recordings and of the ``.txt``
    transcripts beside them, and the stamps of the ``transcripts`` table and the ``text_file``."""
    folder = resolve_folder(p)
    files = find_audio(folder)
    sides = [f.with_suffix(".txt") for f in files if f.with_suffix(".txt").is_file()]
    return {"audio": content_index(folder, files), "transcripts": content_index(folder, sides),
            "tables": {name: _stamp(Path(p[name]).expanduser()) for name in ("transcripts", "text_file") if p[name]}}


def split_of(name: str, seed: int, valid_fraction: float, test_fraction: float) -> str:
    """The split of the utterance ``name`` (its relative path): a hash of the name and the seed mapped to [0, 1),
    compared with the fractions. Depends on nothing else, so adding files never moves an utterance."""
    u = int.from_bytes(hashlib.sha256(f"{seed}\0{name}".encode()).digest()[:8], "big") / 2.0 ** 64
    return "valid" if u < valid_fraction else "test" if u < valid_fraction + test_fraction else "train"


RECORDS = "recordings"  # per-recording conversion records, <out_dir>/recordings/<relative path>.json


def _load_records(out_dir: Path) -> dict[str, dict]:
    root = out_dir / RECORDS
    if not root.is_dir():
        return {}
    return {path.relative_to(root).as_posix()[:-len(".json")]: json.loads(path.read_text())
            for path in sorted(root.rglob("*.json"))}


def _forget(out_dir: Path, rel: str, record: dict) -> None:
    """Delete what recording ``rel`` produced (its utterances' audio) and its record, then the folders left empty."""
    audio_dir, records_dir = out_dir / "audio", out_dir / RECORDS
    for utt in record.get("utterances", []):
        (audio_dir / utt["path"]).unlink(missing_ok=True)
    (records_dir / f"{rel}.json").unlink(missing_ok=True)
    stem = Path(rel).with_suffix("")
    _prune(audio_dir / stem, audio_dir)
    _prune((audio_dir / stem).parent, audio_dir)
    _prune((records_dir / rel).parent, records_dir)


def _prune(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents below ``root`` while they are empty."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _convert(src: Path, rel: str, out_dir: Path, p: dict) -> dict:
    """Convert one recording: ``{"utterances": [{"path", "frames", "speaker"}], "cut"}`` (a long one is cut, see
    :mod:`aitranscribe.sources.sessions`), or ``{"bad": reason}``."""
    audio_dir = out_dir / "audio"
    stem = Path(rel).with_suffix("")
    try:
        seconds = audio_io.info(src).seconds
        if not p["max_utterance_s"] or seconds <= p["max_utterance_s"]:
            frames = audio_io.convert_to_16k_mono(src, audio_dir / f"{stem}.flac").frames
            speaker = stem.parts[0] if len(stem.parts) > 1 else "unknown"
            return {"cut": False, "utterances": [{"path": f"{stem.as_posix()}.flac", "frames": frames,
                                                   "speaker": speaker}]}
        whole = out_dir / "work" / f"{stem}.flac"  # the whole recording at 16 kHz, deleted once cut
        try:
            audio_io.convert_to_16k_mono(src, whole)
            result = sessions.cut(whole, audio_dir / stem, p["max_utterance_s"], p["n_speakers"] or None,
                                  VAD_SETTINGS, p["seed"])
        finally:
            whole.unlink(missing_ok=True)
            _prune(whole.parent, out_dir)
    except BadInputError as exc:  # named after the recording, also when the converted copy was being read
        log.error("bad input: %s: %s", src, exc.reason)
        return {"bad": exc.reason}
    utterances = [{"path": f"{stem.as_posix()}/{u['file']}", "frames": u["frames"], "start": u["start"],
                   "end": u["end"], "speaker": f"{stem.as_posix()}:SPEAKER_{u['speaker']}"}
                  for u in result["utterances"]]
    return {"cut": True, "seconds": seconds, "utterances": utterances, "n_speakers": result["n_speakers"],
            "speech_seconds": result["speech_seconds"], "diarization": result["diarization"]}


def _copy_text(p: dict, out_dir: Path) -> int:
    """Copy ``text_file`` to ``text/corpus.txt``; its number of non-empty lines (0 when there is no text_file)."""
    target = out_dir / "text" / "corpus.txt"
    if not p["text_file"]:
        target.unlink(missing_ok=True)
        log.warning("folder: no text_file, so no unpaired text: stage 04 (and training) needs one "
                    "(a UTF-8 file of sentences, one per line)")
        return 0
    path = Path(p["text_file"]).expanduser()
    if not path.is_file():
        raise BadInputError(path, "text_file not found")
    raw = path.read_bytes()
    n = sum(1 for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip())
    if not n:
        raise BadInputError(path, "text_file holds no sentence (every line is empty)")
    atomic_write_bytes(target, raw)
    return n


def build(p: dict, out_dir: Path) -> dict:
    """Convert ``p['folder']`` into ``out_dir`` (audio/, manifests/, text/), reusing earlier conversions of
    unchanged files; split by ``valid_fraction``/``test_fraction``. Returns the counts of new, changed, unchanged
    and removed recordings, cut recordings and bad files."""
    folder = resolve_folder(p)
    if not 0 <= p["n_speakers"] <= diarize.MAX_SPEAKERS:
        raise KitError(f"n_speakers must be 0 (estimate) or 1..{diarize.MAX_SPEAKERS}, not {p['n_speakers']}")
    files = find_audio(folder)
    if not files:
        raise KitError(f"{folder}: no audio files ({', '.join(audio_io.AUDIO_EXTENSIONS)})")
    table = read_transcripts_tsv(Path(p["transcripts"]).expanduser()) if p["transcripts"] else None
    n_text = _copy_text(p, out_dir)

    owners, clashes = {}, {}  # a.wav and a.mp3 would both become a.flac: the second one is refused
    for src in files:
        rel = src.relative_to(folder).as_posix()
        owner = owners.setdefault(Path(rel).with_suffix("").as_posix(), rel)
        if owner != rel:
            clashes[rel] = f"converts to the same name as {owner}; rename one of them"
    index = {rel: stamp for rel, stamp in content_index(folder, files).items() if rel not in clashes}
    records = _load_records(out_dir)
    changes = index_changes({rel: r["source"] for rel, r in records.items()}, index)
    for rel in changes["removed"] + changes["changed"]:
        _forget(out_dir, rel, records.pop(rel))
    todo = set(changes["new"] + changes["changed"])
    for src in tqdm(files, desc="converting recordings", unit="file"):
        rel = src.relative_to(folder).as_posix()
        if rel in todo:
            records[rel] = {"source": index[rel], **_convert(src, rel, out_dir, p)}
            atomic_write_json(out_dir / RECORDS / f"{rel}.json", records[rel])

    rows, bad, cut_with_text, good = [], [], [], []
    for src in files:
        rel = src.relative_to(folder).as_posix()
        record = records[rel] if rel in records else {"bad": clashes[rel]}
        if "bad" in record:
            if rel not in todo:  # reported when converted; reported again on every run
                log.error("bad input: %s: %s", src, record["bad"])
            bad.append({"file": str(src), "reason": record["bad"]})
            continue
        try:
            words = transcript_for(src, folder, table)
        except BadInputError as exc:
            log.error("bad input: %s", exc)
            bad.append({"file": str(src), "reason": exc.reason})
            continue
        if record["cut"] and words is not None:
            cut_with_text.append(rel)
            words = None
        rows += [(u["path"], u["frames"], words, u["speaker"]) for u in record["utterances"]]
        good.append(rel)
    atomic_write_json(out_dir / "bad_files.json", bad)
    n_good = len(good)
    if bad and p["on_bad"] == "fail":
        raise KitError(f"{len(bad)} bad file(s) in {folder} (on_bad=fail): "
                       + "; ".join(f"{b['file']}: {b['reason']}" for b in bad)
                       + f". {n_good} good file(s) are converted in {out_dir / 'audio'} and kept.")
    if not rows:
        raise KitError(f"{folder}: none of the {len(files)} audio files is usable; see the errors above")
    if cut_with_text:
        log.warning("%d recording(s) longer than max_utterance_s=%s s were cut into utterances; their transcripts "
                    "are not split (the alignment is unknown), so their utterances have none (first: %s)",
                    len(cut_with_text), p["max_utterance_s"], cut_with_text[0])
    with_text = sum(r[2] is not None for r in rows)
    if 0 < with_text < len(rows):
        log.warning("%d of %d utterances have no transcript: .wrd files are not written", len(rows) - with_text,
                    len(rows))

    parts = {split: [] for split in SPLITS}
    for row in rows:
        parts[split_of(row[0], p["seed"], p["valid_fraction"], p["test_fraction"])].append(row)
    if not parts["train"]:  # a tiny folder: the one case where the splits depend on the other files
        log.warning("folder: no utterance was drawn for train among %d: all of them are train", len(rows))
        parts = {"train": rows, "valid": [], "test": []}
    all_text = with_text == len(rows)
    for split in SPLITS:
        split_rows = parts[split]
        for ext in ("wrd", "phn", "spk"):  # an earlier run's annotations, stale once the folder changed
            (out_dir / "manifests" / f"{split}.{ext}").unlink(missing_ok=True)
        write_manifest(out_dir / "manifests", split, Manifest(
            root=(out_dir / "audio").resolve(), paths=[r[0] for r in split_rows], n_samples=[r[1] for r in split_rows],
            words=[r[2] for r in split_rows] if all_text else None, speakers=[r[3] for r in split_rows]))
    counts = {f"n_{kind}": len(changes[kind]) for kind in ("new", "changed", "unchanged", "removed")}
    cut = {rel: records[rel] for rel in good if records[rel]["cut"]}
    log.info("folder %s: %d new, %d changed, %d unchanged, %d removed recording(s); %d good (%d cut into %d "
             "utterances), %d bad; utterances per split %s", folder, *counts.values(), n_good, len(cut),
             sum(len(r["utterances"]) for r in cut.values()), len(bad), {k: len(v) for k, v in parts.items()})
    return {**counts, "n_recordings": n_good, "n_cut_recordings": len(cut),
            "diarized_speakers": {rel: r["n_speakers"] for rel, r in cut.items()}, "n_text_sentences": n_text,
            "n_bad_files": len(bad), "bad_files": bad}
