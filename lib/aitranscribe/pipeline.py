"""Run the stage notebooks of a profile with papermill; write executed notebooks, HTML and metrics.

    python -m aitranscribe.pipeline --params params/demo.yaml [--from 02] [--to 04]

The whole profile is validated before anything runs. Each notebook ``notebooks/NN_name.ipynb`` that
exists is executed with its section of the profile as parameters into
``reports/<profile>/NN_name.ipynb`` and rendered to ``NN_name.html`` (code hidden; with ``share_safe``
the cells tagged ``phi`` — per-utterance transcripts, audio, file names — are left out of the HTML). The executed
notebook keeps no path of the machine (:func:`~aitranscribe.core.sanitize.scrub_notebook_paths`).

``reports/<profile>/run.json`` says how each stage's report was made (:func:`record_stage`): ``stages`` maps every
stage that ran to the command, commit (and whether the tree had uncommitted changes), start and finish time (UTC),
seconds, CPU and versions of its latest run, so a partial run (``--from 05 --to 06``) replaces only those stages'
entries; ``params`` is the profile file and ``last_call`` the stages of the latest call.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .core import backend_table, machine, registry
from .core.errors import KitError
from .core.files import atomic_write_json, atomic_write_text
from .core.logs import setup_logging
from .core.params import load_profile
from .core.paths import REPO_ROOT, profile_reports_dir, resolve
from .core.reports import render_html
from .core.sanitize import machine_roots, scrub_notebook_paths, scrub_paths

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


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def profile_file(params_path) -> str:
    """``params_path`` as a run record names it: relative to the repository when inside it, else with the machine's
    places replaced (:func:`~aitranscribe.core.sanitize.scrub_paths`)."""
    try:
        return str(resolve(params_path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return scrub_paths(str(params_path), machine_roots({}))


def command(params_path, numbers_from=None, numbers_to=None) -> str:
    """The ``run_all.sh`` call that runs these stages of a profile."""
    return " ".join(["bash run_all.sh --params", profile_file(params_path)]
                    + (["--from", numbers_from] if numbers_from else []) + (["--to", numbers_to] if numbers_to else []))


def read_run(path) -> dict:
    """A profile's run.json (:func:`record_stage`'s form); empty parts when it does not exist. A run.json written
    before per-stage records (``stage_seconds``) gives each stage its seconds only."""
    path = Path(path)
    if not path.is_file():
        return {"stages": {}}
    try:
        run = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KitError(f"{path}: not valid JSON ({exc}); delete it and the next run writes it again") from None
    if "stages" not in run:  # the form of earlier kits: one record of the last call
        run = {"params": run.get("params"),
               "stages": {name: {"seconds": t} for name, t in run.get("stage_seconds", {}).items()}}
    return run


def record_stage(run_path, params_path, notebook: str, entry: dict, call: list[str]) -> dict:
    """Write one stage's ``entry`` into ``run_path`` (run.json), keeping every other stage's entry (of stages that
    still exist) and naming ``call`` (the stages of this call so far) as ``last_call``; returns the record."""
    run = read_run(run_path)
    known = {s.notebook for s in registry.STAGES}
    stages = {name: e for name, e in run["stages"].items() if name in known}
    stages[notebook] = entry
    run = {"params": profile_file(params_path), "stages": dict(sorted(stages.items())),
           "last_call": {"stages": list(call), "finished": entry["finished"]}}
    atomic_write_json(run_path, run)
    return run


def scrub_notebook_file(ipynb) -> None:
    """Rewrite an executed notebook without the machine's paths (papermill's input and output paths, any in its
    outputs), so the committed ``.ipynb`` can be shared as its HTML is."""
    import nbformat

    nb = nbformat.read(str(ipynb), as_version=4)
    atomic_write_text(ipynb, nbformat.writes(scrub_notebook_paths(nb)))


def run_profile(params_path: str, numbers_from=None, numbers_to=None) -> dict:
    """Execute the selected stages of a profile; return ``{notebook: seconds}``. Raises KitError on failure.

    Each finished stage's entry in run.json is written as soon as it finishes (:func:`record_stage`)."""
    import papermill

    profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
    chosen = select(numbers_from, numbers_to)
    if not chosen:
        raise KitError(f"no stage notebook between --from {numbers_from} and --to {numbers_to}")
    first = profile[chosen[0].key]
    reports = profile_reports_dir(first)
    reports.mkdir(parents=True, exist_ok=True)
    call = command(params_path, numbers_from, numbers_to)
    timings = {}
    for s in chosen:
        p = profile[s.key]
        out = reports / f"{s.notebook}.ipynb"
        log.info("=== stage %s (%s) -> %s", s.number, s.notebook, out)
        facts = machine.run_facts()
        start = time.time()
        try:
            papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{s.notebook}.ipynb"), str(out),
                                       parameters=p, kernel_name=KERNEL, cwd=str(REPO_ROOT / "notebooks"),
                                       progress_bar=False, log_output=False)
        except papermill.PapermillExecutionError as exc:
            scrub_notebook_file(out)
            render_html(out, p["share_safe"])
            raise KitError(f"stage {s.notebook} failed: {exc.ename}: {exc.evalue}\n"
                           f"  the executed notebook with the error: {out}") from None
        end = time.time()
        timings[s.notebook] = round(end - start, 1)
        scrub_notebook_file(out)
        html = render_html(out, p["share_safe"])
        record_stage(reports / "run.json", params_path, s.notebook,
                     {"command": call, **facts, "started": _utc(start), "finished": _utc(end),
                      "seconds": timings[s.notebook]}, list(timings))
        log.info("=== stage %s done in %.1f s: %s", s.number, timings[s.notebook], html)
    metrics_path = reports / "metrics.json"
    if metrics_path.is_file():
        log.info("metrics: %s", json.dumps(json.loads(metrics_path.read_text()), sort_keys=True))
    return timings


def needs_intel(params_path: str, numbers_from=None, numbers_to=None) -> str:
    """What the selected stages ask of .venv-intel (the backends that live there: :mod:`.core.backend_table`):
    ``"required"`` (stage 06 transcribes with such a backend and cannot run without it), ``"optional"`` (stage 07
    measures such backends, of the acoustic model or of wav2vec 2.0: without it they are skipped, the report saying
    why and how to add them) or ``"no"``."""
    profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
    keys = {s.key for s in select(numbers_from, numbers_to)}

    def intel(names) -> bool:
        return any(backend_table.environment(n) == backend_table.INTEL for n in names if n in backend_table.TABLE)

    if "inference" in keys and "inference" in profile and intel([profile["inference"]["backend"]]):
        return "required"
    bench = profile["benchmark"] if "benchmark" in keys and "benchmark" in profile else {}
    return "optional" if intel([*bench.get("backends", []), *bench.get("w2v2_backends", [])]) else "no"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/demo.yaml", help="profile YAML (default: params/demo.yaml)")
    parser.add_argument("--from", dest="numbers_from", help="first stage number, e.g. 02")
    parser.add_argument("--to", dest="numbers_to", help="last stage number, e.g. 04")
    parser.add_argument("--needs-intel", action="store_true", help="only print required/optional/no: what the run asks of .venv-intel")
    parser.add_argument("--reports-dir", action="store_true", help="only print where the profile's reports go")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    if args.reports_dir:
        common = next(iter(load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES}).values()))
        reports = profile_reports_dir(common)
        print(reports.relative_to(REPO_ROOT) if reports.is_relative_to(REPO_ROOT) else reports)
        return 0
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
