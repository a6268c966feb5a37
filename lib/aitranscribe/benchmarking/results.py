"""Benchmark results: statistics of timed samples, the equal-output check, tables, speedups and the roofline note.
Pure functions of a benchmark summary (``arms``: per arm its PER, torch version and per batch size its timings), and
of the wav2vec 2.0 feature benchmark's summary (``w2v2_*``: per architecture and arm its timings and fidelity)."""
from __future__ import annotations

import time

import numpy as np

from ..core.errors import KitError
from ..core.machine import flops_per_cycle, peak_gflops


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
    eager = summary["backends"]["eager"]["per"]
    pers = {arm: r["per"] for arm, r in summary["backends"].items()}
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
    for arm, r in summary["backends"].items():
        for bs, g in r["model"].items():
            rows.append({"arm": arm, "torch": r["torch"], "batch": int(bs), "median_ms": 1000 * g["median"],
                         "q1_ms": 1000 * g["q1"], "q3_ms": 1000 * g["q3"], "p90_ms": 1000 * g["p90"],
                         "utt_per_s": int(bs) / g["median"], "audio_s_per_s": g["audio_seconds"] / g["median"],
                         "gflops": g["flops"] / g["median"] / 1e9, "per": r["per"]})
    return for_people(pd.DataFrame(rows).rename(columns={"arm": "backend"}).set_index(["backend", "batch"]))


def speedups(summary: dict, reference: str = "eager") -> dict:
    """Median-latency ratio reference/arm per batch size, with a spread from the quartiles."""
    ref = summary["backends"][reference]["model"]
    out = {}
    for arm, r in summary["backends"].items():
        base = summary["backends"]["stock-2.8"]["model"] if arm == "ipex" and "stock-2.8" in summary["backends"] else ref
        for bs, g in r["model"].items():
            out[(arm, int(bs))] = {"speedup": base[bs]["median"] / g["median"],
                                   "low": base[bs]["q1"] / g["q3"], "high": base[bs]["q3"] / g["q1"]}
    return out


def roofline_note(summary: dict):
    """Achieved GFLOP/s of the acoustic model against the nominal fp32 peak (AVX2: 32 flops per cycle and core, AVX-512:
    64), as Markdown text (its ``.data`` is the string)."""
    from IPython.display import Markdown

    best = max((g["flops"] / g["median"] / 1e9, arm, bs) for arm, r in summary["backends"].items()
               for bs, g in r["model"].items())
    info = summary["machine"]
    ghz = info.get("max_mhz", 0) / 1000
    text = f"Best acoustic-model throughput: {best[0]:.1f} GFLOP/s ({best[1]}, batch {best[2]})."
    if ghz:
        per_cycle = flops_per_cycle(info.get("flags", []), "fp32")
        peak = peak_gflops(info, "fp32", summary["threads"])
        text += (f" Nominal fp32 peak of {summary['threads']} core(s) at {ghz:.2f} GHz with {per_cycle} "
                 f"flops/cycle: {peak:.0f} GFLOP/s, so {100 * best[0] / peak:.0f}% of peak.")
    return Markdown(text + (" The model is small (the GAN's generator is one convolution of kernel 4, the frame "
                            "classifier two Linear layers): at small batches its time is call overhead and memory "
                            "traffic, not arithmetic."))


# ---------------------------------------------------------------------------------------------- wav2vec 2.0

def matmul_rates(summary: dict, arch: str) -> dict:
    """``{precision: GFLOP/s}`` one PyTorch matrix product reached at ``arch``'s feed-forward shape in the run (fp32,
    bf16, int8 in GOP/s); empty for a run made before the kit measured it."""
    measured = summary.get("gemm", {}).get(arch, {})
    return {prec: measured[prec]["gflops"] for prec in ("fp32", "bf16", "int8") if prec in measured}


def w2v2_rows(summary: dict) -> list[dict]:
    """One row per architecture, arm and batch size: median latency, x real time, speedup over the fp32 arm (and
    over stock-2.8 for the ipex arms), GFLOP/s, fraction of the peak of the arm's precision and of the measured
    rate of one matrix product (``gemm_fraction``; see :func:`matmul_rates`), fidelity against fp32
    (mean and lowest per-frame cosine, relative error), whether it passes the cosine bar, and how busy the machine
    was just before the arm started (``load_before``); an arm that did not run is one row saying why."""
    rows = []
    bar = summary["min_cosine"]
    wanted = ["fp32", *summary.get("params", {}).get("w2v2_backends", [])]  # the order the arms were asked for
    for arch, arms in summary["backends"].items():
        model = summary["models"][arch]
        ref = arms["fp32"]["batches"]
        rates = matmul_rates(summary, arch)
        for arm in sorted(arms, key=lambda a: wanted.index(a) if a in wanted else len(wanted)):
            r = arms[arm]
            fid = r.get("fidelity", {})
            for bs, g in r["batches"].items():
                gflops = model["flops"][bs]["total"] / g["median"]
                peak = summary["peaks"][r["precision"]]
                row = {"arch": arch, "layer": model["layer"], "arm": arm, "batch": int(bs), "precision": r["precision"],
                       "torch": r["torch"], "median_s": g["median"], "q1_s": g["q1"], "q3_s": g["q3"],
                       "x_realtime": g["x_realtime"], "speedup": ref[bs]["median"] / g["median"],
                       "gflops": gflops, "peak_fraction": gflops / peak if peak else float("nan"),
                       "gemm_fraction": gflops / rates[r["precision"]] if r["precision"] in rates else float("nan"),
                       "cosine_mean": fid.get("cosine_mean", float("nan")),
                       "cosine_min": fid.get("cosine_min", float("nan")),
                       "rel_error": fid.get("rel_error", float("nan")),
                       "passes": bool(fid) and fid["cosine_mean"] >= bar, "load_before": r.get("load_before"),
                       "weights": model["weights"], "status": "ran"}
                if arm.startswith("ipex") and "stock-2.8" in arms and bs in arms["stock-2.8"]["batches"]:
                    row["speedup_vs_stock_2.8"] = arms["stock-2.8"]["batches"][bs]["median"] / g["median"]
                rows.append(row)
        for arm, reason in summary["skipped"].get(arch, {}).items():
            rows.append({"arch": arch, "layer": model["layer"], "arm": arm, "weights": model["weights"],
                         "status": f"not run: {reason}"})
    return rows


# how the full tables show each column to people: (format, label); percentages for fractions; "—" where empty
_PEOPLE = {"median_ms": ("{:.1f}", "median (ms)"), "q1_ms": ("{:.1f}", "q1 (ms)"), "q3_ms": ("{:.1f}", "q3 (ms)"),
           "p90_ms": ("{:.1f}", "p90 (ms)"), "x_realtime": ("{:.1f}", "x real time"), "speedup": ("{:.2f}×", "speedup"),
           "speedup_vs_stock_2.8": ("{:.2f}×", "speedup vs stock-2.8"), "gflops": ("{:,.0f}", "GFLOP/s"),
           "peak_fraction": ("{:.1%}", "share of peak"), "gemm_fraction": ("{:.0%}", "share of one matmul"),
           "cosine_mean": ("{:.4f}", "cosine (mean)"), "cosine_min": ("{:.3f}", "cosine (min)"),
           "rel_error": ("{:.3f}", "rel. error"), "load_before": ("{:.0%}", "machine busy before"),
           "utt_per_s": ("{:.1f}", "utterances/s"), "audio_s_per_s": ("{:,.0f}", "audio s/s"), "per": ("{:.1%}", "PER")}


def for_people(table):
    """A table's numbers formatted for reading (:data:`_PEOPLE`: units in the headers, "—" where a figure is
    missing); the raw values stay in the stage's summary.json and raw/ files."""
    formats = {c: f for c, (f, _) in _PEOPLE.items() if c in table}
    labels = {c: label for c, (_, label) in _PEOPLE.items() if c in table}
    return table.style.format(formats, na_rep="—").format_index(str).relabel_index(
        [labels.get(c, c) for c in table.columns], axis=1)


def w2v2_table(summary: dict):
    """:func:`w2v2_rows` as a table indexed by architecture, backend and batch (times in ms), for people."""
    import pandas as pd

    table = pd.DataFrame(w2v2_rows(summary))
    for col in ("median_s", "q1_s", "q3_s"):
        if col in table:
            table[col] = 1000 * table[col]
    table = table.rename(columns={"median_s": "median_ms", "q1_s": "q1_ms", "q3_s": "q3_ms"})
    table["batch"] = table["batch"].astype("Int64") if "batch" in table else pd.NA
    order = ["precision", "median_ms", "q1_ms", "q3_ms", "x_realtime", "speedup", "speedup_vs_stock_2.8", "gflops",
             "peak_fraction", "gemm_fraction", "cosine_mean", "cosine_min", "rel_error", "passes", "load_before",
             "torch", "layer", "weights", "status"]
    table = table[["arch", "arm", "batch", *[c for c in order if c in table]]].rename(columns={"arm": "backend"})
    return for_people(table.set_index(["arch", "backend", "batch"]))


def w2v2_summary(summary: dict, batch: int = 1):
    """The question in one table: per wav2vec 2.0 architecture (columns) and backend (rows), x real time at
    ``batch`` with its speedup over fp32 eager; backends below the fidelity bar or not run are marked."""
    import pandas as pd

    cells = {}
    for row in w2v2_rows(summary):
        name = row["arch"].upper() if row["arch"] in ("base", "large") else row["arch"]
        if row["status"] != "ran":
            cells.setdefault(row["arm"], {})[name] = "not run"
        elif row["batch"] == batch:
            mark = "" if row["passes"] or row["arm"] == "fp32" else " (fails the fidelity bar)"
            cells.setdefault(row["arm"], {})[name] = f"{row['x_realtime']:.1f}x ({row['speedup']:.2f}× fp32){mark}"
    table = pd.DataFrame(cells).T.fillna("—")
    table.index.name = f"backend (batch {batch}: x real time, speedup)"
    return table


def w2v2_best(summary: dict, arch: str, batch: int = 1) -> dict | None:
    """The fastest arm of ``arch`` at ``batch`` among those passing the cosine bar (fp32 always does): its row."""
    rows = [r for r in w2v2_rows(summary) if r["arch"] == arch and r.get("batch") == batch and r.get("passes")]
    return max(rows, key=lambda r: r["x_realtime"]) if rows else None


def _key(name: str) -> str:
    return name.replace("-", "_").replace(".", "")


def w2v2_metrics(summary: dict) -> dict:
    """Flat figures: cpu_peak_gflops_<precision> (the bound cores), per architecture
    w2v2_<arch>_x_realtime_<arm> (batch 1), w2v2_<arch>_speedup_best (the fastest arm passing the cosine bar, over
    fp32, batch 1), w2v2_<arch>_best_backend and w2v2_<arch>_peak_fraction_best (that arm's fraction of its peak),
    w2v2_<arch>_gemm_gflops_<precision> (one matrix product's rate) and w2v2_<arch>_gemm_fraction_best (the best
    arm's fraction of it, when measured for its precision)."""
    out = {f"cpu_peak_gflops_{prec}": round(v, 1) for prec, v in summary["peaks"].items()}
    for arch, arms in summary["backends"].items():
        for prec, gflops in matmul_rates(summary, arch).items():
            out[f"w2v2_{arch}_gemm_gflops_{prec}"] = round(gflops, 1)
        for arm, r in arms.items():
            if "1" in r["batches"]:
                out[f"w2v2_{arch}_x_realtime_{_key(arm)}"] = round(r["batches"]["1"]["x_realtime"], 3)
        best = w2v2_best(summary, arch, 1)
        if best is not None:
            out[f"w2v2_{arch}_speedup_best"] = round(best["speedup"], 3)
            out[f"w2v2_{arch}_best_backend"] = best["arm"]
            out[f"w2v2_{arch}_peak_fraction_best"] = round(best["peak_fraction"], 4)
            if best["gemm_fraction"] == best["gemm_fraction"]:  # not NaN: measured for its precision
                out[f"w2v2_{arch}_gemm_fraction_best"] = round(best["gemm_fraction"], 4)
    return out


def w2v2_note(summary: dict):
    """What the table's peaks and weights are: the CPU, its clock and flags, the peak of each precision, the
    compute per second of audio of each architecture and where its weights came from; Markdown text (its ``.data``
    is the string), so that the report shows prose, not a quoted string."""
    from IPython.display import Markdown

    info = summary["machine"]
    flags = [f for f in info.get("flags", []) if f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
                                                        "amx_bf16", "amx_int8")]
    text = (f"{info.get('model', '?')}, {summary['threads']} bound core(s) at {info.get('max_mhz', 0) / 1000:.2f} GHz "
            f"(lscpu's max clock, or half the BogoMIPS when a VM hides it), flags {', '.join(flags) or 'none'}. "
            "Peak = cores x clock x operations per cycle and core: "
            + ", ".join(f"{prec} {flops_per_cycle(info.get('flags', []), prec)} -> {v:.0f} GFLOP/s"
                        for prec, v in summary["peaks"].items()) + ". ")
    for arch, m in summary["models"].items():
        f = next(iter(m["flops"].values()))
        per_second = f["total"] / (int(next(iter(m["flops"]))) * summary["audio"]["seconds_each"])
        text += (f"{arch} up to layer {m['layer']}: {per_second:.3g} GFLOP per second of audio "
                 f"(front end {f['conv'] / f['total']:.0%}); weights: {m['weights']}. ")
        rates = matmul_rates(summary, arch)
        if rates:
            shape = " x ".join(str(v) for v in summary["gemm"][arch]["shape"])
            text += (f"One PyTorch matrix product at its feed-forward shape ({shape}) reaches "
                     + ", ".join(f"{prec} {g:.0f} GFLOP/s ({g / summary['peaks'][prec]:.0%} of peak)"
                                 for prec, g in rates.items())
                     + " (the table's gemm_fraction is an arm's rate over its precision's; another library's "
                       "kernels can be faster still). ")
    return Markdown(text + (f"Fidelity: the layer's output against the fp32 arm's on the same "
                            f"{summary['audio']['waveforms']} waveforms of {summary['audio']['seconds_each']:g} s; an "
                            f"arm passes with a mean per-frame cosine >= {summary['min_cosine']}."))
