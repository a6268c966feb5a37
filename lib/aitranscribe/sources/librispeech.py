"""LibriSpeech (OpenSLR SLR12) as a data source: download, verify, extract, make manifests.

Archives ``{subset}.tar.gz`` come from ``librispeech_url`` (default :data:`BASE_URL`) and are kept,
with their extraction, under ``<cache_dir>/librispeech`` so several profiles share them. Inside an
archive the layout is ``LibriSpeech/{subset}/{speaker}/{chapter}/{speaker}-{chapter}-{utt}.flac``
with one ``{speaker}-{chapter}.trans.txt`` per chapter (lines ``UTT-ID WORDS IN UPPER CASE``).

Splits: the ``librispeech_train`` subsets give train and valid (whole speakers held out, chosen with
the seed), the ``librispeech_test`` subsets give test. The transcripts of the ``librispeech_text``
subsets (disjoint from the audio subsets) are the unpaired text corpus; only their ``.trans.txt``
files are extracted.
"""
from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..io import audio as audio_io
from ..io.download import download, extracted_files, safe_extract_tar
from ..core.errors import BadInputError, KitError, ParamsError
from ..io.manifest import Manifest
from ..io.manifest import write as write_manifest
from ..core.paths import resolve
from ..core.files import atomic_write_text
from ..io.audio import TARGET_SR

log = logging.getLogger(__name__)

BASE_URL = "https://www.openslr.org/resources/12"

# sha256 of the OpenSLR archives, as published in torchaudio's LibriSpeech dataset
# (pytorch/audio, src/torchaudio/datasets/librispeech.py, _CHECKSUMS) and identical in Apple's mlx-data.
SHA256 = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}

_SUBSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRANS_SUFFIX = ".trans.txt"


@dataclass(frozen=True)
class Utterance:
    """One LibriSpeech utterance: path relative to the audio root, speaker id, lower-case words."""

    rel: str
    speaker: str
    words: str


def _require(p: dict, key: str):
    if key not in p:
        raise ParamsError(f"LibriSpeech source: parameter '{key}' is missing")
    return p[key]


def _subsets(p: dict, key: str, required: bool) -> list[str]:
    value = p.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ParamsError(f"{key} must be a list of LibriSpeech subset names, got {value!r}")
    for name in value:
        if not _SUBSET_NAME.match(name) or ".." in name:
            raise ParamsError(f"{key}: {name!r} is not a valid subset name (e.g. 'dev-clean')")
    if len(set(value)) != len(value):
        raise ParamsError(f"{key} lists a subset twice: {list(value)}")
    if required and not value:
        raise ParamsError(f"{key} is empty: name at least one LibriSpeech subset (e.g. ['dev-clean'])")
    return list(value)


def _checksums(p: dict) -> dict[str, str]:
    extra = p.get("librispeech_checksums") or {}
    if not isinstance(extra, dict):
        raise ParamsError(f"librispeech_checksums must map subset names to sha256, got {extra!r}")
    return {**SHA256, **{str(k): str(v) for k, v in extra.items()}}


def fetch_subset(subset: str, base_url: str, sha256: str | None, cache: Path, text_only: bool = False,
                 progress: bool = True) -> Path:
    """Download and extract one subset (once); return the directory holding ``LibriSpeech/{subset}``."""
    if not sha256:
        raise KitError(f"no sha256 known for LibriSpeech subset '{subset}': add it to librispeech_checksums "
                       f"(subset -> sha256 of {subset}.tar.gz) so the download can be verified")
    full = cache / "extracted" / subset
    if extracted_files(full, sha256=sha256) is not None:
        log.info("LibriSpeech %s: already extracted in %s", subset, full)
        return full
    dest = cache / "text-only" / subset if text_only else full
    if text_only and extracted_files(dest, sha256=sha256) is not None:
        log.info("LibriSpeech %s: transcripts already extracted in %s", subset, dest)
        return dest
    archive = download(f"{base_url}/{subset}.tar.gz", cache / f"{subset}.tar.gz", sha256, progress=progress)
    safe_extract_tar(archive, dest, sha256=sha256, progress=progress,
                     include=(lambda name: name.endswith(_TRANS_SUFFIX)) if text_only else None)
    return dest


def _subset_dir(extracted: Path, subset: str, cache: Path) -> Path:
    folder = extracted / "LibriSpeech" / subset
    if not folder.is_dir():
        raise BadInputError(cache / f"{subset}.tar.gz",
                            f"has no LibriSpeech/{subset}/ folder (is it the LibriSpeech '{subset}' archive?)")
    return folder


def read_transcripts(path: Path) -> dict[str, str]:
    """``UTT-ID WORDS`` lines of a ``.trans.txt`` as {utterance id: lower-case words}."""
    out = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise BadInputError(path, f"line {number}: expected 'UTTERANCE-ID WORDS', got {line!r}")
        out[fields[0]] = " ".join(fields[1].lower().split())
    return out


def _scan_audio(folder: Path, prefix: str) -> tuple[list[Utterance], list[Path]]:
    """Utterances of one extracted subset with their transcripts; also the flacs without one."""
    utts, unpaired = [], []
    for chapter in sorted(p for p in folder.glob("*/*") if p.is_dir()):
        speaker = chapter.parent.name
        transcripts = {}
        for trans in sorted(chapter.glob(f"*{_TRANS_SUFFIX}")):
            transcripts.update(read_transcripts(trans))
        for flac in sorted(chapter.glob("*.flac")):
            words = transcripts.get(flac.stem)
            if words is None:
                unpaired.append(flac)
                continue
            rel = flac.relative_to(folder).as_posix()
            utts.append(Utterance(f"{prefix}/{rel}", speaker, words))
    return utts, unpaired


def split_by_speaker(utts: list[Utterance], valid_fraction: float, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    """(train, valid): a seeded choice of whole speakers, about ``valid_fraction`` of them, is held out."""
    speakers = sorted({u.speaker for u in utts}, key=lambda s: (len(s), s))
    n_valid = 0
    if valid_fraction > 0 and len(speakers) >= 2:
        n_valid = min(len(speakers) - 1, max(1, round(valid_fraction * len(speakers))))
    elif valid_fraction > 0:
        log.warning("only %d training speaker(s): the valid split is empty", len(speakers))
    order = list(speakers)
    random.Random(seed).shuffle(order)
    held_out = set(order[:n_valid])
    return [u for u in utts if u.speaker not in held_out], [u for u in utts if u.speaker in held_out]


def cap(utts: list[Utterance], max_utterances: int, seed: int, split: str) -> list[Utterance]:
    """At most ``max_utterances`` (0 = all) of ``utts``, a seeded sample kept in the original order."""
    if max_utterances <= 0 or len(utts) <= max_utterances:
        return utts
    keep = sorted(random.Random(f"librispeech-{seed}-{split}").sample(range(len(utts)), max_utterances))
    return [utts[i] for i in keep]


def _frames(root: Path, utts: list[Utterance], split: str) -> list[int]:
    counts = []
    for u in tqdm(utts, desc=f"checking {split} audio", unit="utt", leave=False):
        head = audio_io.info(root / u.rel)
        if head.sample_rate != TARGET_SR:
            raise BadInputError(head.path, f"sample rate {head.sample_rate} Hz, expected {TARGET_SR} Hz "
                                           f"(LibriSpeech audio is 16 kHz)")
        if head.channels != 1:
            raise BadInputError(head.path, f"{head.channels} channels, expected mono")
        counts.append(head.frames)
    return counts


def build(p: dict, out_dir: Path) -> dict:
    """Make the LibriSpeech data of a profile in ``out_dir`` (manifests/, text/corpus.txt); return statistics.

    ``p``: librispeech_url, librispeech_train, librispeech_test, librispeech_text (optional),
    librispeech_checksums (subset -> sha256, over the built-in ones), valid_fraction, seed,
    max_utterances (per split, 0 = all), cache_dir. Returns ``{"splits": {split: n}, "hours",
    "n_speakers", "n_text_sentences", "text_path", "n_skipped_no_transcript"}``.
    """
    out_dir = Path(out_dir)
    base_url = str(p.get("librispeech_url") or BASE_URL).rstrip("/")
    train_sets = _subsets(p, "librispeech_train", required=True)
    test_sets = _subsets(p, "librispeech_test", required=True)
    text_sets = _subsets(p, "librispeech_text", required=False)
    both = set(train_sets) & set(test_sets)
    if both:
        raise ParamsError(f"librispeech_train and librispeech_test share {sorted(both)}: test audio must be unseen")
    overlap = set(text_sets) & (set(train_sets) | set(test_sets))
    if overlap:
        raise ParamsError(f"librispeech_text {sorted(overlap)} also in librispeech_train/librispeech_test: "
                          f"the unpaired text must come from other subsets than the audio")
    valid_fraction = float(_require(p, "valid_fraction"))
    if not 0.0 <= valid_fraction < 1.0:
        raise ParamsError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    seed = int(_require(p, "seed"))
    max_utts = int(p.get("max_utterances", 0) or 0)
    if max_utts < 0:
        raise ParamsError(f"max_utterances must be >= 0 (0 = all), got {max_utts}")
    checksums = _checksums(p)
    missing = [s for s in train_sets + test_sets + text_sets if not checksums.get(s)]
    if missing:
        raise KitError(f"no sha256 known for LibriSpeech subset(s) {missing}: add them to librispeech_checksums "
                       f"(subset -> sha256 of <subset>.tar.gz) so the downloads can be verified")
    cache = resolve(_require(p, "cache_dir")) / "librispeech"
    root = (cache / "extracted").resolve()

    audio: dict[str, list[Utterance]] = {}
    skipped = 0
    for subset in train_sets + test_sets:
        folder = _subset_dir(fetch_subset(subset, base_url, checksums[subset], cache), subset, cache)
        utts, unpaired = _scan_audio(folder, f"{subset}/LibriSpeech/{subset}")
        if unpaired:
            log.warning("LibriSpeech %s: %d audio file(s) have no transcript and are skipped (first: %s)",
                        subset, len(unpaired), unpaired[0])
            skipped += len(unpaired)
        if not utts:
            raise BadInputError(folder, "no transcribed .flac files found")
        audio[subset] = utts
        log.info("LibriSpeech %s: %d utterances, %d speakers", subset, len(utts), len({u.speaker for u in utts}))

    train, valid = split_by_speaker([u for s in train_sets for u in audio[s]], valid_fraction, seed)
    splits = {"train": train, "valid": valid, "test": [u for s in test_sets for u in audio[s]]}
    counts, total_samples, speakers = {}, 0, set()
    for split, utts in splits.items():
        utts = cap(utts, max_utts, seed, split)
        frames = _frames(root, utts, split)
        write_manifest(out_dir / "manifests", split, Manifest(
            root=root, paths=[u.rel for u in utts], n_samples=frames,
            words=[u.words for u in utts], speakers=[u.speaker for u in utts]))
        counts[split] = len(utts)
        total_samples += sum(frames)
        speakers.update(u.speaker for u in utts)
        log.info("%s: %d utterances, %d speakers, %.2f h", split, len(utts), len({u.speaker for u in utts}),
                 sum(frames) / TARGET_SR / 3600)
    shared = {u.speaker for u in splits["test"]} & {u.speaker for u in train + valid}
    if shared:
        log.warning("%d test speaker(s) also occur in train/valid (first: %s)", len(shared), sorted(shared)[0])

    sentences = []
    for subset in text_sets:
        extracted = fetch_subset(subset, base_url, checksums[subset], cache, text_only=True)
        for trans in sorted(_subset_dir(extracted, subset, cache).glob(f"*/*/*{_TRANS_SUFFIX}")):
            sentences.extend(w for w in read_transcripts(trans).values() if w)
    if not text_sets:
        log.warning("librispeech_text is empty: the unpaired text corpus is empty "
                    "(name subsets such as ['train-clean-100'] to fill it)")
    text_path = atomic_write_text(out_dir / "text" / "corpus.txt", "".join(f"{s}\n" for s in sentences))
    log.info("unpaired text: %d sentences from %s", len(sentences), text_sets)
    return {
        "splits": counts,
        "hours": total_samples / TARGET_SR / 3600,
        "n_speakers": len(speakers),
        "n_text_sentences": len(sentences),
        "text_path": str(text_path),
        "n_skipped_no_transcript": skipped,
    }
