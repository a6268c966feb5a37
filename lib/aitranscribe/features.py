"""Stage 03, features: frame features, k-means units, PCA, merged and pooled segments in fairseq's layout.

Inputs: the 02_audio_prep manifests. Outputs in ``<data_root>/<profile>/03_features/<kind>-<hash>/``:
``{split}.npy``/``.lengths`` (frame features), ``speaker_norm.npz`` (with ``speaker_norm``), ``CLUS{K}/`` (centroids, ``{split}.src``), ``pca/``,
``precompute_pca{D}/``, ``precompute_pca{D}_cls{K}_mean/`` and ``precompute_pca{D}_cls{K}_mean_pooled/``
(the GAN input, with ``{split}.bounds.npy`` mapping every segment to its frames). Each precompute
directory also holds the split's ``.tsv``/``.wrd``/``.phn`` as fairseq's own scripts leave them.
k-means and PCA are fitted on train only and applied to every split.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import audio_io, manifest, mfcc, segments, speaker_norm, stage
from .errors import KitError
from .params import Param, params_hash
from .paths import profile_data_dir, resolve

log = logging.getLogger(__name__)

KEY = "features"
NOTEBOOK = "03_features"
NORM_FILE = "speaker_norm.npz"

PARAMS = {
    "features": Param("mfcc", str, "frame features: hand-crafted MFCC or a wav2vec 2.0 checkpoint", ("mfcc", "wav2vec2")),
    "mfcc_context": Param(2, int, "mfcc: frames stacked on each side"),
    "speaker_norm": Param("none", str, "mfcc: label-free per-speaker normalisation, see speaker_norm.py",
                          speaker_norm.METHODS),
    "speaker_norm_utterances": Param(200, int, "mfcc: at most this many utterances per speaker fit its normalisation"),
    "checkpoint": Param("", str, "wav2vec2: path of a fairseq wav2vec 2.0 checkpoint .pt"),
    "layer": Param(14, int, "wav2vec2: transformer block index, 0-based as in fairseq"),
    "n_clusters": Param(128, int, "k-means clusters"),
    "kmeans_max_frames": Param(200000, int, "k-means trains on at most this many train frames, 0 for all"),
    "kmeans_niter": Param(20, int, "k-means iterations, 50 in fairseq"),
    "kmeans_nredo": Param(1, int, "k-means restarts, 3 in fairseq"),
    "pca_dim": Param(512, int, "PCA dimension, clipped to the feature dimension"),
    "pool_rate": Param(0.5, float, "mean pooling keeps this fraction of merged segments"),
    "chunk_size": Param(200, int, "utterances per resumable chunk"),
    "probe_epochs": Param(10, int, "epochs of the supervised CTC probe, report-only; 0 skips it"),
}


def stage_hash(p: dict, prep_record: dict) -> str:
    """Hash of the parameters (the probe's left out: it is report-only) and of the input stage."""
    return params_hash({**p, "input": prep_record["params_hash"]}, report_only=("probe_epochs",))


def output_dir(p: dict, prep_record: dict) -> Path:
    """``<data_root>/<profile>/03_features/<kind>-<hash of parameters and input>``."""
    tag = p["features"] if p["features"] == "mfcc" else f"w2v-l{p['layer']}"
    return profile_data_dir(p) / NOTEBOOK / f"{tag}-{stage_hash(p, prep_record)}"


class FrameExtractor:
    """Frame features of 16 kHz audio; ``shift``/``window`` in samples give each frame's place in time.

    ``norm`` (MFCC only) normalises each speaker's frames; a speaker it has not seen is adapted on the utterance.
    """

    def __init__(self, p: dict, norm: speaker_norm.SpeakerNorm | None = None):
        self.kind = p["features"]
        self.norm = norm
        if self.kind != "mfcc" and p.get("speaker_norm", "none") != "none":
            raise KitError(f"speaker_norm={p['speaker_norm']!r} applies to MFCC features only, not {self.kind}")
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

    def __call__(self, x: np.ndarray, speaker: str | None = None) -> np.ndarray:
        if self.model is None:
            if self.norm is not None:
                return self.norm(x, speaker, self.context)
            return mfcc.mfcc_features(x, context=self.context)
        import torch

        from . import wav2vec2

        with torch.inference_mode():
            return wav2vec2.extract(self.model, x, self.layer).numpy().astype(np.float32)


def segment_frames(frames: np.ndarray, centroids: np.ndarray, A: np.ndarray, b: np.ndarray, pool_rate: float) -> dict:
    """One utterance's frames -> cluster ids, PCA projection, merged runs and pooled segments (with frame bounds)."""
    ids = segments.assign(frames, centroids)
    projected = np.asarray(frames, dtype=np.float32) @ A + b
    merged, merged_bounds = segments.merge_runs(projected, ids)
    pooled, pooled_bounds = segments.mean_pool(merged, merged_bounds, pool_rate)
    return {"frames": frames, "ids": ids, "projected": projected, "merged": merged, "merged_bounds": merged_bounds,
            "pooled": pooled, "pooled_bounds": pooled_bounds}


class TrainedTransform:
    """The train-fitted feature pipeline of a 03_features run, for new audio (never refitted)."""

    def __init__(self, record: dict):
        marker = json.loads((Path(record["dir"]) / stage.DONE).read_text())
        self.params = marker["params"]
        norm_path = Path(record["dir"]) / NORM_FILE
        self.extractor = FrameExtractor(self.params, speaker_norm.SpeakerNorm.load(norm_path) if norm_path.is_file() else None)
        self.centroids = np.load(Path(record["centroids"]) / "centroids.npy")
        pca_dir = Path(record["dir"]) / "pca"
        dim = min(self.params["pca_dim"], self.extractor.dim)
        self.A = np.load(pca_dir / f"{dim}_pca_A.npy")
        self.b = np.load(pca_dir / f"{dim}_pca_b.npy")

    def __call__(self, x: np.ndarray, speaker: str | None = None) -> dict:
        """16 kHz speech (silence already removed) of ``speaker`` -> the dict of :func:`segment_frames`."""
        return segment_frames(self.extractor(x, speaker), self.centroids, self.A, self.b, self.params["pool_rate"])


def _extract_split(extractor: FrameExtractor, m: manifest.Manifest, out_dir: Path, split: str, chunk: int):
    def work(indices):
        feats = [extractor(audio_io.read(m.audio_path(i))[0], m.speakers[i] if m.speakers else None) for i in indices]
        return {"feats": np.concatenate(feats), "lengths": np.array([len(f) for f in feats], dtype=np.int64)}

    parts = stage.process_in_chunks(list(range(len(m))), chunk, out_dir / "parts" / split, work,
                                    f"features {split}")
    lengths = np.concatenate([np.load(path)["lengths"] for path in parts]) if parts else np.zeros(0, np.int64)

    def rows():
        for path in parts:
            with np.load(path) as z:
                yield z["feats"]

    segments.write_features(out_dir, split, rows(), lengths=lengths)
    shutil.rmtree(out_dir / "parts" / split)


def _copy_manifest(src_dir: Path, split: str, dst_dir: Path) -> None:
    for ext in ("tsv", "wrd", "phn", "spk"):
        src = src_dir / f"{split}.{ext}"
        if src.is_file():
            stage.atomic_write_bytes(dst_dir / f"{split}.{ext}", src.read_bytes())


def run(p: dict) -> dict:
    """Extract, cluster, project, merge and pool every split; skipped when already done."""
    prep = stage.load_stage(p, "audio_prep", "02_audio_prep")
    out_dir = output_dir(p, prep)
    phash = stage_hash(p, prep)
    mdir = Path(prep["manifests"])
    splits = [s for s in manifest.SPLITS if (mdir / f"{s}.tsv").is_file()]
    if "train" not in splits:
        raise KitError(f"{mdir}: no train split; k-means and PCA are fitted on train")
    if stage.is_done(out_dir, phash):
        log.info("03_features: already done for these parameters in %s", out_dir)
        summary = json.loads((out_dir / "summary.json").read_text())
    else:
        start = time.time()
        summary = _compute(p, out_dir, mdir, splits)
        summary["seconds"] = round(time.time() - start, 1)
        stage.atomic_write_json(out_dir / "summary.json", summary)
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p, seconds=summary["seconds"])
    record = {"dir": str(out_dir), "params_hash": phash, "gan_input": summary["gan_input"],
              "merged": summary["merged"], "pca": summary["pca"], "centroids": summary["centroids"],
              "frame_shift_s": summary["frame_shift_s"], "frame_window_s": summary["frame_window_s"],
              "audio_prep_dir": prep["dir"], "kind": p["features"], "splits": splits}
    stage.record_stage(p, KEY, record)
    return record


def _speaker_audio(m: manifest.Manifest, limit: int, speakers=None) -> dict[str, list[np.ndarray]]:
    """Up to ``limit`` utterances of each speaker (of ``speakers`` when given), read from the manifest."""
    out: dict[str, list[np.ndarray]] = {}
    for i, speaker in enumerate(m.speakers):
        if (speakers is None or speaker in speakers) and len(out.setdefault(speaker, [])) < limit:
            out[speaker].append(audio_io.read(m.audio_path(i))[0])
    return {s: utts for s, utts in out.items() if utts}


def fit_speaker_norm(p: dict, out_dir: Path, mdir: Path, splits: list[str]) -> speaker_norm.SpeakerNorm | None:
    """The per-speaker normalisation: fitted on train; speakers first heard in valid/test adapted on their audio."""
    if p["speaker_norm"] == "none":
        return None
    path = out_dir / NORM_FILE
    if path.is_file():
        return speaker_norm.SpeakerNorm.load(path)
    manifests = {split: manifest.read(mdir, split) for split in splits}
    for split, m in manifests.items():
        if not m.speakers:
            raise KitError(f"{mdir / (split + '.spk')}: speaker names are needed for speaker_norm={p['speaker_norm']!r}")
    norm = speaker_norm.fit(_speaker_audio(manifests["train"], p["speaker_norm_utterances"]), p["speaker_norm"], p["seed"])
    for split, m in manifests.items():
        unseen = set(m.speakers) - set(norm.warps)
        for speaker, utts in _speaker_audio(m, p["speaker_norm_utterances"], unseen).items():
            norm.adapt(speaker, utts)
    log.info("speaker normalisation %s: %d speakers", p["speaker_norm"], len(norm.warps))
    norm.save(path)
    return norm


def _compute(p: dict, out_dir: Path, mdir: Path, splits: list[str]) -> dict:
    t0 = time.time()
    norm = fit_speaker_norm(p, out_dir, mdir, splits)
    extractor = FrameExtractor(p, norm)
    n_seconds = 0.0
    for split in splits:
        m = manifest.read(mdir, split)
        n_seconds += m.total_samples / audio_io.TARGET_SR
        if not (out_dir / f"{split}.lengths").is_file():
            _extract_split(extractor, m, out_dir, split, p["chunk_size"])
        _copy_manifest(mdir, split, out_dir)
    extract_seconds = time.time() - t0

    train, _ = segments.read_features(out_dir, "train")
    k, dim = p["n_clusters"], extractor.dim
    sample = segments.sample_rows(train, p["kmeans_max_frames"], p["seed"])
    log.info("k-means: %d clusters on %d of %d train frames (dim %d)", k, len(sample), len(train), dim)
    centroids = segments.fit_kmeans(sample, k, p["kmeans_niter"], p["kmeans_nredo"], p["seed"])
    clus = out_dir / f"CLUS{k}"
    stage.atomic_save_npy(clus / "centroids.npy", centroids)

    pca_dim = min(p["pca_dim"], dim)
    if pca_dim < p["pca_dim"]:
        log.info("PCA dimension %d clipped to the feature dimension %d", p["pca_dim"], pca_dim)
    A, b, explained = segments.fit_pca(sample, pca_dim)
    stage.atomic_save_npy(out_dir / "pca" / f"{pca_dim}_pca_A.npy", A)
    stage.atomic_save_npy(out_dir / "pca" / f"{pca_dim}_pca_b.npy", b)
    stage.atomic_save_npy(out_dir / "pca" / f"{pca_dim}_explained_variance.npy", explained)

    pca_dir = out_dir / f"precompute_pca{pca_dim}"
    merged_dir = out_dir / f"precompute_pca{pca_dim}_cls{k}_mean"
    pooled_dir = out_dir / f"precompute_pca{pca_dim}_cls{k}_mean_pooled"
    usage = np.zeros(k, dtype=np.int64)
    counts = {}
    for split in splits:
        feats, lengths = segments.read_features(out_dir, split)
        ids_lines, projected, merged, pooled, merged_bounds, pooled_bounds = [], [], [], [], [], []
        for utt in tqdm(segments.utterances(feats, lengths), total=len(lengths), desc=f"segments {split}"):
            seg = segment_frames(utt, centroids, A, b, p["pool_rate"])
            if split == "train":
                np.add.at(usage, seg["ids"], 1)
            ids_lines.append(" ".join(map(str, seg["ids"])))
            projected.append(seg["projected"])
            merged.append(seg["merged"])
            merged_bounds.append(seg["merged_bounds"])
            pooled.append(seg["pooled"])
            pooled_bounds.append(seg["pooled_bounds"])
        stage.atomic_write_text(clus / f"{split}.src", "".join(line + "\n" for line in ids_lines))
        segments.write_features(pca_dir, split, projected)
        segments.write_features(merged_dir, split, merged)
        segments.write_features(pooled_dir, split, pooled)
        stage.atomic_save_npy(merged_dir / f"{split}.bounds.npy", np.concatenate(merged_bounds).astype(np.int32))
        stage.atomic_save_npy(pooled_dir / f"{split}.bounds.npy", np.concatenate(pooled_bounds).astype(np.int32))
        for d in (pca_dir, merged_dir, pooled_dir):
            _copy_manifest(mdir, split, d)
        counts[split] = {"frames": int(lengths.sum()), "merged": int(sum(map(len, merged))),
                         "pooled": int(sum(map(len, pooled))), "utterances": len(lengths)}

    seconds_train = manifest.read(mdir, "train", check_files=False).total_samples / audio_io.TARGET_SR
    return {
        "kind": p["features"], "dim": dim, "pca_dim": pca_dim, "n_clusters": k,
        "frame_shift_s": extractor.shift / audio_io.TARGET_SR, "frame_window_s": extractor.window / audio_io.TARGET_SR,
        "segments_per_second": counts["train"]["pooled"] / max(seconds_train, 1e-9),
        "counts": counts, "cluster_usage": usage.tolist(), "explained_variance": explained[:pca_dim].tolist(),
        "audio_seconds": n_seconds, "extract_seconds": round(extract_seconds, 1),
        "gan_input": str(pooled_dir), "merged": str(merged_dir), "pca": str(pca_dir), "centroids": str(clus),
        "speaker_norm": norm.summary() if norm is not None else None,
    }


def run_probe(p: dict, record: dict) -> dict:
    """The supervised CTC probe on the GAN input (report-only, uses reference phones); cached in probe.json."""
    from . import probe

    path = Path(record["dir"]) / "probe.json"
    if p["probe_epochs"] <= 0:
        return {"per": None, "skipped": True}
    if path.is_file():
        cached = json.loads(path.read_text())
        same = cached.get("epochs") == p["probe_epochs"] and cached.get("seed") == p["seed"]
        if same and (cached.get("lr"), cached.get("batch_size")) == (probe.LEARNING_RATE, probe.BATCH_SIZE):
            return cached
    result = {**probe.train_probe(record["gan_input"], epochs=p["probe_epochs"], seed=p["seed"]), "seed": p["seed"]}
    stage.atomic_write_json(path, result)
    return result


def load_summary(record: dict) -> dict:
    """The summary.json of the stage."""
    return json.loads((Path(record["dir"]) / "summary.json").read_text())


def metrics(summary: dict, probe_result: dict) -> dict:
    """kind, dim, n_clusters, segments_per_second, seconds (compute time), probe_per (report-only)."""
    per = probe_result.get("per")
    return {"kind": summary["kind"], "dim": summary["dim"], "n_clusters": summary["n_clusters"],
            "segments_per_second": round(summary["segments_per_second"], 2), "seconds": summary["seconds"],
            "probe_per": None if per is None else round(per, 3)}
