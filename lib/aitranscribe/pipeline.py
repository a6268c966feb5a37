"""Run the stage notebooks of a profile with papermill; write executed notebooks, HTML and metrics.

    python -m aitranscribe.pipeline --params params/demo.yaml [--from 02] [--to 04]

The whole profile is validated before anything runs. Each notebook ``notebooks/NN_name.ipynb`` that
exists is executed with its section of the profile as parameters into
``reports/<profile>/NN_name.ipynb`` and rendered to ``NN_name.html`` (code hidden; with ``share_safe``
the cells tagged ``phi`` — per-utterance transcripts, audio, file names — are left out of the HTML).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .core import machine, registry
from .core.errors import KitError
from .core.files import atomic_write_json
from .core.logs import setup_logging
from .core.params import load_profile
from .core.paths import REPO_ROOT, profile_reports_dir
from .core.reports import render_html

log = logging.getLogger("aitranscribe.pipeline")

KERNEL = "aitranscribe"


def select(numbers_from: str | None, numbers_to: str | None) -> list[registry.StageInfo]:
    """Stages between ``--from`` and ``--to`` (inclusive) whose notebook exists."""
    chosen = []
    for s in registry.STAGES:
        if numbers_from and s.number < numbers_from.zfill(2):
            continue
        if numbers_to and s.number > numbers_to.zfill(2):
            continue
        if not (REPO_ROOT / "notebooks" / f"{s.notebook}.ipynb").is_file():
            log.info("%s: no notebook yet, not run", s.notebook)
            continue
        chosen.append(s)
    return chosen


def run_profile(params_path: str, numbers_from=None, numbers_to=None) -> dict:
    """Execute the selected stages of a profile; return ``{notebook: seconds}``. Raises KitError on failure."""
    import papermill

    profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
    chosen = select(numbers_from, numbers_to)
    if not chosen:
        raise KitError(f"no stage notebook between --from {numbers_from} and --to {numbers_to}")
    first = profile[chosen[0].key]
    reports = profile_reports_dir(first)
    reports.mkdir(parents=True, exist_ok=True)
    timings = {}
    for s in chosen:
        p = profile[s.key]
        out = reports / f"{s.notebook}.ipynb"
        log.info("=== stage %s (%s) -> %s", s.number, s.notebook, out)
        start = time.time()
        try:
            papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{s.notebook}.ipynb"), str(out),
                                       parameters=p, kernel_name=KERNEL, cwd=str(REPO_ROOT / "notebooks"),
                                       progress_bar=False, log_output=False)
        except papermill.PapermillExecutionError as exc:
            render_html(out, p["share_safe"])
            raise KitError(f"stage {s.notebook} failed: {exc.ename}: {exc.evalue}\n"
                           f"  the executed notebook with the error: {out}") from None
        timings[s.notebook] = round(time.time() - start, 1)
        html = render_html(out, p["share_safe"])
        log.info("=== stage %s done in %.1f s: %s", s.number, timings[s.notebook], html)
    # a partial run (--from/--to) keeps the other stages' times of earlier runs
    run_path = reports / "run.json"
    earlier = json.loads(run_path.read_text()).get("stage_seconds", {}) if run_path.is_file() else {}
    earlier = {name: t for name, t in earlier.items() if name in {s.notebook for s in registry.STAGES}}
    atomic_write_json(run_path, {**machine.versions(), "params": str(params_path), "stage_seconds": {**earlier, **timings},
                                 "stages_run": list(timings), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    metrics_path = reports / "metrics.json"
    if metrics_path.is_file():
        log.info("metrics: %s", json.dumps(json.loads(metrics_path.read_text()), sort_keys=True))
    return timings


def needs_intel(params_path: str, numbers_from=None, numbers_to=None) -> str:
    """What the selected stages ask of .venv-intel: ``"required"`` (stage 06 transcribes with ``backend: ipex`` and
    cannot run without it), ``"optional"`` (stage 07 benchmarks IPEX or stock-2.8 arms, of the acoustic model or of
    wav2vec 2.0: without it they are skipped, the report saying why and how to add them) or ``"no"``."""
    profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
    keys = {s.key for s in select(numbers_from, numbers_to)}
    if "inference" in keys and "inference" in profile and profile["inference"]["backend"] == "ipex":
        return "required"
    bench = profile["benchmark"] if "benchmark" in keys and "benchmark" in profile else {}
    arms = set(bench.get("arms", [])) | set(bench.get("w2v2_arms", []))
    return "optional" if arms & {"ipex", "ipex-bf16", "stock-2.8"} else "no"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/demo.yaml", help="profile YAML (default: params/demo.yaml)")
    parser.add_argument("--from", dest="numbers_from", help="first stage number, e.g. 02")
    parser.add_argument("--to", dest="numbers_to", help="last stage number, e.g. 04")
    parser.add_argument("--needs-intel", action="store_true", help="only print required/optional/no: what the run asks of .venv-intel")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    if args.needs_intel:
        print(needs_intel(args.params, args.numbers_from, args.numbers_to))
        return 0
    try:
        run_profile(args.params, args.numbers_from, args.numbers_to)
    except KitError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
