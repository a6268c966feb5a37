"""Issue 34, item 3: one run of a profile for the stability record, appended to ``reports/stability/runs.jsonl``.

    .venv/bin/python tools/research/stability_run.py --base params/demo.yaml --corpus-seed 2 --training-seed 1 \
        [--precision auto|fp32|bf16] [--held-out] [--speaker-source metadata]
    .venv/bin/python tools/research/stability_run.py --from-reports reports/demo --corpus-seed 0   # a run done

With ``--from-reports`` nothing runs: the row is made from a profile run already reported there (its metrics.json,
run.json and stage 05's summary), e.g. the committed demo run, so the stability record does not train it again.

The run is the profile ``--base`` with ``common.seed`` = the corpus seed (the demo corpus built with it: sentences
and voice assignment), ``train.decipher.training_seed`` = the training seed (every chain seed shifted, nothing
else) and ``train.decipher.precision``; its data live in ``data/<profile>`` where ``<profile>`` is the base's name
for the base's own seed and ``<base>-seed<N>`` otherwise, so stages 01-04 (and 03) are reused across training seeds
and precisions by their done-markers, and stage 05-06 outputs are kept apart by their hashes. Stages 01-06 run
through the notebooks (the pipeline), their reports into ``data/stability-reports/`` (never the committed
``reports/``); the report-only extras that cost minutes and decide nothing (03's CTC probe, 05's supervised
reference, 06's reference points and pocketsphinx) are switched off.

The row (:func:`aitranscribe.results_doc.stability_record`'s fields, appended through
:func:`~aitranscribe.results_doc.append_stability_run`, so docs/results.md shows it): corpus seed, training seed,
precision (resolved), CPU model, commit (``+dirty`` when the work tree differs), test PER and WER under their
metrics.json keys (stage 06: phone graph and word graph; the only place test is read), the training's
``train.seconds``; the base profile's settings (:func:`aitranscribe.results_doc.profile_settings`: the record holds
one set); and the selection (chain and round, label-free), the valid PER of that round (report-only), the
load average seen during the run (``machine_busy`` when above the cores' count plus a half) and when it ran.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from _rows import append_row


REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS = "data/stability-reports"


def derived_profile(base: dict, base_name: str, corpus_seed: int, training_seed: int, precision: str,
                    speaker_source: str | None = None) -> dict:
    """The base profile's sections with the run's seeds and precision (and ``features.speaker_source`` when
    given), its reports out of ``reports/``."""
    out = json.loads(json.dumps(base))
    own_seed = int(base.get("common", {}).get("seed", 0))
    name = base_name if corpus_seed == own_seed else f"{base_name}-seed{corpus_seed}"
    if speaker_source:
        out.setdefault("features", {})["speaker_source"] = speaker_source
    out.setdefault("common", {}).update({"profile": name, "seed": corpus_seed, "reports_dir": REPORTS})
    train = out.setdefault("train", {})
    train["decipher"] = {**train.get("decipher", {}), "training_seed": training_seed, "precision": precision}
    train["supervised_epochs"] = 0
    out.setdefault("features", {})["probe_epochs"] = 0
    out.setdefault("inference", {})["references"] = False
    return out


def commit() -> str:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "lib", "params"], cwd=REPO_ROOT,
                           capture_output=True, text=True).stdout.strip()
    return sha + ("+dirty" if dirty else "")


class LoadWatch:
    """The 1-minute load average sampled every ``every`` seconds while a run lasts."""

    def __init__(self, every: float = 30.0):
        self.samples, self.every, self._stop = [os.getloadavg()[0]], every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _selection(data_dir: Path) -> dict:
    """The training's label-free selection (chain and round), its rounds and that round's valid PER (report-only)."""
    from aitranscribe.models import decipher

    summary = json.loads((Path(json.loads((data_dir / "stages" / "train.json").read_text())["dir"])
                          / "summary.json").read_text())
    chosen = next(r for r in summary["rounds"] if decipher.round_name(r) == summary["run"])
    return {"selected": summary["run"], "rounds": len(summary["rounds"]),
            "ensemble_k": decipher.ensemble_k(summary),
            "per_valid_report_only": chosen.get("per_valid_report_only")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="params/demo.yaml")
    ap.add_argument("--corpus-seed", type=int, required=True)
    ap.add_argument("--training-seed", type=int, default=0)
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--held-out", action="store_true", help="mark the row as a held-out corpus (settings final)")
    ap.add_argument("--speaker-source", choices=("clusters", "metadata"),
                    help="override features.speaker_source (metadata: the report-only row of what names would add)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY[.KEY]=VALUE",
                    help="a setting under trial (YAML value), e.g. train.decipher.continued_chains=2; the row goes "
                         "to reports/research/<--research>.jsonl, never into the stability record")
    ap.add_argument("--research", help="with --set: the research file's name")
    ap.add_argument("--reuse-chains-from", type=Path,
                    help="a stage-05 directory of the same corpus and training seed whose chains' finished rounds are "
                         "copied in first (the kit resumes them: a finished round is never redone), e.g. after a "
                         "change of settings that leaves those rounds as they were; the row's train.seconds is then "
                         "left blank (it timed only the rounds not reused)")
    ap.add_argument("--without-word-rounds", action="store_true",
                    help="with --reuse-chains-from: copy the chains' phone rounds only (after a change of settings "
                         "that changes the word rounds)")
    ap.add_argument("--from-reports", type=Path, help="make the row from this profile's reports, run nothing")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe import results_doc
    from aitranscribe.core.logs import setup_logging

    setup_logging("INFO")
    if args.from_reports:
        reports = args.from_reports.resolve()
        name = reports.name
        row = results_doc.stability_record(reports, args.corpus_seed, args.training_seed)
        settings = results_doc.profile_settings(REPO_ROOT / "params" / f"{name}.yaml")
        row.update({"base": f"{name}.yaml", "held_out": args.held_out, **_selection(REPO_ROOT / "data" / name),
                    "settings": settings, "note": args.note or f"the {name} run reported in reports/{name}"})
        print(json.dumps(row, indent=1))
        results_doc.append_stability_run(row, REPO_ROOT / "reports")
        return 0
    base_path = Path(args.base)
    base = yaml.safe_load(base_path.read_text()) or {}
    profile = derived_profile(base, base.get("common", {}).get("profile", base_path.stem), args.corpus_seed,
                              args.training_seed, args.precision, args.speaker_source)
    if bool(args.set) != bool(args.research):
        ap.error("--set and --research go together: a trial's rows are research, not the stability record")
    changed = {}
    for item in args.set:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = profile
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = changed[key] = yaml.safe_load(value)
    name = profile["common"]["profile"]
    source = f"-{args.speaker_source}" if args.speaker_source else ""
    trial = f"-{args.research}" if args.research else ""
    path = REPO_ROOT / "data" / "profiles" / f"{name}-t{args.training_seed}-{args.precision}{source}{trial}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    sha, t0 = commit(), time.time()
    with stage_records_kept(REPO_ROOT / "data" / name):
        return _run(args, path, name, base_path, changed, sha, t0)


def _run(args, path: Path, name: str, base_path: Path, changed: dict, sha: str, t0: float) -> int:
    """Stages 01-06 of the derived profile at ``path``, then its row (the stability record, or research)."""
    from aitranscribe import pipeline, results_doc
    from aitranscribe.core import machine

    with LoadWatch() as watch:
        pipeline.run_profile(str(path), "01", "04")
        if args.reuse_chains_from:
            reuse_chains(args.reuse_chains_from, path, word_rounds=not args.without_word_rounds)
        pipeline.run_profile(str(path), "05", "06")
    metrics = json.loads((REPO_ROOT / REPORTS / name / "metrics.json").read_text())
    cores = machine.cores()
    row = {"corpus_seed": args.corpus_seed, "train_seed": args.training_seed,
           "precision": metrics.get("train.precision"), "cpu": machine.cpu().get("model"), "commit": sha,
           **{k: metrics.get(k) for k in results_doc.STABILITY_FIGURES},
           "base": base_path.name, "held_out": args.held_out, "cores": cores, **_selection(REPO_ROOT / "data" / name),
           "speaker_source": metrics.get("features.speaker_source"),
           "speakers_found": metrics.get("features.speakers_found"),
           "load_mean": round(sum(watch.samples) / len(watch.samples), 2), "load_max": round(max(watch.samples), 2),
           "machine_busy": max(watch.samples) > cores + 0.5, "wall_seconds": round(time.time() - t0, 1),
           "settings": results_doc.profile_settings(base_path), "note": args.note,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if args.reuse_chains_from:
        row.update({"reused_chains_from": args.reuse_chains_from.name, "train.seconds": None})
    if args.research:
        row["changed"] = changed
        append_row(REPO_ROOT / "reports" / "research" / f"{args.research}.jsonl", row)
        return 0
    print(json.dumps(row, indent=1))
    results_doc.append_stability_run(row, REPO_ROOT / "reports")
    return 0


@contextlib.contextmanager
def stage_records_kept(data_dir: Path):
    """The profile's stage records (``data_dir/stages/*.json``: which output each stage's last run made, read by
    ``--from``) put back as they were once the run ends, so a stability or research run sharing ``data/demo`` leaves
    ``bash run_all.sh --from 06`` on the demo's own training; records the run made where none was stay."""
    from aitranscribe.core.files import atomic_write_bytes

    before = {path: path.read_bytes() for path in (data_dir / "stages").glob("*.json")}
    try:
        yield
    finally:
        for path, content in before.items():
            if not path.is_file() or path.read_bytes() != content:
                atomic_write_bytes(path, content)


def _word_round(path: Path) -> bool:
    """Whether ``path`` is a round directory of word rounds (its round.json says labels: words)."""
    record = path / "round.json"
    return record.is_file() and json.loads(record.read_text()).get("labels") == "words"


def reuse_chains(source: Path, profile_path: Path, word_rounds: bool = True, target: Path | None = None) -> None:
    """Copy the chain directories of stage-05 directory ``source`` (the screening chains, the chain started from
    several chains and its cached choice) into the profile's own stage-05 directory (nothing already there is
    overwritten); without ``word_rounds``, the chains' word rounds and their acoustic scale are left out. ``target``: that directory, when
    known."""
    import shutil

    from aitranscribe.core import registry
    from aitranscribe.core.params import load_profile
    from aitranscribe.stages import train

    if target is None:
        p = load_profile(profile_path, {s.key: s.load().PARAMS for s in registry.STAGES})["train"]
        target = train.output_dir(p)
    target.mkdir(parents=True, exist_ok=True)
    for chain in sorted([*Path(source).glob("chain-seed*"), *Path(source).glob("ensemble-k*")]):
        if not (target / chain.name).exists():
            shutil.copytree(chain, target / chain.name,
                            ignore=None if word_rounds else
                            lambda folder, names: [n for n in names if n == "word_scale.json"  # chosen on the
                                                   or _word_round(Path(folder) / n)])  # word graph, with the rounds
    choice = Path(source) / "ensemble_start.json"
    if choice.is_file() and not (target / choice.name).exists():
        shutil.copy(choice, target / choice.name)
    print(f"reused the chains of {source} in {target}")


if __name__ == "__main__":
    sys.exit(main())
