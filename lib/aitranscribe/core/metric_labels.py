"""Short labels and readable values of the recorded metrics (``<stage>.<name>`` keys of ``metrics.json``), for the
key-figures table a report begins with and for the table :func:`~aitranscribe.core.reports.record_metrics` shows.

Each stage module declares its labels beside its ``metrics()``: ``LABELS`` (``{name: (label, PCT or PLAIN)}``, in
the order a reader wants them) and, for names made from a pattern, ``label_of(name) -> (label, kind) | None``;
``KEY_FIGURES`` optionally names the few figures its report shows first. A key without a label gets one made from
its name (``per_valid`` -> ``PER valid``), so a new metric is never left out; rates (PER, WER, fractions, purity)
are shown in percent.
"""
from __future__ import annotations

import re

from . import registry

PCT, PLAIN = "pct", "plain"
_WORDS = {"per": "PER", "wer": "WER", "uer": "UER", "ppl": "perplexity", "lm": "LM", "oov": "OOV", "bs": "batch",
          "e2e": "end to end", "n": "number of", "x": "times", "realtime": "real time", "report": "(report-only)"}
_BATCH = re.compile(r"^(?P<head>.+), batch (?P<batch>\d+)$")  # labels of one figure per batch size share a row


def _stage(key: str):
    """The stage module a metric key belongs to (by its prefix), or None."""
    stage = key.split(".", 1)[0]
    return registry.info(stage).load() if stage in registry.BY_KEY else None


def declared(key: str) -> tuple[str, str] | None:
    """``(label, kind)`` of ``key`` as its stage declares it, or None."""
    module, name = _stage(key), key.split(".", 1)[-1]
    if module is None:
        return None
    if name in getattr(module, "LABELS", {}):
        return module.LABELS[name]
    label_of = getattr(module, "label_of", None)
    return label_of(name) if label_of else None


def label(key: str) -> str:
    """A short label of metric ``key`` (``<stage>.<name>``)."""
    found = declared(key)
    if found:
        return found[0]
    words = key.split(".", 1)[-1].replace("report_only", "report").split("_")
    return " ".join(_WORDS.get(w, w) for w in words)


def is_rate(key: str) -> bool:
    """Whether the value of ``key`` is a rate shown in percent."""
    found = declared(key)
    if found:
        return found[1] == PCT
    name = key.split(".", 1)[-1]
    return bool(re.match(r"(per|wer|uer)(_|$)", name)) or name.endswith(("_fraction", "purity", "oov_rate"))


def value_text(key: str, value) -> str:
    """``value`` of metric ``key`` as shown: rates in percent, large numbers with thousands separators."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and is_rate(key):
        pct = 100 * value
        return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):  # rounded for people: the raw figure stays in metrics.json
        size = abs(value)
        return (f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 1
                else f"{value:.2g}")
    return str(value)


def order(stage: str) -> list[str]:
    """The metric keys stage ``stage`` declares, in its order (for sorting a report's figures)."""
    module = registry.info(stage).load() if stage in registry.BY_KEY else None
    return [f"{stage}.{name}" for name in getattr(module, "LABELS", {})]


def key_figures(stage: str, metrics: dict) -> dict:
    """The figures of ``metrics`` a report of ``stage`` shows first: its ``KEY_FIGURES`` when it declares them
    (patterns allowed, e.g. ``w2v2_*_best_backend``; in that order), else all of them in its ``LABELS``' order."""
    module = registry.info(stage).load() if stage in registry.BY_KEY else None
    wanted = getattr(module, "KEY_FIGURES", None)
    if not wanted:
        rank = {k: i for i, k in enumerate(order(stage))}
        return dict(sorted(metrics.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    patterns = [re.compile("^" + re.escape(f"{stage}.{w}").replace(r"\*", r"[^.]*") + "$") for w in wanted]
    ranked = [(next((i for i, pat in enumerate(patterns) if pat.match(k)), None), k) for k in metrics]
    return {k: metrics[k] for i, k in sorted((i, k) for i, k in ranked if i is not None)}


def rows(metrics: dict) -> list[tuple[str, str]]:
    """``(label, value)`` of every metric in ``metrics`` in its order; figures whose labels differ only in their
    batch size (``..., batch N``) share a row (``1.48× (batch 1), 0.33× (batch 8)`` for speedups)."""
    out, batches = [], {}
    for key, value in metrics.items():
        name = label(key)
        if (m := _BATCH.match(name)) and isinstance(value, (int, float, type(None))) and "speedup" in name:
            head = m["head"]
            if head not in batches:
                batches[head] = []
                out.append((head, batches[head]))
            batches[head].append((int(m["batch"]), value))
            continue
        out.append((name, value_text(key, value)))
    return [(name, ", ".join(f"{v:.2f}× (batch {b})" if isinstance(v, (int, float)) else f"— (batch {b})"
                             for b, v in sorted(value)) if isinstance(value, list) else value)
            for name, value in out]
