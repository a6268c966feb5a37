"""Frame features of audio and the train-fitted segment pipeline applied to new audio.

:class:`FrameExtractor`: MFCC (optionally speaker-normalised) or a wav2vec 2.0 layer, with each frame's place in
time (``shift``/``window`` in samples). :func:`segment_frames`: one utterance's frames through k-means units, PCA,
merged runs and mean pooling. :class:`TrainedTransform`: stage 03's fitted pipeline (speaker normalisation,
centroids, PCA) read back from its output directory, for audio the stage never saw (never refitted).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import KitError
from ..core.files import read_json
from ..core.paths import resolve
from ..core.stage import done_params
from . import mfcc, speaker_norm, units
from ..io.audio import TARGET_SR

NORM_FILE = "speaker_norm.npz"
SPEAKERS_FILE = "speakers.json"  # stage 03's speaker of every utterance (voice cluster or metadata name) and how
CALIBRATED_DIR = "calibrated-wav2vec2"  # stage 03's calibrated wav2vec 2.0 model, when its arm needs one


class FrameExtractor:
    """Frame features of 16 kHz audio; ``shift``/``window`` in samples give each frame's place in time.

    ``norm`` (MFCC only) normalises each speaker's frames; a speaker it has not seen is adapted on the utterance.
    ``backend`` (wav2vec 2.0 only): the arm of :mod:`.wav2vec2_backends` that runs the model (fp32 by default), on
    the process's torch thread count; a calibrated arm (``CALIBRATED``) is read from ``saved``, the folder stage 03
    wrote it to.
    """

    def __init__(self, p: dict, norm: speaker_norm.SpeakerNorm | None = None, backend: str = "fp32", saved=None):
        self.kind = p["kind"]
        self.norm = norm
        self.backend = backend
        self.runner = None
        if self.kind != "mfcc" and p.get("speaker_norm", "none") != "none":
            raise KitError(f"speaker_norm={p['speaker_norm']!r} applies to MFCC features only, not {self.kind}: "
                           "set speaker_norm to 'none'")
        if self.kind == "mfcc":
            self.context = p["mfcc_context"]
            self.shift, self.window, self.dim = mfcc.SHIFT, mfcc.WINDOW, mfcc.dim(13, self.context)
            self.model = None
        else:
            from . import wav2vec2

            if not p["checkpoint"]:
                raise KitError("features=wav2vec2 needs the parameter 'checkpoint' (a fairseq wav2vec 2.0 .pt file)")
            self.layer = p["layer"]
            self.model = wav2vec2.load_wav2vec2(resolve(p["checkpoint"]), layer=self.layer)
            conv = self.model.settings.conv_layers
            self.shift = int(np.prod([stride for _, _, stride in conv]))
            self.window = 1
            for _, kernel, stride in reversed(conv):
                self.window = (self.window - 1) * stride + kernel
            self.dim = self.model.settings.encoder_embed_dim
            if backend != "fp32":
                import torch

                from .wav2vec2 import backends as wav2vec2_backends

                threads = torch.get_num_threads()
                if backend in wav2vec2_backends.CALIBRATED:
                    if saved is None:
                        raise KitError(f"feature backend {backend} is calibrated on data: it needs the folder "
                                       f"stage 03 saved it in")
                    self.runner = wav2vec2_backends.load_calibrated(backend, saved, threads)
                else:
                    example = np.random.default_rng(0).standard_normal((1, TARGET_SR)).astype(np.float32)
                    self.runner = wav2vec2_backends.make(backend, self.model, self.layer, [0.1 * example], threads)

    def __call__(self, x: np.ndarray, speaker: str | None = None) -> np.ndarray:
        if self.model is None:
            if self.norm is not None:
                return self.norm(x, speaker, self.context)
            return mfcc.mfcc_features(x, context=self.context)
        import torch

        from . import wav2vec2

        if self.runner is None or self.model.num_frames(len(x)) < 1:  # (extract names a too-short waveform)
            with torch.inference_mode():
                return wav2vec2.extract(self.model, x, self.layer).numpy().astype(np.float32)
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
        return self.runner(wav)[0].numpy().astype(np.float32)


def segment_frames(frames: np.ndarray, centroids: np.ndarray, A: np.ndarray, b: np.ndarray, pool_rate: float) -> dict:
    """One utterance's frames -> cluster ids, PCA projection, merged runs and pooled segments (with frame bounds)."""
    ids = units.assign(frames, centroids)
    projected = np.asarray(frames, dtype=np.float32) @ A + b
    merged, merged_bounds = units.merge_runs(projected, ids)
    pooled, pooled_bounds = units.mean_pool(merged, merged_bounds, pool_rate)
    return {"frames": frames, "ids": ids, "projected": projected, "merged": merged, "merged_bounds": merged_bounds,
            "pooled": pooled, "pooled_bounds": pooled_bounds}


class TrainedTransform:
    """The train-fitted feature pipeline of a 03_features run, for new audio (never refitted)."""

    def __init__(self, record: dict):
        self.params = done_params(record["dir"])
        norm_path = Path(record["dir"]) / NORM_FILE
        summary = read_json(Path(record["dir"]) / "summary.json") if (Path(record["dir"]) / "summary.json").is_file() else {}
        backend = (summary.get("feature_backend") or {}).get("arm", "fp32")  # the arm stage 03 extracted with
        self.extractor = FrameExtractor(self.params, speaker_norm.SpeakerNorm.load(norm_path) if norm_path.is_file() else None,
                                        backend, Path(record["dir"]) / CALIBRATED_DIR)
        self.centroids = np.load(Path(record["centroids"]) / "centroids.npy")
        pca_dir = Path(record["dir"]) / "pca"
        dim = min(self.params["pca_dim"], self.extractor.dim)
        self.A = np.load(pca_dir / f"{dim}_pca_A.npy")
        self.b = np.load(pca_dir / f"{dim}_pca_b.npy")

    def __call__(self, x: np.ndarray, speaker: str | None = None) -> dict:
        """16 kHz speech (silence already removed) of ``speaker`` -> the dict of :func:`segment_frames`."""
        return segment_frames(self.extractor(x, speaker), self.centroids, self.A, self.b, self.params["pool_rate"])

    def model_input(self, frames: np.ndarray, kind: str) -> np.ndarray:
        """One utterance's input of a model reading stage 03's output ``kind`` from its ``frames``
        (:attr:`extractor`'s output): the frames themselves (``"frames"``) or its pooled segments (``"segments"``)."""
        if kind == "frames":
            return np.asarray(frames, dtype=np.float32)
        if kind == "segments":
            return segment_frames(frames, self.centroids, self.A, self.b, self.params["pool_rate"])["pooled"]
        raise ValueError(f"unknown model input {kind!r}: frames or segments")
