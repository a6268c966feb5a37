"""Plots and tables the notebooks show; each takes a stage record and returns a matplotlib Figure or a table."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import models
from .benchmarking.results import matmul_rates, speedups, w2v2_rows
from .core.stage import done_params, load_stage, load_summary
from .text import error_rates
from .io import audio, manifest
from .text.phones import read_references
from .io.audio import TARGET_SR


def _splits(record: dict) -> dict[str, manifest.Manifest]:
    mdir = Path(record["manifests"])
    return {s: manifest.read(mdir, s, check_files=False) for s in manifest.SPLITS if (mdir / f"{s}.tsv").is_file()}


def corpus_table(summary: dict) -> pd.DataFrame:
    """Utterances, hours and speakers per split."""
    rows = {split: {"utterances": v["utterances"], "hours": round(v["hours"], 3), "speakers": v["speakers"]}
            for split, v in summary["splits"].items()}
    return pd.DataFrame.from_dict(rows, orient="index")  # counts stay integers


def durations(record: dict):
    """Histogram of utterance durations per split."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for split, m in _splits(record).items():
        if len(m):
            ax.hist(np.array(m.n_samples) / TARGET_SR, bins=30, alpha=0.6, label=f"{split} ({len(m)})")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("utterances")
    ax.set_title("Utterance durations")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


def utterances_per_speaker(record: dict):
    """Bar chart of utterances per speaker (voice for the demo) and split."""
    counts = collections.defaultdict(collections.Counter)
    for split, m in _splits(record).items():
        for spk in m.speakers or ["unknown"] * len(m):
            counts[split][spk] += 1
    table = pd.DataFrame(counts).fillna(0).astype(int).sort_index()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    table.plot.bar(stacked=True, ax=ax)
    ax.set_ylabel("utterances")
    ax.set_title("Utterances per speaker / voice")
    fig.tight_layout()
    plt.close(fig)
    return fig


def vad_examples(record: dict, split: str = "train", n: int = 3):
    """Waveforms of the first ``n`` utterances with the rVAD speech intervals shaded."""
    original = manifest.read(Path(record["data_dir"]) / "manifests", split)
    vads = manifest.read_vads(Path(record["dir"]) / f"{split}.vads")
    n = min(n, len(original))
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.6 * n), squeeze=False)
    for i in range(n):
        x, sr = audio.read(original.audio_path(i))
        t = np.arange(len(x)) / sr
        ax = axes[i, 0]
        ax.plot(t, x, lw=0.4, color="0.3")
        for a, b in vads[i]:
            ax.axvspan(a / sr, b / sr, color="tab:green", alpha=0.25)
        ax.set_xlim(0, t[-1] if len(t) else 1)
        ax.set_yticks([])
        ax.set_ylabel(f"utt {i}")
    axes[-1, 0].set_xlabel("time (s); green: speech kept by rVAD")
    fig.suptitle("Speech and silence")
    fig.tight_layout()
    plt.close(fig)
    return fig


def speech_fraction(record: dict):
    """Histogram of the fraction of each utterance kept as speech, per split."""
    fig, ax = plt.subplots(figsize=(7, 3))
    mdir = Path(record["manifests"])
    original_dir = Path(record["data_dir"]) / "manifests"
    for split in manifest.SPLITS:
        if (mdir / f"{split}.tsv").is_file():
            kept = np.array(manifest.read(mdir, split, check_files=False).n_samples)
            full = np.array(manifest.read(original_dir, split, check_files=False).n_samples)
            if len(full):
                ax.hist(kept / full, bins=np.linspace(0, 1, 41), alpha=0.6, label=split)
    ax.set_xlabel("speech fraction of the utterance")
    ax.set_ylabel("utterances")
    ax.set_title("Speech kept after silence removal")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


def feature_overview(summary: dict):
    """Cluster usage (train frames), PCA explained variance, and segments per second by stage of merging."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    usage = np.sort(np.array(summary["cluster_usage"]))[::-1]
    axes[0].bar(np.arange(len(usage)), usage / max(usage.sum(), 1), width=1.0)
    axes[0].set_title(f"k-means usage ({summary['n_clusters']} clusters)")
    axes[0].set_xlabel("cluster (sorted)")
    axes[0].set_ylabel("fraction of train frames")
    explained = np.cumsum(summary["explained_variance"])
    axes[1].plot(np.arange(1, len(explained) + 1), explained)
    axes[1].set_ylim(0, 1.02)
    axes[1].set_title(f"PCA: cumulative explained variance ({summary['pca_dim']} dims)")
    axes[1].set_xlabel("components")
    seconds = summary["audio_seconds"]
    total = {k: sum(c[k] for c in summary["counts"].values()) for k in ("frames", "merged", "pooled")}
    axes[2].bar(list(total), [v / seconds for v in total.values()], color=["0.6", "tab:blue", "tab:orange"])
    axes[2].set_title("units per second of speech")
    fig.tight_layout()
    plt.close(fig)
    return fig


def phone_frequencies(summary: dict):
    """Bar chart of phone counts in the GAN's phone text (without <SIL>)."""
    counts = summary["phone_counts"]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar(list(counts), list(counts.values()))
    ax.set_yscale("log")
    ax.set_ylabel("count")
    ax.set_title(f"Phone frequencies ({len(counts)} phones; <SIL> share {summary['sil_share']:.1%})")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def sentence_lengths(summary: dict):
    """Histogram of phones per text sentence."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(summary["sentence_lengths"], bins=40)
    ax.set_xlabel("phones per sentence (without <SIL>)")
    ax.set_ylabel("sentences")
    ax.set_title(f"{summary['n_train_sentences']} training sentences")
    fig.tight_layout()
    plt.close(fig)
    return fig


def training_curves(record: dict):
    """The method's label-free signals and report-only valid PER per run (or chain) and step (update or round)."""
    method = models.METHODS[record["method"]]
    summary = load_summary(record)
    rows = pd.DataFrame(method.history(summary))
    fig, axes = plt.subplots(-(-len(method.CURVES) // 3), 3, figsize=(13, 3.5 * -(-len(method.CURVES) // 3)),
                             squeeze=False)
    for ax, (key, title) in zip(axes.flat, method.CURVES):
        for run, group in rows.groupby("run", sort=True):
            ax.plot(group["step"], group[key] if key in group else np.nan, marker="o", label=run)
        ax.axvline(method.selected_step(summary), color="grey", linestyle=":", label="selected")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(method.STEP)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


def reference_points(report: dict):
    """Bar chart: chance, the selected model (named by its method), supervised CTC — PER on test (report-only)."""
    method = models.METHODS[report["method"]].LABEL if "method" in report else "selected model"
    values = {"chance": report.get("per_chance"), f"{method} (selected, no labels)": report.get("per_test"),
              "supervised CTC (labels)": report.get("per_supervised")}
    values = {k: v for k, v in values.items() if v is not None}
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(list(values), [100 * v for v in values.values()], color=["0.6", "tab:orange", "tab:green"][: len(values)])
    for i, v in enumerate(values.values()):
        ax.text(100 * v + 1, i, f"{100 * v:.1f}%", va="center")
    ax.set_xlabel("test PER (%) — report-only")
    ax.set_xlim(0, max(110, 100 * max(values.values()) + 15))
    fig.tight_layout()
    plt.close(fig)
    return fig


def phone_confusions(record: dict, top: int = 15):
    """Horizontal bars of the most frequent phone errors (substitutions, deletions 'x -> -', insertions '- -> x')."""
    results = json.loads((Path(record["dir"]) / "transcripts.json").read_text())
    p = done_params(record["dir"])
    split = p["split"]
    refs = None if p["folder"] else read_references(load_stage(p, "text")["references"], split)
    fig, ax = plt.subplots(figsize=(7, 4))
    if not refs:
        ax.text(0.5, 0.5, "no reference phones for this input", ha="center", va="center")
        ax.set_axis_off()
    else:
        errors = error_rates.confusions([[p["phone"] for p in r["phones"]] for r in results], refs, top)
        ax.barh([f"{a} → {b}" for a, b, _ in errors][::-1], [c for _, _, c in errors][::-1])
        ax.set_xlabel("count")
        ax.set_title(f"Most frequent phone errors ({split}, report-only)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def benchmark_overview(summary: dict):
    """Speedup vs eager per batch size (quartile error bars), throughput, latency at batch 1, stage shares."""
    sp = speedups(summary)
    arms = list(summary["backends"])
    batches = sorted({bs for _, bs in sp})
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    ax = axes[0, 0]
    width = 0.8 / max(1, len(arms) - 1)
    for j, arm in enumerate(a for a in arms if a != "eager"):
        vals = [sp[(arm, b)] for b in batches]
        pos = np.arange(len(batches)) + j * width
        y = [v["speedup"] for v in vals]
        err = [[v["speedup"] - v["low"] for v in vals], [v["high"] - v["speedup"] for v in vals]]
        ax.bar(pos, y, width, yerr=err, capsize=3, label=arm + (" (vs stock-2.8)" if arm == "ipex" else ""))
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(batches)) + width * (len(arms) - 2) / 2, [str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel("speedup of the acoustic model vs eager")
    ax.set_title("Acoustic-model speedup (median ratio, quartile bars)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for arm in arms:
        g = summary["backends"][arm]["model"]
        ax.plot(batches, [g[str(b)]["audio_seconds"] / g[str(b)]["median"] for b in batches], marker="o", label=arm)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("audio seconds per second")
    ax.set_title("Acoustic-model throughput")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    b1 = str(batches[0])
    lat = [summary["backends"][a]["model"][b1] for a in arms]
    ax.bar(arms, [1000 * v["median"] for v in lat],
           yerr=[[1000 * (v["median"] - v["q1"]) for v in lat], [1000 * (v["q3"] - v["median"]) for v in lat]], capsize=3)
    ax.set_ylabel("ms")
    ax.set_title(f"Acoustic-model latency at batch {b1} (median, quartiles)")
    ax.tick_params(axis="x", labelsize=8)
    ax = axes[1, 1]
    e2e = summary["backends"]["eager"].get("e2e")
    if e2e:
        shares = {k: v["median"] for k, v in e2e["stages"].items()}
        ax.pie(list(shares.values()), labels=[f"{k}\n{1000 * v:.0f} ms" for k, v in shares.items()], autopct="%1.0f%%")
        rounds = e2e.get("x_realtime_rounds") or []
        spread = f"; rounds {min(rounds):.0f}-{max(rounds):.0f}x" if len(rounds) > 1 else ""
        ax.set_title(f"End to end, eager, {e2e.get('threads', '?')} thread(s): {e2e['x_realtime']:.0f}x real time "
                     f"({e2e['utterances']} utterances{spread})", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def w2v2_overview(summary: dict):
    """wav2vec 2.0 feature extraction, one row of panels per architecture: x real time of every arm at each batch
    size (quartile bars; hatched when the arm misses the fidelity bar), the fraction of the CPU's peak for the arm's
    precision, and speed against fidelity (1 - mean per-frame cosine with fp32)."""
    rows = [r for r in w2v2_rows(summary) if r["status"] == "ran"]
    archs = list(summary["backends"])
    fig, axes = plt.subplots(len(archs), 3, figsize=(15, 3.8 * len(archs)), squeeze=False)
    for row, arch in zip(axes, archs):
        mine = [r for r in rows if r["arch"] == arch]
        arms = list(dict.fromkeys(r["arm"] for r in mine))
        batches = sorted({r["batch"] for r in mine})
        width = 0.8 / len(batches)
        for j, bs in enumerate(batches):
            got = {r["arm"]: r for r in mine if r["batch"] == bs}
            pos = np.arange(len(arms)) + j * width
            for k, arm in enumerate(arms):
                r = got.get(arm)
                if r is None:
                    continue
                err = [[r["x_realtime"] * (1 - r["median_s"] / r["q3_s"])], [r["x_realtime"] * (r["median_s"] / r["q1_s"] - 1)]]
                row[0].bar(pos[k], r["x_realtime"], width, yerr=err, capsize=2, color=f"C{j}",
                           hatch=None if r["passes"] else "//", label=f"batch {bs}" if k == 0 else None)
                row[1].bar(pos[k], 100 * r["peak_fraction"], width, color=f"C{j}", label=f"batch {bs}" if k == 0 else None)
        for ax in row[:2]:
            ax.set_xticks(np.arange(len(arms)) + width * (len(batches) - 1) / 2, arms, rotation=45, ha="right", fontsize=8)
            ax.legend(fontsize=7)
        model = summary["models"][arch]
        row[0].set_ylabel("x real time")
        row[0].set_title(f"{arch} to layer {model['layer']}: x real time (hatched: below the cosine bar)", fontsize=9)
        for j, (prec, gflops) in enumerate(matmul_rates(summary, arch).items()):
            if summary["peaks"].get(prec):
                row[1].axhline(100 * gflops / summary["peaks"][prec], color="k", lw=0.8, ls=("--", ":", "-.")[j % 3],
                               label=f"one PyTorch {prec} matrix product")
        row[1].legend(fontsize=7)
        row[1].set_ylabel("% of peak")
        row[1].set_title(f"{arch}: achieved GFLOP/s as % of the peak of each arm's precision", fontsize=9)
        ax = row[2]
        one = [r for r in mine if r["batch"] == batches[0]]
        for r in one:
            ax.scatter(max(1 - r["cosine_mean"], 1e-9), r["speedup"], color="C2" if r["passes"] else "C3")
            ax.annotate(r["arm"], (max(1 - r["cosine_mean"], 1e-9), r["speedup"]), fontsize=7)
        ax.axvline(1 - summary["min_cosine"], color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("1 - mean per-frame cosine with fp32")
        ax.set_ylabel(f"speedup over fp32, batch {batches[0]}")
        ax.set_title(f"{arch}: speed against fidelity ({model['weights']})", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
