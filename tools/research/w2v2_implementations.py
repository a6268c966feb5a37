"""The kit's wav2vec 2.0 encoder against transformers' Wav2Vec2Model at the same size: speed (issue 18, item 6).

    PYTHONPATH=lib .venv/bin/python tools/research/w2v2_implementations.py [--arch large] [--layer 14] [--seconds 10]
        [--repeats 5] [--threads 2]

Both models hold random weights (speed does not depend on them; the two agree to 1e-4 on the same weights, see
tests/features/test_wav2vec2.py) and run blocks 0..layer on one waveform cut from noise: transformers with
``num_hidden_layers = layer + 1`` and its ``sdpa`` and ``eager`` attention, in fp32 and under bf16 autocast. Prints
the median seconds of ``repeats`` calls after one warm-up and x real time; appends one JSON line per run to
``reports/research/w2v2_implementations.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from contextlib import nullcontext
from pathlib import Path

import torch

from aitranscribe.benchmarking import results
from aitranscribe.core import machine
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.features import wav2vec2
from aitranscribe.io.audio import TARGET_SR


def _hf(settings, layers: int, attention: str):
    import transformers

    conv = settings.conv_layers
    config = transformers.Wav2Vec2Config(
        hidden_size=settings.encoder_embed_dim, num_hidden_layers=layers,
        num_attention_heads=settings.encoder_attention_heads, intermediate_size=settings.encoder_ffn_embed_dim,
        feat_extract_norm="layer" if settings.extractor_mode == "layer_norm" else "group",
        conv_dim=[c for c, _, _ in conv], conv_kernel=[k for _, k, _ in conv], conv_stride=[s for _, _, s in conv],
        conv_bias=settings.conv_bias, num_conv_pos_embeddings=settings.conv_pos,
        num_conv_pos_embedding_groups=settings.conv_pos_groups, do_stable_layer_norm=settings.layer_norm_first,
        apply_spec_augment=False, layerdrop=0.0, attn_implementation=attention)
    return transformers.Wav2Vec2Model(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="large", choices=sorted(wav2vec2.ARCHITECTURES))
    parser.add_argument("--layer", type=int, default=14)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = wav2vec2.ARCHITECTURES[args.arch]
    wav = torch.randn(1, int(args.seconds * TARGET_SR)) * 0.1
    with tempfile.TemporaryDirectory() as tmp:
        kit = wav2vec2.load_wav2vec2(wav2vec2.save_random_checkpoint(Path(tmp) / "w2v2.pt", settings), args.layer)
    models = {"kit": lambda: (lambda x: wav2vec2.extract(kit, x, args.layer))}
    for attention in ("sdpa", "eager"):
        models[f"transformers-{attention}"] = (lambda a: lambda: _hf_call(_hf(settings, args.layer + 1, a)))(attention)
    rows = []
    for name, build in models.items():
        call = build()
        for precision in ("fp32", "bf16"):
            seconds = statistics.median(results.timed(lambda: _run(call, wav, precision), args.repeats, warmup=1))
            rows.append({"implementation": name, "precision": precision, "median_s": round(seconds, 4),
                         "x_realtime": round(args.seconds / seconds, 2)})
            print(json.dumps(rows[-1]), flush=True)
    out = REPO_ROOT / "reports" / "research" / "w2v2_implementations.jsonl"
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"arch": args.arch, "layer": args.layer, "seconds": args.seconds, "threads": args.threads,
                            "repeats": args.repeats, "rows": rows, "cpu": machine.cpu().get("model"),
                            "torch": torch.__version__, "commit": machine.git_sha()}) + "\n")


def _run(call, wav, precision: str) -> None:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    with ctx, torch.inference_mode():
        call(wav)


def _hf_call(model):
    return lambda x: model(x, output_hidden_states=False).last_hidden_state


if __name__ == "__main__":
    main()
