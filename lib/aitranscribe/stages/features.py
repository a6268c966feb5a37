"""Stage 03, features: frame features, k-means units, PCA, merged and pooled segments in fairseq's layout.

Inputs: the 02_audio_prep manifests. Outputs in ``<data_root>/<profile>/03_features/<kind>-<hash>/``:
``{split}.npy``/``.lengths`` (frame features), ``speaker_norm.npz`` and ``speakers.json`` (with ``speaker_norm``: the
normalisation, and who is one speaker, voice clusters of the audio or the corpus's names), ``calibrated-wav2vec2/``
and ``.json`` (a wav2vec 2.0 arm calibrated on train audio, when one extracts), ``CLUS{K}/`` (centroids, ``{split}.src``), ``pca/``,
``precompute_pca{D}/``, ``precompute_pca{D}_cls{K}_mean/`` and ``precompute_pca{D}_cls{K}_mean_pooled/``
(the segment models' input, with ``{split}.bounds.npy`` mapping every segment to its frames). Each precompute
directory also holds the split's ``.tsv``/``.wrd``/``.phn`` as fairseq's own scripts leave them.
k-means and PCA are fitted on train only and applied to every split.

Sharded (``chunk_size`` utterances a shard, run by :mod:`aitranscribe.scale.executor`: in this process, or on Ray
workers with ``executor: ray``): frame features, then units, PCA, merging and pooling with the fitted transforms.
Not sharded: the speaker grouping and normalisation, k-means and PCA are fitted once, here, on train.
"""
from __future__ import annotations

import functools
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ..core.metric_labels import PCT, PLAIN
from ..core import machine, registry, stage
from ..core.errors import KitError
from ..core.files import atomic_save_npy, atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from ..core.params import Param
from ..core.paths import profile_data_dir, resolve
from ..features import diarize, speaker_clusters, speaker_norm, units
from ..features.wav2vec2 import backends as wav2vec2_backends
from ..features.extract import CALIBRATED_DIR, NORM_FILE, SPEAKERS_FILE, FrameExtractor, segment_frames
from ..evaluation import probe
from ..io import audio, feature_files, manifest
from ..scale import executor, shards

log = logging.getLogger(__name__)

KEY = "features"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "kind": Param("mfcc", str, "frame features: hand-crafted MFCC or a wav2vec 2.0 checkpoint", ("mfcc", "wav2vec2")),
    "mfcc_context": Param(2, int, "mfcc: frames stacked on each side"),
    "speaker_norm": Param("vtln_whiten", str, "mfcc: label-free per-speaker normalisation, see features/speaker_norm.py",
                          speaker_norm.METHODS),
    "speaker_source": Param("clusters", str, "mfcc with speaker_norm: who counts as one speaker: voice clusters of "
                                             "the audio (no labels, see features/speaker_clusters.py), or the "
                                             "corpus's speaker metadata (.spk names: an explicit opt-in)",
                            ("clusters", "metadata")),
    "speaker_max_voices": Param(speaker_clusters.MAX_VOICES, int, "speaker_source clusters: most voices the "
                                                                  "eigengap may choose"),
    "speaker_norm_utterances": Param(200, int, "mfcc: at most this many utterances per speaker fit its normalisation"),
    "checkpoint": Param("", str, "wav2vec2: path of a fairseq wav2vec 2.0 checkpoint .pt"),
    "layer": Param(14, int, "wav2vec2: transformer block index, 0-based as in fairseq"),
    "feature_backend": Param("auto", str, "wav2vec2: how the model runs: auto (the fastest arm passing the fidelity "
                                          "bar in the latest 07 benchmark on this machine, else fp32) or an arm",
                             ("auto", *wav2vec2_backends.FEATURE_BACKENDS)),
    "n_clusters": Param(128, int, "k-means clusters"),
    "kmeans_max_frames": Param(200000, int, "k-means trains on at most this many train frames, 0 for all"),
    "kmeans_niter": Param(20, int, "k-means iterations, 50 in fairseq"),
    "kmeans_nredo": Param(1, int, "k-means restarts, 3 in fairseq"),
    "pca_dim": Param(512, int, "PCA dimension, clipped to the feature dimension"),
    "pool_rate": Param(0.5, float, "mean pooling keeps this fraction of merged segments"),
    "chunk_size": Param(200, int, "utterances per resumable chunk"),
    "probe_epochs": Param(10, int, "epochs of the supervised CTC probe, report-only; 0 skips it"),
}


def extract_worker(p: dict, mdir: str, out_dir: str, backend: str = "fp32"):
    """One worker of the frame-feature shards: the extractor (speaker normalisation read from ``out_dir``; wav2vec 2.0
    run by the arm ``backend``) built once; ``process(shard)`` extracts the shard's ``(split, index)`` utterances -> ``feats`` and ``lengths`` arrays
    (a bad audio file is reported by name and left out)."""
    norm_path = Path(out_dir) / NORM_FILE
    normalised = p["speaker_norm"] != "none"
    extractor = FrameExtractor(p, speaker_norm.SpeakerNorm.load(norm_path) if normalised else None,
                               backend, Path(out_dir) / CALIBRATED_DIR)
    speakers = read_json(Path(out_dir) / SPEAKERS_FILE)["speakers"] if normalised else {}
    manifests: dict[str, manifest.Manifest] = {}

    def frames(item):
        split, i = item
        m = manifests.setdefault(split, manifest.read(mdir, split, check_files=False))
        return extractor(audio.read(m.audio_path(i))[0], speakers[split][i] if normalised else None)

    def process(shard):
        def name(item):
            m = manifests.get(item[0])
            return str(m.audio_path(item[1])) if m is not None else f"{item[0]} utterance {item[1]}"

        done, bad = shards.each(shard.items, frames, name)
        feats = [f for _, f in done]
        return {"feats": np.concatenate(feats) if feats else np.zeros((0, extractor.dim), np.float32),
                "lengths": np.array([len(f) for f in feats], dtype=np.int64)}, bad

    return process


def segment_worker(p: dict, out_dir: str, centroids: str, pca: str):
    """One worker of the segment shards: centroids and PCA read once; ``process(shard)`` takes the shard's
    ``(split, index)`` utterances of ``{split}.npy`` through :func:`segment_frames` -> ids, projected, merged and
    pooled rows with their per-utterance lengths and bounds."""
    C, A, b = np.load(centroids), np.load(pca + "_A.npy"), np.load(pca + "_b.npy")
    splits: dict[str, tuple] = {}

    def process(shard):
        split = shard.items[0][0]
        if split not in splits:
            feats, lengths = feature_files.read_features(out_dir, split)
            splits[split] = (feats, np.concatenate([[0], np.cumsum(lengths)]))
        feats, offsets = splits[split]
        segs = [segment_frames(feats[offsets[i]:offsets[i + 1]], C, A, b, p["pool_rate"]) for _, i in shard.items]
        out = {}
        for key, bounds in (("ids", None), ("projected", None), ("merged", "merged_bounds"),
                            ("pooled", "pooled_bounds")):
            out[key] = np.concatenate([s[key] for s in segs])
            out[key + "_lengths"] = np.array([len(s[key]) for s in segs], dtype=np.int64)
            if bounds:
                out[bounds] = np.concatenate([s[bounds] for s in segs]).astype(np.int32)
        return out, []

    return process


def _items(mdir: Path, splits: list[str]) -> dict[str, list[tuple[str, int]]]:
    return {split: [(split, i) for i in range(len(manifest.read(mdir, split, check_files=False)))] for split in splits}


def _plan(items: dict, size: int, directory: Path) -> dict[str, list]:
    return {split: shards.plan(its, size, directory / split, label=f"{split}/") for split, its in items.items()}


def _extract(p: dict, out_dir: Path, mdir: Path, splits: list[str], backend: str = "fp32") -> None:
    """Every split's frame features, shard by shard, then ``{split}.npy`` and ``.lengths`` (the split's marker)."""
    todo = [split for split in splits if not (out_dir / f"{split}.lengths").is_file()]
    if not todo:
        return
    planned = _plan(_items(mdir, todo), p["chunk_size"], out_dir / "parts" / "frames")
    report = executor.run([s for split in todo for s in planned[split]], extract_worker,
                          {"p": p, "mdir": str(mdir), "out_dir": str(out_dir), "backend": backend},
                          executor.Settings.of(p),
                          "frame features")
    if report.bad:
        names = "; ".join(f"{b['item']}: {b['reason']}" for b in report.bad)
        raise KitError(f"{len(report.bad)} bad audio file(s), every other utterance is done and kept: {names}. "
                       f"Replace or remove them (rerun 02_audio_prep), then rerun: only their shards are redone")
    for split in todo:
        parts = [s.output for s in planned[split]]
        lengths = np.concatenate([np.load(path)["lengths"] for path in parts]) if parts else np.zeros(0, np.int64)

        def rows(parts=parts):
            for path in parts:
                with np.load(path) as z:
                    yield z["feats"]

        feature_files.write_features(out_dir, split, rows(), lengths=lengths)
    shutil.rmtree(out_dir / "parts" / "frames", ignore_errors=True)


def _segments(p: dict, out_dir: Path, mdir: Path, splits: list[str], centroids_path: Path, pca_prefix: Path,
              dirs: dict[str, Path]) -> tuple[dict, np.ndarray]:
    """Units, PCA, merged and pooled segments of every split with the train-fitted transforms, shard by shard, then
    each split's files in fairseq's layout; ``(counts per split, train cluster usage)``."""
    planned = _plan(_items(mdir, splits), p["chunk_size"], out_dir / "parts" / "segments")
    executor.run([s for split in splits for s in planned[split]], segment_worker,
                 {"p": p, "out_dir": str(out_dir), "centroids": str(centroids_path), "pca": str(pca_prefix)},
                 executor.Settings.of(p), "segments")
    k = p["n_clusters"]
    usage = np.zeros(k, dtype=np.int64)
    counts = {}
    for split in splits:
        parts = [np.load(s.output) for s in planned[split]]

        def column(key, parts=parts):
            return np.concatenate([z[key] for z in parts]) if parts else np.zeros(0)

        ids, id_lengths = column("ids").astype(np.int64), column("ids_lengths").astype(np.int64)
        if split == "train":
            usage += np.bincount(ids, minlength=k)[:k]
        lines = (" ".join(map(str, u)) + "\n" for u in np.split(ids, np.cumsum(id_lengths)[:-1])) if len(id_lengths) else ()
        atomic_write_text(dirs["clus"] / f"{split}.src", "".join(lines))
        for key, directory in (("projected", dirs["pca"]), ("merged", dirs["merged"]), ("pooled", dirs["pooled"])):
            lengths = column(key + "_lengths").astype(np.int64)
            feature_files.write_features(directory, split, iter([column(key)]) if lengths.sum() else iter(()),
                                         lengths=lengths)
        atomic_save_npy(dirs["merged"] / f"{split}.bounds.npy", column("merged_bounds").astype(np.int32))
        atomic_save_npy(dirs["pooled"] / f"{split}.bounds.npy", column("pooled_bounds").astype(np.int32))
        for d in (dirs["pca"], dirs["merged"], dirs["pooled"]):
            _copy_manifest(mdir, split, d)
        counts[split] = {"frames": int(id_lengths.sum()), "merged": int(column("merged_lengths").sum()),
                         "pooled": int(column("pooled_lengths").sum()), "utterances": len(id_lengths)}
        for z in parts:
            z.close()
    shutil.rmtree(out_dir / "parts", ignore_errors=True)  # every shard is in the split files now
    return counts, usage


def _copy_manifest(src_dir: Path, split: str, dst_dir: Path) -> None:
    for ext in ("tsv", "wrd", "phn", "spk"):
        src = src_dir / f"{split}.{ext}"
        if src.is_file():
            atomic_write_bytes(dst_dir / f"{split}.{ext}", src.read_bytes())


def _splits(records: dict) -> list[str]:
    mdir = Path(records["audio_prep"]["manifests"])
    splits = [s for s in manifest.SPLITS if (mdir / f"{s}.tsv").is_file()]
    if "train" not in splits:
        raise KitError(f"{mdir}: no train split; k-means and PCA are fitted on train")
    return splits


@functools.lru_cache(maxsize=8)
def _checkpoint_arch(path: str, mtime: float) -> str | None:
    """The standard architecture (base, large, ...) of a wav2vec 2.0 checkpoint, None for another one."""
    from ..features import wav2vec2

    return wav2vec2.architecture_of(wav2vec2.load_wav2vec2(path, layer=0).settings)


def feature_backend(p: dict) -> tuple[str, str]:
    """wav2vec2: the arm the features are extracted with and why (``feature_backend``, ``auto`` resolved against
    this machine's latest stage 07 results); ("", "") for MFCC."""
    if p["kind"] != "wav2vec2":
        return "", ""
    arch = None
    if p["feature_backend"] == "auto" and p["checkpoint"]:
        path = resolve(p["checkpoint"])
        arch = _checkpoint_arch(str(path), path.stat().st_mtime) if path.is_file() else None
    return wav2vec2_backends.choose(p["feature_backend"], arch, profile_data_dir(p).parent, machine.cpu())


# the resolved arm changes the features (slightly), so it is hashed; the parameter itself is not, so MFCC runs keep
# their hash
STAGE = stage.StageDef(KEY, needs=("audio_prep",), report_only=lambda p: ("probe_epochs", "feature_backend"),
                       name=lambda p: p["kind"] if p["kind"] == "mfcc" else f"w2v-l{p['layer']}",
                       hashed=lambda p: {"feature_arm": feature_backend(p)[0]} if p["kind"] == "wav2vec2" else {})


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/03_features/<mfcc or w2v-l<layer>>-<hash>``."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Extract, cluster, project, merge and pool every split; skipped when already done."""
    def describe(p, records, out_dir, s):
        return {"segments": s["segments"], "merged": s["merged"], "pca": s["pca"], "centroids": s["centroids"],
                "frame_shift_s": s["frame_shift_s"], "frame_window_s": s["frame_window_s"],
                "audio_prep_dir": records["audio_prep"]["dir"], "kind": p["kind"], "splits": _splits(records)}

    return STAGE.run(p, lambda p, records, out_dir: _compute(p, out_dir, Path(records["audio_prep"]["manifests"]),
                                                             _splits(records)), describe)


def _speaker_audio(m: manifest.Manifest, speakers: list, limit: int) -> dict[str, list[np.ndarray]]:
    """Up to ``limit`` utterances of each speaker named in ``speakers`` (one name or None per utterance of ``m``)."""
    out: dict[str, list[np.ndarray]] = {}
    for i, speaker in enumerate(speakers):
        if speaker is not None and len(out.setdefault(speaker, [])) < limit:
            out[speaker].append(audio.read(m.audio_path(i))[0])
    return {s: utts for s, utts in out.items() if utts}


def group_speakers(p: dict, manifests: dict[str, manifest.Manifest], mdir: Path
                   ) -> tuple[dict, speaker_clusters.SpeakerClusters | None]:
    """Who is one speaker, per utterance of every split, and the voice clusters (``speaker_source: clusters``).

    ``clusters``: the train utterances grouped by :mod:`..features.speaker_clusters` (their audio only), the other
    splits' utterances assigned to a train cluster or left as new voices (None: normalised from their own audio).
    ``metadata``: the manifests' ``.spk`` names. Returns ``({"source", "speakers": {split: [name or None]},
    "found", "new_voices": {split: n}, "purity_report_only"}, clusters or None)``; the purity against ``.spk``
    (when the corpus has it) is report-only and never used."""
    if p["speaker_source"] == "metadata":
        for split, m in manifests.items():
            if not m.speakers:
                raise KitError(f"{mdir / (split + '.spk')}: speaker names are needed for speaker_source='metadata' "
                               f"(speaker_source='clusters' needs none)")
        names = {split: list(m.speakers) for split, m in manifests.items()}
        return {"source": "metadata", "speakers": names, "found": len(set(names["train"])),
                "new_voices": {split: len(set(n) - set(names["train"])) for split, n in names.items()},
                "purity_report_only": None}, None
    stats = {split: np.stack([diarize.utterance_stats(audio.read(m.audio_path(i))[0]) for i in range(len(m))])
             for split, m in manifests.items()}
    clusters, train_labels = speaker_clusters.fit(stats["train"], p["seed"], p["speaker_max_voices"])
    labels = {split: train_labels if split == "train" else clusters.assign(x) for split, x in stats.items()}
    names = {split: [None if k == speaker_clusters.NEW_VOICE else speaker_clusters.name(int(k)) for k in ls]
             for split, ls in labels.items()}
    grouping = {"source": "clusters", "speakers": names, "found": len(clusters.centres),
                "new_voices": {split: int((ls == speaker_clusters.NEW_VOICE).sum()) for split, ls in labels.items()},
                "threshold": round(clusters.threshold, 4), "purity_report_only": None}
    if all(m.speakers for m in manifests.values()):  # report-only: how the clusters agree with the corpus's names
        grouping["purity_report_only"] = {split: speaker_clusters.purity(labels[split], manifests[split].speakers)
                                          for split in manifests}
    log.info("speakers without names: %d voice clusters on %d train utterances; new voices per split %s",
             grouping["found"], len(train_labels), grouping["new_voices"])
    return grouping, clusters


def fit_speaker_norm(p: dict, out_dir: Path, mdir: Path, splits: list[str]) -> speaker_norm.SpeakerNorm | None:
    """The per-speaker normalisation, fitted on train's speakers (:func:`group_speakers`); a speaker first heard in
    valid/test (``metadata``) is adapted on its audio; with ``clusters`` a valid/test utterance takes its train
    cluster's transform, or is a new voice normalised from its own audio. The grouping is written to
    ``speakers.json``, the normalisation (with the clusters) to ``speaker_norm.npz``; both are read back when there."""
    if p["speaker_norm"] == "none":
        return None
    path, groups_path = out_dir / NORM_FILE, out_dir / SPEAKERS_FILE
    if path.is_file() and groups_path.is_file():
        return speaker_norm.SpeakerNorm.load(path)
    manifests = {split: manifest.read(mdir, split) for split in splits}
    grouping, clusters = group_speakers(p, manifests, mdir)
    names = grouping["speakers"]
    norm = speaker_norm.fit(_speaker_audio(manifests["train"], names["train"], p["speaker_norm_utterances"]),
                            p["speaker_norm"], p["seed"])
    norm.clusters = clusters
    for split, m in manifests.items():
        unseen = {s for s in names[split] if s is not None} - set(norm.warps)
        for speaker, utts in _speaker_audio(m, [s if s in unseen else None for s in names[split]],
                                            p["speaker_norm_utterances"]).items():
            norm.adapt(speaker, utts)
    log.info("speaker normalisation %s: %d speakers (%s)", p["speaker_norm"], len(norm.warps), grouping["source"])
    atomic_write_json(groups_path, grouping)
    norm.save(path)
    return norm


CALIBRATION_UTTERANCES = 8  # train utterances a calibrated arm is calibrated on (audio only)
CHECK_UTTERANCES = 2  # the train utterances after them, on which its features are compared with fp32's
CALIBRATION_SECONDS = 20.0  # each cut to at most this long


def calibrate(p: dict, out_dir: Path, mdir: Path, arm: str) -> dict:
    """A calibrated wav2vec 2.0 arm (``CALIBRATED``) prepared once for this run: calibrated on the first
    ``CALIBRATION_UTTERANCES`` train utterances (their audio only), checked against fp32 on the next
    ``CHECK_UTTERANCES`` (mean per-frame cosine >= ``MIN_COSINE``, else a :class:`KitError` saying so), saved in
    ``<out_dir>/calibrated-wav2vec2/``, the check in ``calibrated-wav2vec2.json``; skipped when both exist.
    Returns what that file holds: arm, utterances, seconds, fidelity."""
    import torch

    from ..features import wav2vec2

    folder = out_dir / CALIBRATED_DIR
    record_path = out_dir / f"{CALIBRATED_DIR}.json"
    if record_path.is_file() and (folder / wav2vec2_backends.SAVED_MODEL).is_file():
        return read_json(record_path)
    m = manifest.read(mdir, "train")
    limit = int(CALIBRATION_SECONDS * audio.TARGET_SR)
    wavs = [audio.read(m.audio_path(i))[0][:limit].astype(np.float32)[None]
            for i in range(min(len(m), CALIBRATION_UTTERANCES + CHECK_UTTERANCES))]
    calibration, check = (wavs[:-CHECK_UTTERANCES], wavs[-CHECK_UTTERANCES:]) if len(wavs) > CHECK_UTTERANCES \
        else (wavs, wavs)
    model = wav2vec2.load_wav2vec2(resolve(p["checkpoint"]), layer=p["layer"])
    log.info("calibrating wav2vec 2.0 arm %s on %d train utterance(s) (%.0f s)", arm, len(calibration),
             sum(w.shape[1] for w in calibration) / audio.TARGET_SR)
    wav2vec2_backends.save_calibrated(arm, model, p["layer"], calibration, folder)
    runner = wav2vec2_backends.load_calibrated(arm, folder, torch.get_num_threads())
    with torch.inference_mode():
        pairs = [(runner(torch.from_numpy(w))[0].numpy(), wav2vec2.extract(model, w[0], p["layer"]).numpy())
                 for w in check]
    fidelity = wav2vec2_backends.fidelity(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))
    record = {"arm": arm, "utterances": len(calibration),
              "seconds": round(sum(w.shape[1] for w in calibration) / audio.TARGET_SR, 2),
              "checked_on": len(check), "checked_on_calibration_audio": len(wavs) <= CHECK_UTTERANCES,
              "fidelity": fidelity}
    if fidelity["cosine_mean"] < wav2vec2_backends.MIN_COSINE:
        raise KitError(f"feature backend {arm}: calibrated on {len(calibration)} train utterance(s), its features "
                       f"reach a mean per-frame cosine of {fidelity['cosine_mean']:.4f} with fp32's on "
                       f"{len(check)} other(s), below the bar {wav2vec2_backends.MIN_COSINE}; choose another "
                       f"feature_backend (e.g. openvino-bf16)")
    log.info("%s: mean per-frame cosine with fp32 %.5f on %d train utterance(s)", arm, fidelity["cosine_mean"],
             len(check))
    atomic_write_json(record_path, record)
    return record


def _compute(p: dict, out_dir: Path, mdir: Path, splits: list[str]) -> dict:
    t0 = time.time()
    norm = fit_speaker_norm(p, out_dir, mdir, splits)
    arm, why = feature_backend(p)
    if arm:
        log.info("wav2vec 2.0 features with arm %s: %s", arm, why)
    calibration = calibrate(p, out_dir, mdir, arm) if arm in wav2vec2_backends.CALIBRATED else None
    extractor = FrameExtractor(p, norm, arm or "fp32", out_dir / CALIBRATED_DIR)  # its frame geometry; the workers
    # build their own
    dim, shift, window = extractor.dim, extractor.shift, extractor.window
    del extractor
    _extract(p, out_dir, mdir, splits, arm or "fp32")
    n_seconds = 0.0
    for split in splits:
        n_seconds += manifest.read(mdir, split, check_files=False).total_samples / audio.TARGET_SR
        _copy_manifest(mdir, split, out_dir)
    extract_seconds = time.time() - t0

    train, _ = feature_files.read_features(out_dir, "train")
    k = p["n_clusters"]
    sample = units.sample_rows(train, p["kmeans_max_frames"], p["seed"])
    log.info("k-means: %d clusters on %d of %d train frames (dim %d)", k, len(sample), len(train), dim)
    centroids = units.fit_kmeans(sample, k, p["kmeans_niter"], p["kmeans_nredo"], p["seed"])
    clus = out_dir / f"CLUS{k}"
    atomic_save_npy(clus / "centroids.npy", centroids)

    pca_dim = min(p["pca_dim"], dim)
    if pca_dim < p["pca_dim"]:
        log.info("PCA dimension %d clipped to the feature dimension %d", p["pca_dim"], pca_dim)
    A, b, explained = units.fit_pca(sample, pca_dim)
    atomic_save_npy(out_dir / "pca" / f"{pca_dim}_pca_A.npy", A)
    atomic_save_npy(out_dir / "pca" / f"{pca_dim}_pca_b.npy", b)
    atomic_save_npy(out_dir / "pca" / f"{pca_dim}_explained_variance.npy", explained)

    dirs = {"clus": clus, "pca": out_dir / f"precompute_pca{pca_dim}",
            "merged": out_dir / f"precompute_pca{pca_dim}_cls{k}_mean",
            "pooled": out_dir / f"precompute_pca{pca_dim}_cls{k}_mean_pooled"}
    counts, usage = _segments(p, out_dir, mdir, splits, clus / "centroids.npy", out_dir / "pca" / f"{pca_dim}_pca",
                              dirs)

    seconds_train = manifest.read(mdir, "train", check_files=False).total_samples / audio.TARGET_SR
    return {
        "kind": p["kind"], "dim": dim, "pca_dim": pca_dim, "n_clusters": k,
        "frame_shift_s": shift / audio.TARGET_SR, "frame_window_s": window / audio.TARGET_SR,
        "segments_per_second": counts["train"]["pooled"] / max(seconds_train, 1e-9),
        "counts": counts, "cluster_usage": usage.tolist(), "explained_variance": explained[:pca_dim].tolist(),
        "audio_seconds": n_seconds, "extract_seconds": round(extract_seconds, 1),
        "segments": str(dirs["pooled"]), "merged": str(dirs["merged"]), "pca": str(dirs["pca"]), "centroids": str(clus),
        "speaker_norm": norm.summary() if norm is not None else None,
        "speakers": _speaker_summary(out_dir) if norm is not None else None,
        "executor": p["executor"], "sharded": ["frame features", "units, PCA, merged and pooled segments"],
        "feature_backend": {"arm": arm, "why": why, **({"calibration": calibration} if calibration else {})}
        if arm else None,
    }


def _speaker_summary(out_dir: Path) -> dict:
    """``speakers.json`` without the per-utterance names: source, voices found, new voices, purity (report-only)."""
    return {k: v for k, v in read_json(out_dir / SPEAKERS_FILE).items() if k != "speakers"}


def run_probe(p: dict, record: dict) -> dict:
    """The supervised CTC probe on the pooled segments (report-only, uses reference phones); cached in probe.json."""
    if p["probe_epochs"] <= 0:
        return {"per": None, "skipped": True}
    key = {"epochs": p["probe_epochs"], "seed": p["seed"], "lr": probe.LEARNING_RATE, "batch_size": probe.BATCH_SIZE}
    return stage.cached_step(Path(record["dir"]) / "probe.json", key, lambda: {
        **probe.train_probe(record["segments"], epochs=p["probe_epochs"], seed=p["seed"]), "seed": p["seed"]})


def probe_table(probe_result: dict):
    """The CTC probe of :func:`run_probe` as a table: PER on its split and on train (percent), phones, epochs,
    learning rate, batch size, seed; a one-line note when the probe was skipped."""
    import pandas as pd
    from IPython.display import Markdown

    if probe_result.get("skipped"):
        return Markdown("The supervised CTC probe was skipped (`probe_epochs = 0`).")
    split = probe_result.get("eval_split", "test")
    rows = {f"PER on {split} (%)": round(100 * probe_result["per"], 1),
            "PER on train (%)": round(100 * probe_result["per_train"], 1), "phones": probe_result["symbols"],
            "epochs": probe_result["epochs"], "learning rate": probe_result.get("lr"),
            "batch size": probe_result.get("batch_size"), "seed": probe_result.get("seed")}
    return pd.DataFrame({"supervised CTC probe (report-only)": {k: v for k, v in rows.items() if v is not None}},
                        dtype=object)


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "kind": ("frame features", PLAIN),
    "dim": ("feature dimension", PLAIN),
    "n_clusters": ("k-means units", PLAIN),
    "segments_per_second": ("segments per second of speech", PLAIN),
    "seconds": ("compute time (s)", PLAIN),
    "probe_per": ("supervised CTC probe on the segments, test PER (report-only)", PCT),
}

def metrics(summary: dict, probe_result: dict) -> dict:
    """kind, dim, n_clusters, segments_per_second, seconds (compute time), probe_per (report-only); who counts as one
    speaker (``speaker_source``: clusters, metadata, or none without speaker normalisation), ``speakers_found``
    and, for clusters, ``speaker_purity_report_only`` (train clusters against the corpus's names); for wav2vec 2.0
    the feature_backend arm used."""
    per = probe_result.get("per")
    speakers = summary.get("speakers") or {}
    purity = (speakers.get("purity_report_only") or {}).get("train", {}).get("purity")
    out = {"kind": summary["kind"], "dim": summary["dim"], "n_clusters": summary["n_clusters"],
           "segments_per_second": round(summary["segments_per_second"], 2), "seconds": summary["seconds"],
           "probe_per": None if per is None else round(per, 3),
           "speaker_source": speakers.get("source", "none"), "speakers_found": speakers.get("found"),
           "speaker_purity_report_only": None if purity is None else round(purity, 4)}
    if summary.get("feature_backend"):
        out["feature_backend"] = summary["feature_backend"]["arm"]
    return out
