"""The embedded demo corpus: real English sentences spoken by several synthetic voices, made offline.

Sentences: the usage examples of WordNet 3.0 (Debian package ``wordnet-base``, Princeton's WordNet
3.0 licence: use, copy and distribution permitted with its notice). About 34,000 distinct examples
such as "he dealt the cards face down". They are cleaned, deduplicated, shuffled with the seed and
cut into disjoint sets: the audio sentences (train/valid/test) and the unpaired text corpus.

Voices: nine espeak-ng en-us voice variants by default, each utterance with a randomly varied rate and
pitch. Other voices can be chosen with ``demo_voices``: espeak-ng's British, Scottish and Caribbean accents,
flite's (kal16, slt, rms, awb), Festival's (kal, ked, slt-hts) and a Piper neural voice (joe); the engines are in
:mod:`aitranscribe.sources.voices`. flite and Festival pronounce words after CMUdict while the reference phones
follow espeak-ng, which caps the reachable PER (measured: a supervised probe had 50-62% PER on flite utterances
against 22-45% on espeak-ng ones). ``demo_unseen_voices`` speak ``demo_n_test_unseen`` test utterances and nothing
else (voices never heard in train); ``demo_rooms`` puts a share of utterances in rooms, noise, a telephone channel
or another level (:mod:`aitranscribe.sources.acoustics`). Voices, engines, held-out voices and conditions are
recorded in ``corpus.json`` (report-only). Everything is resampled to 16 kHz mono FLAC. The same seed gives the
same sentences, voices, conditions and audio.
"""
from __future__ import annotations

import logging
import random
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from ..io import audio as audio_io
from . import acoustics
from . import voices as engines
from ..core.errors import KitError
from ..io.manifest import Manifest
from ..io.manifest import write as write_manifest
from ..core.files import atomic_write_text
from ..text.normalize import normalize_words

log = logging.getLogger(__name__)

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_CLEAN = re.compile(r"^[A-Za-z][A-Za-z' ,;:!?.-]*$")


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: engine, voice name, base rate (espeak words/min) and pitch (espeak 0-99, flite Hz)."""

    name: str
    engine: str
    voice: str
    rate: int = 160
    pitch: int = 50


VOICES = (
    Voice("espeak-us-m1", "espeak-ng", "en-us+m1", 165, 45),
    Voice("espeak-us-m2", "espeak-ng", "en-us+m2", 150, 40),
    Voice("espeak-us-m3", "espeak-ng", "en-us+m3", 155, 35),
    Voice("espeak-us-m4", "espeak-ng", "en-us+m4", 170, 50),
    Voice("espeak-us-f1", "espeak-ng", "en-us+f1", 160, 60),
    Voice("espeak-us-f2", "espeak-ng", "en-us+f2", 160, 65),
    Voice("espeak-us-f3", "espeak-ng", "en-us+f3", 150, 55),
    Voice("espeak-us-f4", "espeak-ng", "en-us+f4", 165, 60),
    Voice("espeak-us-klatt", "espeak-ng", "en-us+klatt", 155, 50),
    Voice("flite-kal16", "flite", "kal16", pitch=105),
    Voice("flite-slt", "flite", "slt", pitch=170),
    Voice("flite-rms", "flite", "rms", pitch=100),
    Voice("flite-awb", "flite", "awb", pitch=115),
    Voice("espeak-gb-rp-m3", "espeak-ng", "en-gb-x-rp+m3", 155, 40),
    Voice("espeak-scotland-f3", "espeak-ng", "en-gb-scotland+f3", 150, 55),
    Voice("espeak-caribbean-m2", "espeak-ng", "en-029+m2", 150, 45),
    Voice("festival-kal", "festival", "kal_diphone", pitch=105),
    Voice("festival-ked", "festival", "ked_diphone", pitch=105),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", pitch=170),
    Voice("piper-joe", "piper", "en_US-joe-medium"),
)


def wordnet_sentences(min_words: int = 5, max_words: int = 16) -> list[str]:
    """Distinct, cleaned WordNet usage examples of ``min_words``..``max_words`` words, sorted."""
    missing = [f for f in WORDNET_FILES if not (WORDNET_DIR / f).is_file()]
    if missing:
        raise KitError(f"WordNet data not found in {WORDNET_DIR} ({missing}): run `bash run_all.sh` "
                       f"(it installs it) or `sudo apt-get install wordnet-base`")
    seen, out = set(), []
    for name in WORDNET_FILES:
        for line in (WORDNET_DIR / name).read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            for example in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                example = example.strip()
                if not _CLEAN.match(example) or re.search(r"\b[A-Z]\.", example):
                    continue  # digits, abbreviations, symbols: keep the demo's speech unambiguous
                words = normalize_words(example)
                key = " ".join(words)
                if min_words <= len(words) <= max_words and key not in seen:
                    seen.add(key)
                    out.append(example)
    return sorted(out)


def wordnet_glosses(min_words: int = 3) -> list[str]:
    """WordNet's definitions (glosses), each part between semicolons a sentence of at least ``min_words`` words,
    distinct, sorted: other English text from the same package, never the usage examples (those are in quotes)."""
    seen, out = set(), []
    for name in WORDNET_FILES:
        for line in (WORDNET_DIR / name).read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            gloss = re.sub(r'"[^"]*"', " ", line.split("|", 1)[1])
            for part in gloss.split(";"):
                part = part.strip()
                key = " ".join(normalize_words(part))
                if len(key.split()) >= min_words and key not in seen:
                    seen.add(key)
                    out.append(part)
    return sorted(out)


def split_sentences(sentences: list[str], n_audio: int, n_text: int, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle with ``seed`` and cut into disjoint audio and text sentences (``n_text`` 0 = all the rest)."""
    order = list(sentences)
    random.Random(seed).shuffle(order)
    if n_audio + max(n_text, 1) > len(order):
        raise KitError(f"the demo asks for {n_audio} audio + {n_text} text sentences, "
                       f"but WordNet has only {len(order)} usable ones")
    audio = order[:n_audio]
    text = order[n_audio:] if n_text == 0 else order[n_audio:n_audio + n_text]
    audio_keys = {" ".join(normalize_words(s)) for s in audio}
    overlap = audio_keys & {" ".join(normalize_words(s)) for s in text}
    assert not overlap, f"audio and text sentences overlap: {sorted(overlap)[:3]}"
    return audio, text


def synthesize(voice: Voice, sentence: str, rate_scale: float, pitch_shift: int) -> np.ndarray:
    """16 kHz mono float32 speech of ``sentence`` by ``voice`` (rate scaled, pitch shifted: espeak-ng units, or
    twice that in Hz for flite and Festival; :func:`aitranscribe.sources.voices.speak`)."""
    pitch = voice.pitch + (pitch_shift if voice.engine == "espeak-ng" else 2 * pitch_shift)
    return engines.speak(voice.engine, voice.voice, sentence, rate_scale, pitch, voice.rate)


def conversation(voices: list[Voice], sentences: list[str], seed: int, turn_sentences: tuple[int, int] = (1, 3),
                 gap_s: tuple[float, float] = (0.3, 0.8), noise: float = 1e-3) -> tuple[np.ndarray, list[tuple]]:
    """A synthetic session: ``sentences`` spoken in order by ``voices`` taking turns in order (each turn
    ``turn_sentences`` sentences, drawn uniformly), ``gap_s`` seconds of pause (drawn uniformly) before each
    sentence, light noise. Returns 16 kHz mono float32 audio and the reference ``(start_s, end_s, voice name,
    sentence)`` of every sentence."""
    rng = random.Random(seed)
    pieces, reference, t, k, voice = [], [], 0, 0, 0
    while k < len(sentences):
        for _ in range(rng.randint(*turn_sentences)):
            if k == len(sentences):
                break
            x = synthesize(voices[voice], sentences[k], rng.uniform(0.9, 1.1), rng.randint(-4, 4))
            loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
            x = x[loud[0]:loud[-1] + 1]  # without espeak's leading and trailing silence
            gap = np.zeros(int(rng.uniform(*gap_s) * audio_io.TARGET_SR), np.float32)
            pieces += [gap, 0.8 * x / np.abs(x).max()]
            t += len(gap)
            reference.append((t / audio_io.TARGET_SR, (t + len(x)) / audio_io.TARGET_SR, voices[voice].name,
                              sentences[k]))
            t += len(x)
            k += 1
        voice = (voice + 1) % len(voices)
    pieces.append(np.zeros(audio_io.TARGET_SR // 2, np.float32))
    y = np.concatenate(pieces)
    return (y + noise * np.random.default_rng(seed).standard_normal(len(y))).astype(np.float32), reference


def resolve_voices(p: dict) -> list[Voice]:
    """The voices named by ``demo_voices``, or the nine espeak-ng en-us voices when it is empty."""
    unknown = set(p["demo_voices"]) - {v.name for v in VOICES}
    if unknown:
        raise KitError(f"unknown demo voice(s) {sorted(unknown)}; available: {[v.name for v in VOICES]}")
    if p["demo_voices"]:
        return [v for v in VOICES if v.name in p["demo_voices"]]
    return [v for v in VOICES if v.engine == "espeak-ng" and v.voice.startswith("en-us")]


def build(p: dict, out_dir: Path) -> dict:
    """Synthesize the demo corpus into ``out_dir`` (audio/, manifests/, text/corpus.txt); return statistics.

    ``p``: seed, demo_n_train, demo_n_valid, demo_n_test, demo_n_text, demo_glosses (WordNet's definitions in
    ``text/extra.txt``: text for the lexicon and the word LM only),
    demo_voices (names, [] = all), demo_unseen_voices and demo_n_test_unseen (held-out voices: test only),
    demo_rooms (shares of rooms, noise, telephone, levels: :mod:`.acoustics`),
    demo_rate_jitter (relative), demo_pitch_jitter (espeak pitch units), demo_min_words, demo_max_words.
    """
    voices = resolve_voices(p)
    engines.check_unseen([v.name for v in voices], p["demo_unseen_voices"], p["demo_n_test"], p["demo_n_test_unseen"])
    unseen = [v for v in voices if v.name in p["demo_unseen_voices"]]
    seen = [v for v in voices if v not in unseen]
    sizes = {"train": p["demo_n_train"], "valid": p["demo_n_valid"], "test": p["demo_n_test"]}
    sentences = wordnet_sentences(p["demo_min_words"], p["demo_max_words"])
    audio_sentences, text_sentences = split_sentences(sentences, sum(sizes.values()), p["demo_n_text"], p["seed"])
    log.info("demo corpus: %d audio sentences, %d text sentences, %d voices (seed %d)",
             len(audio_sentences), len(text_sentences), len(voices), p["seed"])

    rng = random.Random(p["seed"] + 1)
    jobs = []
    for i, sentence in enumerate(audio_sentences):
        voice = seen[rng.randrange(len(seen))]
        rate = 1.0 + rng.uniform(-p["demo_rate_jitter"], p["demo_rate_jitter"])
        pitch = rng.randint(-p["demo_pitch_jitter"], p["demo_pitch_jitter"])
        jobs.append((i, sentence, voice, rate, pitch))
    jobs = engines.hold_out(jobs, len(jobs) - sizes["test"], unseen, p["demo_n_test_unseen"], p["seed"])
    conditions = acoustics.plan(len(jobs), p["demo_rooms"], p["seed"])

    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)

    def make(job):
        i, sentence, voice, rate, pitch = job
        path = audio_dir / voice.name / f"{voice.name}-{i:06d}.flac"
        if path.is_file():  # resume: a file exists only once fully written (atomic rename)
            return sf.info(str(path)).frames
        path.parent.mkdir(exist_ok=True)
        samples = synthesize(voice, sentence, rate, pitch)
        samples = 0.9 * samples / max(float(np.abs(samples).max()), 1e-6)
        samples = acoustics.apply(samples, conditions[i])  # a room, noise, a telephone line, a level (or none)
        audio_io.write(path, samples)
        return len(samples)

    with ThreadPoolExecutor(max_workers=2) as pool:
        frames = list(tqdm(pool.map(make, jobs), total=len(jobs), desc="synthesizing demo speech", unit="utt"))

    start, utterances = 0, {}
    for split, n in sizes.items():
        chunk = jobs[start:start + n]
        counts = frames[start:start + n]
        start += n
        write_manifest(out_dir / "manifests", split, Manifest(
            root=audio_dir.resolve(),
            paths=[f"{v.name}/{v.name}-{i:06d}.flac" for i, _, v, _, _ in chunk],
            n_samples=counts,
            words=[" ".join(normalize_words(s)) for _, s, _, _, _ in chunk],
            speakers=[v.name for _, _, v, _, _ in chunk],
        ))
        utterances[split] = [{"voice": v.name, "engine": v.engine, "rate": round(rate, 4), "pitch": pitch,
                              **(conditions[i] or {})} for i, _, v, rate, pitch in chunk]
    engines.write_metadata(out_dir, utterances, voices, [v.name for v in unseen])
    atomic_write_text(out_dir / "text" / "corpus.txt", "".join(f"{s}\n" for s in text_sentences))
    if p["demo_glosses"]:
        spoken = {" ".join(normalize_words(s)) for s in audio_sentences}
        glosses = [g for g in wordnet_glosses() if " ".join(normalize_words(g)) not in spoken]
        log.info("demo text: %d WordNet glosses for the lexicon and the word LM", len(glosses))
        atomic_write_text(out_dir / "text" / "extra.txt", "".join(f"{g}\n" for g in glosses))
    return {"n_text_sentences": len(text_sentences), "voices": [v.name for v in voices],
            "held_out_voices": [v.name for v in unseen],
            "engines": dict(sorted(Counter(v.engine for _, _, v, _, _ in jobs).items()))}
