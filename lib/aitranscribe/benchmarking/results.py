"""Benchmark results: statistics of timed samples, the equal-output check, tables, speedups and the roofline note.
Pure functions of a benchmark summary (``arms``: per arm its PER, torch version and per batch size its timings)."""
from __future__ import annotations

import time

import numpy as np

from ..core.errors import KitError


def summarize(samples: list[float]) -> dict:
    """Median, quartiles and p90 (seconds) of timed samples."""
    a = np.asarray(samples, dtype=np.float64)
    return {"median": float(np.median(a)), "q1": float(np.percentile(a, 25)), "q3": float(np.percentile(a, 75)),
            "p90": float(np.percentile(a, 90)), "n": len(a)}


def timed(fn, repeats: int, warmup: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` discarded calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


class ArmPers(dict):
    """``{arm: test PER}``: a plain dict, shown in a notebook as a table in percent."""

    def _repr_html_(self) -> str:
        import pandas as pd

        return pd.DataFrame({"test PER (%)": {arm: round(100 * v, 2) for arm, v in self.items()}}).to_html()


def check_equal_per(summary: dict, tolerance: float, int8_tolerance: float) -> ArmPers:
    """Every arm's test PER against eager's (``int8_tolerance`` for int8); KitError before any speedup is shown."""
    eager = summary["arms"]["eager"]["per"]
    pers = {arm: r["per"] for arm, r in summary["arms"].items()}
    bad = {arm: v for arm, v in pers.items() if abs(v - eager) > (int8_tolerance if arm == "int8" else tolerance)}
    if bad:
        raise KitError(f"arms whose PER differs from eager's {eager:.4f} by more than {tolerance} "
                       f"({int8_tolerance} for int8): {bad}")
    return ArmPers({arm: round(v, 4) for arm, v in pers.items()})


def machine_table(summary: dict):
    """Where the benchmark ran: CPU model, cores, frequency, memory, vector extensions, binding, threads, arms
    skipped and why, and the kit's commit; a one-column table."""
    import pandas as pd

    m = summary["machine"]
    skipped = summary.get("skipped") or {}
    rows = {"CPU": m.get("model"), "cores": m.get("cores"),
            "max frequency (GHz)": round(m["max_mhz"] / 1000, 2) if m.get("max_mhz") else None,
            "memory (GB)": m.get("memory_gb"), "vector extensions": ", ".join(m.get("flags", [])) or None,
            "binding": summary.get("binding"), "threads per arm": summary.get("threads"),
            "arms not run": "; ".join(f"{arm}: {why}" for arm, why in skipped.items()) or "none",
            "kit commit": (m.get("git_sha") or "")[:12] or None}
    return pd.DataFrame({"machine": {k: v for k, v in rows.items() if v is not None}}, dtype=object)


def table(summary: dict):
    """Absolute numbers: per arm and batch size, median/q1/q3/p90 latency (ms), utterances/s, audio-s/s, GFLOP/s."""
    import pandas as pd

    rows = []
    for arm, r in summary["arms"].items():
        for bs, g in r["model"].items():
            rows.append({"arm": arm, "torch": r["torch"], "batch": int(bs), "median_ms": 1000 * g["median"],
                         "q1_ms": 1000 * g["q1"], "q3_ms": 1000 * g["q3"], "p90_ms": 1000 * g["p90"],
                         "utt_per_s": int(bs) / g["median"], "audio_s_per_s": g["audio_seconds"] / g["median"],
                         "gflops": g["flops"] / g["median"] / 1e9, "per": r["per"]})
    return pd.DataFrame(rows).set_index(["arm", "batch"]).round(3)


def speedups(summary: dict, reference: str = "eager") -> dict:
    """Median-latency ratio reference/arm per batch size, with a spread from the quartiles."""
    ref = summary["arms"][reference]["model"]
    out = {}
    for arm, r in summary["arms"].items():
        base = summary["arms"]["stock-2.8"]["model"] if arm == "ipex" and "stock-2.8" in summary["arms"] else ref
        for bs, g in r["model"].items():
            out[(arm, int(bs))] = {"speedup": base[bs]["median"] / g["median"],
                                   "low": base[bs]["q1"] / g["q3"], "high": base[bs]["q3"] / g["q1"]}
    return out


def roofline_note(summary: dict):
    """Achieved GFLOP/s of the acoustic model against the nominal fp32 peak (AVX2: 32 flops per cycle and core, AVX-512:
    64), as Markdown text (its ``.data`` is the string)."""
    from IPython.display import Markdown

    best = max((g["flops"] / g["median"] / 1e9, arm, bs) for arm, r in summary["arms"].items()
               for bs, g in r["model"].items())
    ghz = summary["machine"].get("max_mhz", 0) / 1000
    text = f"Best acoustic-model throughput: {best[0]:.1f} GFLOP/s ({best[1]}, batch {best[2]})."
    if ghz:
        flops_per_cycle = 64 if any(f.startswith("avx512f") for f in summary["machine"].get("flags", [])) else 32
        peak = flops_per_cycle * ghz * summary["threads"]
        text += (f" Nominal fp32 peak of {summary['threads']} core(s) at {ghz:.2f} GHz with {flops_per_cycle} "
                 f"flops/cycle: {peak:.0f} GFLOP/s, so {100 * best[0] / peak:.0f}% of peak.")
    return Markdown(text + (" The model is small (the GAN's generator is one convolution of kernel 4, the frame "
                            "classifier two Linear layers): at small batches its time is call overhead and memory "
                            "traffic, not arithmetic."))
