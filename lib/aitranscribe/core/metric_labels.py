"""Short labels and readable values of the recorded metrics (``<stage>.<name>`` keys of ``metrics.json``), for the
key-figures table a report begins with and for the table :func:`~aitranscribe.core.reports.record_metrics` shows.

A key without a label here gets one made from its name (``per_valid`` -> ``PER valid``), so a new metric is never
left out; rates (PER, WER, fractions, purity) are shown in percent.
"""
from __future__ import annotations

import re

PCT, PLAIN = "pct", "plain"

LABELS = {  # "<stage>.<name>": (label, how the value is shown)
    "data.n_utterances": ("utterances (train + valid + test)", PLAIN),
    "data.hours": ("hours of audio", PLAIN),
    "data.n_text_sentences": ("unpaired text sentences", PLAIN),
    "data.n_speakers": ("speakers (voices)", PLAIN),
    "audio_prep.speech_fraction": ("audio kept as speech by the VAD", PCT),
    "features.kind": ("frame features", PLAIN),
    "features.dim": ("feature dimension", PLAIN),
    "features.n_clusters": ("k-means units", PLAIN),
    "features.segments_per_second": ("segments per second of speech", PLAIN),
    "features.seconds": ("compute time (s)", PLAIN),
    "features.probe_per": ("supervised CTC probe on the segments, test PER (report-only)", PCT),
    "text.n_sentences": ("phone-text sentences", PLAIN),
    "text.n_words": ("words in the lexicon", PLAIN),
    "text.n_phones": ("phones", PLAIN),
    "text.phone_lm_ppl_valid": ("phone LM perplexity on held-out text", PLAIN),
    "text.oov_sentence_fraction": ("held-out sentences with a word outside the lexicon", PCT),
    "text.test_oov_rate_report_only": ("test words outside the lexicon (report-only)", PCT),
    "text.word_graph_arcs": ("arcs of the word graph", PLAIN),
    "train.method": ("method", PLAIN),
    "train.per_test": ("selected model, test PER (report-only)", PCT),
    "train.per_valid": ("selected model, valid PER (report-only)", PCT),
    "train.per_chance": ("chance, test PER (report-only)", PCT),
    "train.per_supervised": ("supervised CTC probe, test PER (report-only)", PCT),
    "train.per_supervised_reference": ("same model trained with labels, test PER (report-only)", PCT),
    "train.unit_purity": ("phone purity of the k-means units (report-only)", PCT),
    "train.selection_metric": ("label-free selection metric (phone-LM perplexity)", PLAIN),
    "train.rounds": ("self-training rounds run", PLAIN),
    "train.selected_round": ("selected round", PLAIN),
    "train.selected_seed": ("selected chain (seed)", PLAIN),
    "train.chains": ("chains", PLAIN),
    "train.seconds": ("training time (s)", PLAIN),
    "train.decipherment_seconds": ("decipherment time (s)", PLAIN),
    "train.precision": ("classifier training precision", PLAIN),
    "train.updates": ("GAN updates, all runs", PLAIN),
    "train.seconds_per_1000_updates": ("seconds per 1,000 GAN updates", PLAIN),
    "train.selected_update": ("selected GAN update (0: its start)", PLAIN),
    "train.init_seconds": ("GAN start: decipher method, labels and fit (s)", PLAIN),
    "inference.per": ("PER", PCT),
    "inference.wer": ("WER", PCT),
    "inference.backend": ("backend", PLAIN),
    "inference.realtime_factor": ("compute seconds per second of audio", PLAIN),
    "inference.n_utterances": ("utterances transcribed", PLAIN),
    "inference.acoustic_scale": ("acoustic scale of the word search", PLAIN),
    "inference.wer_reference_phones": ("WER of the reference phones through the word search (report-only)", PCT),
    "inference.per_supervised_reference": ("same model trained with labels, PER (report-only)", PCT),
    "inference.wer_supervised_reference": ("same model trained with labels, WER (report-only)", PCT),
    "inference.per_pocketsphinx": ("pocketsphinx en-us, PER in ARPAbet (report-only)", PCT),
    "inference.wer_pocketsphinx": ("pocketsphinx en-us, WER (report-only)", PCT),
    "inference.pocketsphinx_x_realtime": ("pocketsphinx, times real time", PLAIN),
    "benchmark.e2e_x_realtime": ("end to end, times real time (fastest arm)", PLAIN),
    "benchmark.e2e_best_arm": ("fastest arm end to end", PLAIN),
    "benchmark.e2e_x_realtime_eager": ("end to end, times real time (stock PyTorch fp32 eager)", PLAIN),
    "benchmark.e2e_x_realtime_eager_slowest_round": ("the same, its slowest round (the machine's slow phase)", PLAIN),
    "benchmark.e2e_x_realtime_eager_fastest_round": ("the same, its fastest round", PLAIN),
    "benchmark.e2e_threads": ("threads end to end", PLAIN),
    "benchmark.train_updates_per_s": ("GAN training updates per second (model's sizes)", PLAIN),
    "benchmark.train_updates_per_s_paper_sizes": ("GAN training updates per second (paper's sizes)", PLAIN),
}
# arm names as metric keys spell them
ARMS = {"stock_28": "stock-2.8", "compile_bf16": "compile-bf16", "int8_dynamic": "int8-dynamic",
        "int8_static": "int8-static", "openvino_bf16": "openvino-bf16", "openvino_int8": "openvino-int8",
        "ipex_bf16": "ipex-bf16"}
_SPEEDUP = re.compile(r"^benchmark\.speedup_(?P<arm>\w+?)_bs(?P<batch>\d+)$")
_PER_BACKEND = re.compile(r"^inference\.per_(?P<backend>eager|compile|int8|openvino|ipex)$")
_W2V2 = re.compile(r"^benchmark\.w2v2_(?P<arch>[a-z0-9]+)_(?P<what>x_realtime_(?P<arm>\w+)|gemm_gflops_(?P<prec>\w+)|"
                   r"best_arm|speedup_best|peak_fraction_best|gemm_fraction_best)$")
_PEAK = re.compile(r"^benchmark\.cpu_peak_gflops_(?P<prec>\w+)$")
_W2V2_BEST = {"best_arm": ("best arm (the fastest passing the fidelity bar, batch 1)", PLAIN),
              "speedup_best": ("best arm's speedup over fp32 eager", PLAIN),
              "peak_fraction_best": ("best arm's share of the CPU's peak for its precision", PCT),
              "gemm_fraction_best": ("best arm's share of one PyTorch matrix product's rate", PCT)}
_WORDS = {"per": "PER", "wer": "WER", "uer": "UER", "ppl": "perplexity", "lm": "LM", "oov": "OOV", "bs": "batch",
          "e2e": "end to end", "n": "number of", "x": "times", "realtime": "real time", "report": "(report-only)"}


def _rate_unit(precision: str) -> str:
    return "GOP/s" if precision == "int8" else "GFLOP/s"


def label(key: str) -> str:
    """A short label of metric ``key`` (``<stage>.<name>``)."""
    if key in LABELS:
        return LABELS[key][0]
    if m := _PER_BACKEND.match(key):
        return f"PER with backend {m['backend']}"
    if m := _SPEEDUP.match(key):
        arm = ARMS.get(m["arm"], m["arm"])
        return f"speedup of {arm} over {'stock-2.8' if arm == 'ipex' else 'eager'}, batch {m['batch']}"
    if m := _W2V2.match(key):
        head = f"wav2vec 2.0 {m['arch'].upper() if m['arch'] in ('base', 'large') else m['arch']}"
        if m["arm"]:
            return f"{head}, {ARMS.get(m['arm'], m['arm'])}: times real time, batch 1"
        if m["prec"]:
            return f"{head}: one PyTorch {m['prec']} matrix product, {_rate_unit(m['prec'])}"
        return f"{head}: {_W2V2_BEST[m['what']][0]}"
    if m := _PEAK.match(key):
        return f"nominal peak of the bound cores, {m['prec']}, {_rate_unit(m['prec'])}"
    words = key.split(".", 1)[-1].replace("report_only", "report").split("_")
    return " ".join(_WORDS.get(w, w) for w in words)


def is_rate(key: str) -> bool:
    """Whether the value of ``key`` is a rate shown in percent."""
    if key in LABELS:
        return LABELS[key][1] == PCT
    if (m := _W2V2.match(key)) and m["what"] in _W2V2_BEST:
        return _W2V2_BEST[m["what"]][1] == PCT
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
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def rows(metrics: dict) -> list[tuple[str, str]]:
    """``(label, value)`` of every metric in ``metrics`` in its order; the benchmark's speedups of one arm share a row
    (``1.48× (batch 1), 0.33× (batch 8)``)."""
    out, speedups = [], {}
    for key, value in metrics.items():
        if m := _SPEEDUP.match(key):
            arm = ARMS.get(m["arm"], m["arm"])
            if arm not in speedups:
                speedups[arm] = []
                out.append((f"speedup of {arm} over {'stock-2.8' if arm == 'ipex' else 'eager'}", speedups[arm]))
            speedups[arm].append((int(m["batch"]), value))
            continue
        out.append((label(key), value_text(key, value)))
    return [(name, ", ".join(f"{v:.2f}× (batch {b})" if isinstance(v, (int, float)) else f"— (batch {b})"
                             for b, v in sorted(value)) if isinstance(value, list) else value)
            for name, value in out]
