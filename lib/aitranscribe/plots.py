"""Plots and tables the notebooks show; each takes a stage record and returns a matplotlib Figure or a table."""
from __future__ import annotations

import collections
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import manifest


def _splits(record: dict) -> dict[str, manifest.Manifest]:
    mdir = Path(record["manifests"])
    return {s: manifest.read(mdir, s, check_files=False) for s in manifest.SPLITS if (mdir / f"{s}.tsv").is_file()}


def corpus_table(summary: dict) -> pd.DataFrame:
    """Utterances, hours and speakers per split."""
    rows = {split: {"utterances": v["utterances"], "hours": round(v["hours"], 3), "speakers": v["speakers"]}
            for split, v in summary["splits"].items()}
    return pd.DataFrame(rows).T


def durations(record: dict):
    """Histogram of utterance durations per split."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for split, m in _splits(record).items():
        if len(m):
            ax.hist(np.array(m.n_samples) / 16000, bins=30, alpha=0.6, label=f"{split} ({len(m)})")
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
