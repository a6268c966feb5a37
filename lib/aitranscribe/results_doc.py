"""docs/results.md and the README's status paragraph, generated from the committed reports, so that they cannot go
stale.

    python -m aitranscribe.results_doc            # write docs/results.md and README.md's status (between markers)
    python -m aitranscribe.results_doc --check    # exit 1 when either differs from what the reports say

Input: every committed ``reports/<profile>/metrics.json`` with its ``run.json`` (:mod:`aitranscribe.pipeline`), and
``reports/stability/runs.jsonl`` when present (one JSON line per training run, :func:`stability_record`). Output:
:data:`HEADER` (how to read the figures, no figure in it), a table of the headline figures of every profile, then
per profile how to make it, where and at which commit each stage ran, its key figures and every figure of its
metrics.json, and the stability runs with their median and range. Labels and rounding are the kit's
(:func:`~aitranscribe.core.metric_labels.label`, :func:`~aitranscribe.core.metric_labels.value_text`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from .core import metric_labels, registry
from .core.errors import KitError
from .core.files import atomic_write_text
from .core.params import load_profile, params_hash
from .core.paths import REPO_ROOT
from .pipeline import read_run

DOC = REPO_ROOT / "docs" / "results.md"
REPORTS = REPO_ROOT / "reports"
STABILITY = Path("stability") / "runs.jsonl"  # below the reports directory
SUPERSEDED = Path("stability") / "superseded.jsonl"  # runs at profile settings changed since: kept, not the record
COMMAND = "PYTHONPATH=lib .venv/bin/python -m aitranscribe.results_doc"

HEADER = f"""# Results

Generated from the committed `reports/<profile>/metrics.json` and `run.json` (and `reports/stability/runs.jsonl`)
by `{COMMAND}`; do not edit it by hand: a test regenerates it and fails when it
differs. How the methods work: [methods.md](methods.md); how the figures came about, earlier figures and what was
tried: [research.md](research.md); scaling out: [scale.md](scale.md).

**How to read the figures.** Error rates are on each profile's test split. The method never sees a transcript or a
speaker label to train or to select: figures marked *report-only* use the references or a supervised model only to
put the label-free figures in context. "Times real time" is seconds of audio per second of computing on the cores
named beside the figure; a machine shared with other jobs reads slower, and a virtual machine's speed drifts
within minutes, so compare speeds measured side by side (research.md says how each was taken).

**Caveats.** The decipherment's chains follow the CPU's floating-point arithmetic: the same code and profile gives
other error rates on another CPU (and with another corpus or training seed), so compare figures from the same CPU
and read the stability runs for the spread. Each profile's section names the commit and the CPU every stage ran
at; stages of one profile may come from different commits (a later partial run replaces only its stages).
"""

# headline figures, in order; a tuple names one figure under several keys (the first one present is shown)
HEADLINE = (
    "inference.per", "inference.wer", "train.per_test", "inference.per_supervised_reference",
    "inference.wer_supervised_reference", "inference.wer_reference_phones", "features.probe_per",
    "inference.per_pocketsphinx", "inference.wer_pocketsphinx", "train.per_chance",
    "train.method", "train.seconds", "train.selected_seed", "train.selected_round",
    "data.n_utterances", "data.hours", "text.test_oov_rate_report_only",
    "benchmark.e2e_x_realtime_eager", "benchmark.e2e_x_realtime_eager_slowest_round",
    "benchmark.e2e_x_realtime_eager_fastest_round", "benchmark.e2e_best_backend",
    "benchmark.e2e_x_realtime", "benchmark.scale_x_realtime_2_workers",
    "benchmark.w2v2_large_best_backend", "benchmark.w2v2_large_speedup_best",
    "benchmark.w2v2_large_peak_fraction_best",
    "benchmark.w2v2_base_best_backend", "benchmark.w2v2_base_speedup_best",
)
SUMMARY = ("inference.per", "inference.wer", "inference.wer_supervised_reference", "train.method", "train.seconds",
           "benchmark.e2e_x_realtime_eager")
# the stability runs: what each line of runs.jsonl holds; the figures under their metrics.json keys
STABILITY_FIELDS = ("corpus_seed", "train_seed", "precision", "cpu", "commit")
STABILITY_FIGURES = ("inference.per", "inference.wer", "train.seconds")
RECONSTRUCTED = "†"


def committed_profiles(reports: Path) -> list[str]:
    """Profiles under ``reports`` with a metrics.json that git tracks (a local run of a git-ignored profile such as
    ``ci`` is left out); every profile with a metrics.json when ``reports`` is not in a git checkout."""
    found = sorted(p.parent.name for p in reports.glob("*/metrics.json"))
    try:
        listed = subprocess.run(["git", "ls-files", "--", "*/metrics.json"], cwd=reports, capture_output=True,
                                text=True)
    except OSError:
        return found
    if listed.returncode != 0:
        return found
    tracked = {Path(line).parent.name for line in listed.stdout.splitlines()}
    return [p for p in found if p in tracked]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KitError(f"{path}: not valid JSON ({exc})") from None


def _key(metrics: dict, names) -> str | None:
    """The first of ``names`` (one key or a tuple of a figure's old and new keys) that ``metrics`` holds."""
    names = (names,) if isinstance(names, str) else names
    return next((k for k in names if k in metrics), None)


def _stage_of(key: str) -> str:
    stage = registry.BY_KEY.get(key.split(".", 1)[0])
    return stage.notebook if stage else key.split(".", 1)[0]


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _cpu_text(cpu: dict | None) -> str:
    if not cpu:
        return "not recorded"
    flags = cpu.get("flags") or []
    shown = [f for f in flags if f.startswith("amx") or f == "avx512_bf16"] or flags
    return f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores" + (f" ({', '.join(shown)})" if shown else "")


def _versions_text(versions: dict | None) -> str:
    versions = versions or {}
    return " / ".join(versions.get(k) or "—" for k in ("python", "torch", "openvino"))


def _commit_text(entry: dict) -> str:
    commit = (entry.get("commit") or "")[:7] or "not recorded"
    return f"`{commit}` + uncommitted changes" if entry.get("dirty") else f"`{commit}`"


def _span(entries: list[dict]) -> str:
    start, end = entries[0].get("started"), entries[-1].get("finished")
    if not start or not end:
        return "not recorded"
    day, clock = start[:10], start[11:16]
    return f"{day} {clock}–{end[11:16]}" if end[:10] == day else f"{day} {clock} – {end[:10]} {end[11:16]}"


def provenance(run: dict) -> list[str]:
    """Markdown rows saying which command, commit, CPU and versions made each run of stages (consecutive stages
    with the same ones share a row)."""
    groups: list[tuple[tuple, list[str], list[dict]]] = []
    for name, entry in sorted(run.get("stages", {}).items()):
        facts = (entry.get("command"), entry.get("commit"), entry.get("dirty"), _cpu_text(entry.get("cpu")),
                 _versions_text(entry.get("versions")), bool(entry.get("reconstructed")))
        if groups and groups[-1][0] == facts:
            groups[-1][1].append(name)
            groups[-1][2].append(entry)
        else:
            groups.append((facts, [name], [entry]))
    rows = []
    for facts, names, entries in groups:
        numbers = names[0][:2] if len(names) == 1 else f"{names[0][:2]}-{names[-1][:2]}"
        seconds = sum(e.get("seconds") or 0 for e in entries)
        mark = RECONSTRUCTED if facts[-1] else ""
        rows.append([f"{numbers}{mark}", f"`{facts[0]}`" if facts[0] else "not recorded", _commit_text(entries[0]),
                     _span(entries), f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min", facts[3],
                     facts[4]])
    return _table(["stages", "command", "commit", "ran (UTC)", "time", "CPU", "Python / torch / OpenVINO"], rows)


def _headline_rows(metrics: dict) -> list[list[str]]:
    rows = []
    for names in HEADLINE:
        key = _key(metrics, names)
        if key is not None:
            rows.append([_stage_of(key), metric_labels.label(key), metric_labels.value_text(key, metrics[key])])
    return rows


def summary_table(profiles: dict[str, dict]) -> list[str]:
    """Markdown table of :data:`SUMMARY`'s figures, one column per profile, with the CPU that trained each."""
    rows = []
    for names in SUMMARY:
        keys = {p: _key(d["metrics"], names) for p, d in profiles.items()}
        shown = next((k for k in keys.values() if k), None)
        if shown is None:
            continue
        rows.append([_stage_of(shown), metric_labels.label(shown)]
                    + [metric_labels.value_text(k, profiles[p]["metrics"][k]) if k else "—" for p, k in keys.items()])
    train = registry.info("train").notebook
    rows.append(["", f"CPU of {train}"] + [_cpu_text(d["run"]["stages"].get(train, {}).get("cpu")) for d in
                                           profiles.values()])
    return _table(["stage", "figure", *(f"[{p}](#{p})" for p in profiles)], rows)


def profile_section(name: str, metrics: dict, run: dict) -> list[str]:
    """Markdown of one profile: how to make it, where each stage ran, its key figures, every figure."""
    params = run.get("params") or f"params/{name}.yaml"
    lines = [f'<a id="{name}"></a>', f"## {name} (`{params}`)", "",
             f"Reports: [`reports/{name}/`](../reports/{name}/). To make them: "
             f"`bash run_all.sh --params {params}`.", "",
             "Where and at which commit each stage's report was made (`run.json`):", "", *provenance(run)]
    if any(e.get("reconstructed") for e in run.get("stages", {}).values()):
        lines += ["", f"{RECONSTRUCTED} Run before run.json recorded each stage: reconstructed from the history of "
                  "run.json and the notebooks' own times (what is not known is left blank; `run.json` says how)."]
    lines += ["", "Key figures:", "", *_table(["stage", "figure", "value"], _headline_rows(metrics)), "",
              f"<details><summary>Every figure of <code>reports/{name}/metrics.json</code></summary>", "",
              *_table(["figure", "value"], [list(r) for r in metric_labels.rows(metrics)]), "", "</details>"]
    return lines


def stability_record(profile_dir: Path, corpus_seed: int, train_seed: int) -> dict:
    """One line of runs.jsonl for the profile whose reports are in ``profile_dir``: :data:`STABILITY_FIELDS`
    (precision, CPU and commit of its training stage from metrics.json and run.json) and
    :data:`STABILITY_FIGURES` from its metrics.json."""
    metrics = _read_json(profile_dir / "metrics.json")
    entry = read_run(profile_dir / "run.json")["stages"].get(registry.info("train").notebook, {})
    missing = [k for k in STABILITY_FIGURES if k not in metrics]
    if missing:
        raise KitError(f"{profile_dir / 'metrics.json'}: no {', '.join(missing)}: run stages 05-06 first")
    return {"corpus_seed": corpus_seed, "train_seed": train_seed, "precision": metrics.get("train.precision"),
            "cpu": (entry.get("cpu") or {}).get("model"), "commit": entry.get("commit"),
            **{k: metrics[k] for k in STABILITY_FIGURES}}


def profile_settings(path) -> str:
    """A short hash of the settings the profile file ``path`` resolves to: its values over the stages' defaults (a
    changed default changes it too), not its comments, not the benchmark's section (it moves no figure of the
    record), not a setting under trial at its neutral value (:func:`aitranscribe.models.without_neutral`), not a
    parameter added after outputs were built while it holds its as-before value (a stage's
    :class:`~aitranscribe.core.stage.left_out_as_before`). A stability run records the settings of the base profile
    it varied, and the record holds runs of one set of settings only."""
    from .core.stage import left_out_as_before
    from .models import without_neutral

    modules = {s.key: s.load() for s in registry.STAGES}
    resolved = load_profile(path, {key: module.PARAMS for key, module in modules.items()})
    resolved["train"] = {**resolved["train"], **without_neutral(resolved["train"])}
    for key, module in modules.items():
        rule = getattr(getattr(module, "STAGE", None), "report_only", None)
        if isinstance(rule, left_out_as_before):
            resolved[key] = {k: v for k, v in resolved[key].items() if k not in rule(resolved[key])}
    return params_hash({key: section for key, section in resolved.items() if key != "benchmark"})


def append_stability_run(record: dict, reports: Path = REPORTS) -> Path:
    """Append ``record`` (:func:`stability_record`) as one line of ``reports/stability/runs.jsonl``."""
    path = reports / STABILITY
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def read_stability(path: Path) -> list[dict]:
    """The runs of runs.jsonl; a clear error naming the line when one lacks a field, or the lines of each set of
    profile settings when they are not all one."""
    runs, lines = [], {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KitError(f"{path}, line {number}: not valid JSON ({exc})") from None
        missing = [k for k in (*STABILITY_FIELDS, *STABILITY_FIGURES) if k not in run]
        if missing:
            raise KitError(f"{path}, line {number}: no {', '.join(missing)}")
        runs.append(run)
        lines.setdefault(run.get("settings"), []).append(number)
    if len(lines) > 1:
        listed = "; ".join(f"{key or 'not recorded'} on line(s) {', '.join(map(str, n))}" for key, n in lines.items())
        raise KitError(f"{path} mixes profile settings ({listed}): the record is the runs of one set of settings; "
                       f"move the runs at earlier settings to {path.parent / SUPERSEDED.name}")
    return runs


def _range(key: str, values: list) -> float | int:
    """max - min of ``values``; training times in whole seconds, as their column shows them (a range of 8.6 s
    read "8.60" under times of "1,720")."""
    spread = max(values) - min(values)
    return round(spread) if key == "train.seconds" else spread


def stability_section(runs: list[dict]) -> list[str]:
    """Markdown table of the stability runs, one row per run, and per corpus seed (and over all runs when there
    are several corpora) the median and the range (max - min) of each figure."""
    def figures(group):  # a training time measured on a busy machine is no training time
        return [[r[k] for r in group if r[k] is not None and not (k == "train.seconds" and r.get("machine_busy"))]
                for k in STABILITY_FIGURES]

    def shown(r, k):
        text = metric_labels.value_text(k, r[k])
        return f"{text} (busy)" if k == "train.seconds" and r.get("machine_busy") and r[k] is not None else text

    def summary(label, group):
        columns = figures(group)
        median = [metric_labels.value_text(k, statistics.median(v)) if v else "—"
                  for k, v in zip(STABILITY_FIGURES, columns)]
        spread = [metric_labels.value_text(k, _range(k, v)) if v else "—" for k, v in zip(STABILITY_FIGURES, columns)]
        return [[f"**{label}: median**", "", "", "", "", *median], [f"{label}: range (max − min)", "", "", "", "",
                                                                     *spread]]

    rows = []
    ordered = sorted(runs, key=lambda r: (str(r["corpus_seed"]), str(r["train_seed"]), str(r["precision"])))
    seeds = list(dict.fromkeys(r["corpus_seed"] for r in ordered))
    for seed in seeds:
        group = [r for r in ordered if r["corpus_seed"] == seed]
        rows += [[f'{r["corpus_seed"]}{" (held out)" if r.get("held_out") else ""}', r["train_seed"], r["precision"] or "—", r["cpu"] or "—",
                  f"`{(r['commit'] or '')[:7]}{'+dirty' if str(r['commit']).endswith('+dirty') else ''}`",
                  *(shown(r, k) for k in STABILITY_FIGURES)]
                 for r in group]
        if len(group) > 1:
            rows += summary(f"corpus seed {seed}", group)
    if len(seeds) > 1:
        rows += summary("all runs", ordered)
    head = ["corpus seed", "training seed", "precision", "CPU", "commit",
            *(metric_labels.label(k) for k in STABILITY_FIGURES)]
    return ["## Stability: the same profile over seeds and precisions", "",
            f"`reports/stability/runs.jsonl`, {len(runs)} run{'' if len(runs) == 1 else 's'}: each trained and "
            "transcribed the same profile, "
            "differing only in the seeds and the precision shown. A held-out corpus was built with a seed fixed "
            "before any run on it, after the settings were final. A training time marked *busy* was measured "
            "beside other jobs (load above the cores) and is left out of the medians; a run that resumed the "
            "finished rounds of an earlier run (`reused_chains_from`) has none. A commit marked *+dirty* ran with "
            "uncommitted changes in `lib/` or `params/`.", "", *_table(head, rows)]


def _by_speaker_source(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """The stability runs on voice clusters (the record), and those normalised per the corpus's speaker names
    (report-only, kept out of every median)."""
    named = [r for r in runs if r.get("speaker_source") == "metadata"]
    return [r for r in runs if r.get("speaker_source") != "metadata"], named


def metadata_section(runs: list[dict], named: list[dict]) -> list[str]:
    """Report-only table of the runs normalised per the corpus's speaker names (``speaker_source: metadata``)
    beside the run with the same seeds and precision on voice clusters, when there is one."""
    def key(r):
        return r["corpus_seed"], r["train_seed"], r["precision"]

    clusters = {key(r): r for r in runs}
    rows = []
    for r in sorted(named, key=lambda r: (str(r["corpus_seed"]), str(r["train_seed"]))):
        other = clusters.get(key(r))
        rows.append([r["corpus_seed"], r["train_seed"], r["precision"] or "—",
                     *(metric_labels.value_text(k, r[k]) for k in ("inference.per", "inference.wer")),
                     *((metric_labels.value_text(k, other[k]) for k in ("inference.per", "inference.wer")) if other
                       else ("—", "—")),
                     f"{100 * (other['inference.wer'] - r['inference.wer']):+.1f} points" if other else "—"])
    head = ["corpus seed", "training seed", "precision", "test PER, names", "test WER, names",
            "test PER, clusters", "test WER, clusters", "WER the names save"]
    return ["### Report-only: what the corpus's speaker names would add", "",
            "The same runs with speakers normalised per the corpus's synthesis voice names (`speaker_source: "
            "metadata`, an oracle a user does not have) instead of the voice clusters found in the audio. "
            "Not part of the medians above.", "", *_table(head, rows)]


def render(reports: Path = REPORTS, profiles: list[str] | None = None) -> str:
    """The text of docs/results.md from the reports under ``reports`` (``profiles``: default
    :func:`committed_profiles`)."""
    names = committed_profiles(reports) if profiles is None else profiles
    data = {p: {"metrics": _read_json(reports / p / "metrics.json"), "run": read_run(reports / p / "run.json")}
            for p in names}
    lines = [HEADER.rstrip("\n"), ""]
    if data:
        lines += ["## Headline figures", "", *summary_table(data), ""]
    for name, d in data.items():
        lines += [*profile_section(name, d["metrics"], d["run"]), ""]
    if (reports / STABILITY).is_file():
        runs, named = _by_speaker_source(read_stability(reports / STABILITY))
        lines += [*stability_section(runs), ""]
        if (reports / SUPERSEDED).is_file():
            earlier = [line for line in (reports / SUPERSEDED).read_text().splitlines() if line.strip()]
            lines += [f"{len(earlier)} earlier run{'' if len(earlier) == 1 else 's'}, at profile settings changed "
                      f"since, {'is' if len(earlier) == 1 else 'are'} kept in `reports/{SUPERSEDED.as_posix()}` "
                      "(not in the figures above).", ""]
        if named:
            lines += [*metadata_section(runs, named), ""]
    return "\n".join(lines)


def status(reports: Path = REPORTS, profile: str = "demo") -> str:
    """The README's status paragraph: ``profile``'s test error rates, its supervised ceiling, training time and CPU,
    the stability runs of its corpus (median and range of the test WER, when there are several), of the other
    corpora and of the held-out ones, and its speeds, all from the committed reports."""
    m = _read_json(reports / profile / "metrics.json")
    run = read_run(reports / profile / "run.json")
    entry = run["stages"].get(registry.info("train").notebook, {})
    params = REPO_ROOT / str(run.get("params") or f"params/{profile}.yaml")
    corpus_seed = int((yaml.safe_load(params.read_text()) or {}).get("common", {}).get("seed", 0)) \
        if params.is_file() else 0
    cpu = entry.get("cpu") or {}
    pct = lambda key, value=None: metric_labels.value_text(key, m[key] if value is None else value)  # noqa: E731
    text = (f"on the embedded {profile} ({m['data.n_speakers']} synthetic espeak-ng voices, {m['data.hours']:.1f} h) "
            f"the label-free model reaches {pct('inference.per')} PER / {pct('inference.wer')} WER on test (trained "
            f"with labels: {pct('inference.wer_supervised_reference')}) on an {cpu.get('model', 'unrecorded CPU')}, "
            f"speakers found from the audio, {m['train.seconds'] / 60:.0f} min of training on {cpu.get('cores', '?')} "
            "cores")
    runs = _by_speaker_source(read_stability(reports / STABILITY))[0] if (reports / STABILITY).is_file() else []
    own = [r for r in runs if r["corpus_seed"] == corpus_seed and not r.get("held_out")
           and r.get("base", f"{profile}.yaml") == f"{profile}.yaml"]
    if len(own) > 1:
        wers = sorted(r["inference.wer"] for r in own)
        seeds = ", ".join(str(s) for s in sorted({r["train_seed"] for r in own}))
        precisions = " and ".join(sorted({str(r["precision"]) for r in own}))
        cpus = sorted({str(r["cpu"]) for r in own})
        machines = f"; {len(cpus)} CPUs: {', '.join(cpus)}" if len(cpus) > 1 else ""
        text += (f". Over {len(own)} training runs of this corpus (training seeds {seeds}; {precisions}{machines}) the "
                 f"test WER has median {pct('inference.wer', statistics.median(wers))}, range "
                 f"{pct('inference.wer', wers[0])}–{pct('inference.wer', wers[-1])}")
    other = [r for r in runs if r not in own and not r.get("held_out")]
    if other:
        wers = sorted(r["inference.wer"] for r in other)
        seeds = sorted({r["corpus_seed"] for r in other})
        corpora = (f"another corpus (corpus seed {seeds[0]})" if len(seeds) == 1 else
                   f"other corpora (corpus seeds {', '.join(str(c) for c in seeds)})")
        text += (f"; over {len(other)} run{'' if len(other) == 1 else 's'} on {corpora} "
                 + (f"median {pct('inference.wer', statistics.median(wers))}, range {pct('inference.wer', wers[0])}–"
                    f"{pct('inference.wer', wers[-1])}" if len(other) > 1 else pct("inference.wer", wers[0])) + " WER")
    held = [r for r in runs if r.get("held_out")]
    if held:
        wers = ", ".join(pct("inference.wer", r["inference.wer"]) for r in sorted(held, key=lambda r: r["corpus_seed"]))
        text += (f"; on {len(held)} {'corpus' if len(held) == 1 else 'corpora'} held out from all tuning (one run "
                 f"each): {wers} WER")
    large = _key(m, "benchmark.w2v2_large_best_backend")
    text += (f". End to end ~{m['benchmark.e2e_x_realtime_eager']:,.0f}x real time on one thread"
             + (f"; wav2vec 2.0 LARGE features {m['benchmark.w2v2_large_x_realtime_' + m[large].replace('-', '_')]:.0f}x"
                f" on {cpu.get('cores', '?')} cores ({m[large]})" if large else "") + ".")
    return f"**Status** ([docs/results.md](docs/results.md)): {text}"


README = REPO_ROOT / "README.md"
STATUS_START, STATUS_END = "<!-- status: generated by results_doc, do not edit -->", "<!-- /status -->"


def readme_with_status(readme: str, text: str) -> str:
    """``readme`` with the text between its status markers replaced by ``text``."""
    if STATUS_START not in readme or STATUS_END not in readme:
        raise KitError(f"README.md: no status markers ({STATUS_START} ... {STATUS_END})")
    head, rest = readme.split(STATUS_START, 1)
    return f"{head}{STATUS_START}\n{text}\n{STATUS_END}{rest.split(STATUS_END, 1)[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="only compare: exit 1 when docs/results.md or README's status is stale")
    args = parser.parse_args(argv)
    text = render()
    readme = readme_with_status(README.read_text(), status())
    if args.check:
        stale = [name for name, path, new in (("docs/results.md", DOC, text), ("README.md's status", README, readme))
                 if not path.is_file() or path.read_text() != new]
        if stale:
            print(f"{' and '.join(stale)} differ from the reports; regenerate: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    atomic_write_text(DOC, text)
    atomic_write_text(README, readme)
    print(f"wrote {DOC.relative_to(REPO_ROOT)} and README.md's status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
