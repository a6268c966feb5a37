"""Listen-free sanity checks of a demo corpus with voice metadata (issue 35): per engine, voice and condition, the
seconds per word and RMS level of the written audio, and the RT60 measured on a sample of its rooms.

    PYTHONPATH=$PWD/lib .venv/bin/python tools/research/voices_sanity.py data/<profile>/01_data/demo-<hash> [--rooms 40]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from aitranscribe.evaluation.by_voice import audio_checks
from aitranscribe.io import manifest
from aitranscribe.sources import acoustics, voices


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a demo corpus's 01_data directory (with corpus.json)")
    parser.add_argument("--rooms", type=int, default=40, help="rooms whose impulse response is measured again")
    args = parser.parse_args(argv)
    meta = voices.read_metadata(args.corpus)
    if meta is None:
        parser.error(f"{args.corpus}: no {voices.METADATA}")
    manifests = {s: manifest.read(args.corpus / "manifests", s) for s in manifest.SPLITS}
    rows = pd.DataFrame(audio_checks(manifests, meta["utterances"]))
    pd.set_option("display.width", 160)
    stats = {"utterances": ("seconds", "size"), "s/word mean": ("seconds_per_word", "mean"),
             "s/word p5": ("seconds_per_word", lambda v: v.quantile(0.05)),
             "s/word p95": ("seconds_per_word", lambda v: v.quantile(0.95)),
             "RMS dBFS mean": ("rms_dbfs", "mean"), "RMS dBFS min": ("rms_dbfs", "min")}
    clean = rows[rows.condition == "clean"]
    print("## per engine, clean utterances\n", clean.groupby("engine").agg(**stats).round(3).to_markdown(), "\n")
    print("## per engine, all utterances\n", rows.groupby("engine").agg(**stats).round(3).to_markdown(), "\n")
    print("## per voice, clean utterances\n", clean.groupby("voice").agg(**stats).round(3).to_markdown(), "\n")
    print("## per condition\n", rows.groupby("condition").agg(**stats).round(3).to_markdown(), "\n")
    print("## utterances per split and engine\n", pd.crosstab(rows.engine, rows.split).to_markdown(), "\n")
    rooms = [u["room"] for us in meta["utterances"].values() for u in us if "room" in u][:args.rooms]
    if rooms:
        target = np.array([r["rt60_s"] for r in rooms])
        measured = np.array([acoustics.measured_rt60(acoustics.room_impulse_response(r)) for r in rooms])
        print(f"## rooms: {len(rooms)} measured, RT60 target {target.min():.2f}-{target.max():.2f} s, measured "
              f"{measured.min():.2f}-{measured.max():.2f} s, measured/target median {np.median(measured / target):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
