"""Stage 01, data: a corpus in fairseq manifests plus an unpaired text corpus.

Inputs: one source (``demo``: synthesized offline; ``librispeech``: OpenSLR download; ``folder``: your
recordings, long ones cut into utterances with diarized speakers, plus ``text_file``; a change in the folder reruns
the stage, converting only new and changed files, see :mod:`aitranscribe.sources.folder`). Outputs in ``<data_root>/<profile>/01_data/<source>-<hash>/``: ``manifests/{split}.tsv``
(16 kHz mono audio), ``.wrd``/``.phn``/``.spk`` where transcripts exist, ``text/corpus.txt``
(unpaired sentences) and ``summary.json``. Reference phones exist for scoring only.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..core.metric_labels import PLAIN
from ..core import registry, stage
from ..core.params import Param, section
from ..io import manifest
from ..sources import demo, folder, librispeech
from ..text import phonemize
from ..io.audio import TARGET_SR

log = logging.getLogger(__name__)

KEY = "data"
NOTEBOOK = registry.info(KEY).notebook
SOURCES = {"demo": demo, "librispeech": librispeech, "folder": folder}

PARAMS = {
    "source": Param("demo", str, "where the corpus comes from", tuple(SOURCES)),
    "demo_n_train": Param(600, int, "demo: training utterances"),
    "demo_n_valid": Param(20, int, "demo: validation utterances"),
    "demo_n_test": Param(20, int, "demo: test utterances"),
    "demo_n_text": Param(0, int, "demo: unpaired text sentences (0 for all remaining WordNet examples)"),
    "demo_glosses": Param(True, bool, "demo: WordNet's definitions as more text for the lexicon and the word LM"),
    "demo_voices": Param([], list, "demo: voice names to use (empty for the nine espeak-ng voices)"),
    "demo_unseen_voices": Param([], list, "demo: voices that speak only test utterances, never heard in train or "
                                          "valid (their figures are report-only)"),
    "demo_n_test_unseen": Param(0, int, "demo: test utterances spoken by demo_unseen_voices (of demo_n_test)"),
    "demo_rooms": section("demo: rooms and microphones on a share of utterances (all shares 0: clean, as before)", {
        "room": Param(0.0, float, "share of utterances spoken in a room (image-source reverberation)"),
        "rt60_s": Param([0.2, 0.6], list, "range of the rooms' reverberation times RT60 by Sabine's formula (s; "
                                          "their image-source responses measure ~1.4x longer)"),
        "noise": Param(0.0, float, "share with noise added at the microphone"),
        "snr_db": Param([20, 10, 5], list, "signal-to-noise ratios (dB) drawn from"),
        "colours": Param(["white", "pink", "brown"], list, "noise colours drawn from"),
        "telephone": Param(0.0, float, "share through a telephone channel (8 kHz, 300-3400 Hz, G.711 mu-law)"),
        "level": Param(0.0, float, "share recorded at another level"),
        "level_db": Param([-25.0, -3.0], list, "range of those levels (dB against the normal peak)"),
    }),
    "demo_rate_jitter": Param(0.15, float, "demo: relative speaking-rate variation per utterance"),
    "demo_pitch_jitter": Param(8, int, "demo: pitch variation per utterance"),
    "demo_min_words": Param(5, int, "demo: shortest sentence in words"),
    "demo_max_words": Param(16, int, "demo: longest sentence in words"),
    "folder": Param("", str, "folder: directory of recordings (wav/flac/mp3/ogg, any rate, mono or stereo)"),
    "transcripts": Param("", str, "folder: optional TSV 'relative/path<TAB>words' (else name.txt beside audio)"),
    "on_bad": Param("skip", str, "folder: a bad file is logged and skipped, or fails the stage", ("skip", "fail")),
    "max_utterance_s": Param(30.0, float, "folder: a longer recording is cut into utterances at pauses, each with its "
                                          "diarized speaker (0: never cut)"),
    "n_speakers": Param(0, int, "folder: speakers in each long recording (0: estimated by the diarization)"),
    "text_file": Param("", str, "folder: unpaired text, a UTF-8 file of sentences one per line (training needs it)"),
    "valid_fraction": Param(0.1, float, "folder/librispeech: fraction of utterances held out for validation"),
    "test_fraction": Param(0.1, float, "folder: fraction of utterances held out for testing"),
    "librispeech_url": Param("https://www.openslr.org/resources/12", str, "librispeech: base URL of SLR12"),
    "librispeech_train": Param(["dev-clean"], list, "librispeech: subsets for train (+ valid)"),
    "librispeech_test": Param(["test-clean"], list, "librispeech: subsets for test"),
    "librispeech_text": Param(["train-clean-100"], list, "librispeech: subsets whose transcripts are the unpaired text"),
    "librispeech_checksums": Param({}, dict, "librispeech: sha256 per subset archive, added to the built-in ones"),
    "max_utterances": Param(0, int, "librispeech: at most this many utterances per split (0 for all)"),
    "cache_dir": Param(".cache/downloads", str, "where downloaded archives are kept across profiles"),
    "phone_language": Param("en-us", str, "espeak-ng language of the reference phones"),
}


def _write_reference_phones(out_dir: Path, language: str) -> None:
    """``{split}.phn`` from ``{split}.wrd`` by espeak-ng look-up of every word (references for scoring)."""
    mdir = out_dir / "manifests"
    splits = {s: manifest.read(mdir, s, check_files=False) for s in manifest.SPLITS if (mdir / f"{s}.tsv").is_file()}
    words = {w for m in splits.values() if m.words for line in m.words for w in line.split()}
    if not words:
        return
    lexicon = phonemize.phonemize_words(words, language)
    for split, m in splits.items():
        if m.words is None:
            continue
        phones = []
        for line in m.words:
            seq = phonemize.sentence_phones(line.split(), lexicon)
            phones.append(" ".join(seq) if seq else "")
        m.phones = phones
        manifest.write(mdir, split, m)


def summarize(out_dir: Path) -> dict:
    """Counts of the prepared corpus: utterances, hours and speakers per split, text sentences."""
    mdir = out_dir / "manifests"
    splits, speakers = {}, set()
    total_samples = 0
    for split in manifest.SPLITS:
        if not (mdir / f"{split}.tsv").is_file():
            continue
        m = manifest.read(mdir, split)
        speakers.update(m.speakers or [])
        total_samples += m.total_samples
        splits[split] = {"utterances": len(m), "hours": m.total_samples / TARGET_SR / 3600,
                         "speakers": len(set(m.speakers or []))}
    text = out_dir / "text" / "corpus.txt"
    n_text = sum(1 for line in text.read_text(encoding="utf-8").splitlines() if line.strip()) if text.is_file() else 0
    return {"splits": splits, "n_utterances": sum(s["utterances"] for s in splits.values()),
            "hours": total_samples / TARGET_SR / 3600, "n_speakers": len(speakers), "n_text_sentences": n_text}


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    log.info("01_data: building the %s corpus in %s", p["source"], out_dir)
    extra = SOURCES[p["source"]].build(p, out_dir)
    _write_reference_phones(out_dir, p["phone_language"])
    return {**summarize(out_dir), **{k: v for k, v in extra.items() if k not in ("n_text_sentences",)}}


VOICE_PARAMS = ("demo_unseen_voices", "demo_n_test_unseen", "demo_rooms")  # at their defaults: the corpus as before

STAGE = stage.StageDef(KEY, needs=(), name=lambda p: p["source"],
                       report_only=stage.left_out_as_before({k: PARAMS[k].default for k in VOICE_PARAMS}),
                       hashed=lambda p: {
    "resolved_voices": [v.name for v in demo.resolve_voices(p)] if p["source"] == "demo" else []},
    content=lambda p: folder.content(p) if p["source"] == "folder" else None)


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/01_data/<source>-<hash>``."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Build the corpus for parameters ``p`` (skipped when already done); return its record."""
    def describe(p, records, out_dir, summary):
        extra = out_dir / "text" / "extra.txt"
        return {"manifests": str(out_dir / "manifests"), "text": str(out_dir / "text" / "corpus.txt"),
                "extra_text": str(extra) if extra.is_file() else None, "source": p["source"]}

    return STAGE.run(p, _compute, describe)


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "n_utterances": ("utterances (train + valid + test)", PLAIN),
    "hours": ("hours of audio", PLAIN),
    "n_text_sentences": ("unpaired text sentences", PLAIN),
    "n_speakers": ("speakers (voices)", PLAIN),
}

def metrics(summary: dict) -> dict:
    """The stage's metrics: utterances, hours, text sentences, speakers."""
    return {"n_utterances": summary["n_utterances"], "hours": round(summary["hours"], 4),
            "n_text_sentences": summary["n_text_sentences"], "n_speakers": summary["n_speakers"]}


def sample_player(record: dict, split: str = "test", index: int = 0):
    """An audio player for one utterance, titled with its transcript (per-utterance: tag the cell ``phi``)."""
    from IPython.display import Audio, Markdown, display

    from ..io import audio as audio_io

    m = manifest.read(Path(record["manifests"]), split)
    if not len(m):
        return Markdown(f"*the {split} split is empty*")
    x, sr = audio_io.read(m.audio_path(index))
    words = m.words[index] if m.words else "(no transcript)"
    display(Markdown(f"**{m.paths[index]}**: {words}"))
    return Audio(x, rate=sr)
