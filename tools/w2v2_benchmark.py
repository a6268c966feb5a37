"""Only the wav2vec 2.0 part of stage 07 for a profile: stages 01-02 (skipped when done), then every arm.

    PYTHONPATH=lib .venv/bin/python tools/w2v2_benchmark.py --params params/demo.yaml [--set w2v2_repeats=7]

Useful before training on real recordings with ``features: wav2vec2``: stage 03's ``feature_backend: auto`` then
extracts with the fastest arm that kept the fidelity bar on this machine. Prints the table and the figures that
notebook 07 records as metrics; writes nothing but the stage's own output directory (the profile's metrics.json
is the notebook's to write).
"""
from __future__ import annotations

import argparse
import json
import sys

import yaml

from aitranscribe.benchmarking import results
from aitranscribe.core import registry
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.params import load_profile, stage_spec, validate
from aitranscribe.core.stage import load_summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/demo.yaml", help="profile YAML")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a benchmark parameter (YAML value), e.g. w2v2_archs=[large]")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    profile = load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES})
    for key in ("data", "audio_prep"):
        registry.info(key).load().run(profile[key])
    benchmark = registry.info("benchmark").load()
    overrides = dict(item.split("=", 1) for item in args.set)
    p = validate({**profile["benchmark"], **{k: yaml.safe_load(v) for k, v in overrides.items()}},
                 stage_spec(benchmark.PARAMS), "--set")
    record = benchmark.run_w2v2(p)
    summary = load_summary(record)
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 500):
        print(results.w2v2_table(summary).drop(columns=["weights", "torch"], errors="ignore"))
    print(results.w2v2_note(summary).data)
    print(json.dumps(results.w2v2_metrics(summary), indent=1))
    print(f"output: {record['dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
