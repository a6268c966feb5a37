"""Stage 02, audio preparation: rVAD speech intervals and silence removal, the same for every split.

Inputs: the 01_data manifests. Outputs in ``<data_root>/<profile>/02_audio_prep/vad-<hash>/``:
``{split}.vads`` (speech intervals ``start:end`` in samples of the original audio, one line per
utterance), ``audio/`` (speech intervals concatenated, 16 kHz FLAC) and ``manifests/{split}.tsv`` with
the ``.wrd``/``.phn``/``.spk`` of 01. Test audio gets exactly the same treatment as train audio.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.metric_labels import PCT
from ..core import registry, stage
from ..core.params import Param
from ..features.vad import DEFAULTS as VAD
from ..features.vad import Detector, speech_only
from ..io import audio, manifest

log = logging.getLogger(__name__)

KEY = "audio_prep"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "vad": Param(VAD["vad"], bool, "remove silence with rVAD; off keeps the audio as it is"),
    "vad_threshold": Param(VAD["vad_threshold"], float, "rVAD decision threshold"),
    "vad_window_ms": Param(VAD["vad_window_ms"], float, "rVAD analysis window in ms"),
    "vad_shift_ms": Param(VAD["vad_shift_ms"], float, "rVAD frame shift in ms"),
    "min_speech_fraction": Param(VAD["min_speech_fraction"], float,
                                 "below this detected speech fraction an utterance is kept whole"),
    "chunk_size": Param(200, int, "utterances per resumable chunk"),
}


def _process_split(p: dict, m: manifest.Manifest, out_dir: Path, split: str) -> tuple[list, list]:
    detect = Detector(p)
    audio_dir = out_dir / "audio"

    def work(indices):
        flat, counts, kept = [], [], []
        for i in indices:
            x, _ = audio.read(m.audio_path(i))
            intervals = detect(x)
            speech = speech_only(x, intervals)
            audio.write((audio_dir / m.paths[i]).with_suffix(".flac"), speech)
            flat.extend(v for ab in intervals for v in ab)
            counts.append(len(intervals))
            kept.append(len(speech))
        return {"intervals": np.array(flat, dtype=np.int64), "counts": np.array(counts, dtype=np.int64),
                "kept": np.array(kept, dtype=np.int64)}

    parts = stage.process_in_chunks(list(range(len(m))), p["chunk_size"], out_dir / "parts" / split, work,
                                    f"VAD {split}")
    intervals, kept = [], []
    for path in parts:
        with np.load(path) as z:
            flat, counts = z["intervals"].reshape(-1, 2), z["counts"]
            kept.extend(int(k) for k in z["kept"])
        offsets = np.concatenate([[0], np.cumsum(counts)])
        intervals.extend([tuple(map(int, ab)) for ab in flat[offsets[j]:offsets[j + 1]]] for j in range(len(counts)))
    return intervals, kept


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    src = Path(records["data"]["manifests"])
    summary = {}
    for split in manifest.SPLITS:
        if not (src / f"{split}.tsv").is_file():
            continue
        m = manifest.read(src, split)
        intervals, kept = _process_split(p, m, out_dir, split)
        manifest.write_vads(out_dir / f"{split}.vads", intervals)
        trimmed = manifest.Manifest((out_dir / "audio").resolve(), [str(Path(q).with_suffix(".flac")) for q in m.paths],
                                    kept, m.words, m.phones, m.speakers)
        manifest.write(out_dir / "manifests", split, trimmed)
        summary[split] = {"utterances": len(m), "samples_in": m.total_samples, "samples_kept": int(sum(kept))}
        log.info("02_audio_prep %s: kept %.1f%% of %d utterances", split, 100 * sum(kept) / max(m.total_samples, 1),
                 len(m))
    total_in = sum(s["samples_in"] for s in summary.values())
    summary["speech_fraction"] = sum(s["samples_kept"] for s in summary.values()) / max(total_in, 1)
    return summary


STAGE = stage.StageDef(KEY, needs=("data",), name=lambda p: "vad" if p["vad"] else "novad")


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/02_audio_prep/vad-<hash>`` (``novad`` when VAD is off)."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """VAD and silence removal of every split of the 01_data corpus; skipped when already done."""
    return STAGE.run(p, _compute, lambda p, r, out_dir, s: {
        "manifests": str(out_dir / "manifests"), "text": r["data"]["text"], "data_dir": r["data"]["dir"]})


LABELS = {"speech_fraction": ("audio kept as speech by the VAD", PCT)}  # this stage's metrics (metrics())

def metrics(summary: dict) -> dict:
    """``speech_fraction``: kept samples over all samples, every split."""
    return {"speech_fraction": round(summary["speech_fraction"], 4)}
