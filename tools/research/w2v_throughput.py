"""Per-worker throughput of wav2vec 2.0 feature extraction on this machine, for the 10,000-hour plan (issue 19).

    .venv/bin/python tools/research/w2v_throughput.py [--seconds 10] [--repeats 3] [--out reports/research/w2v_throughput.json]

No pretrained checkpoint can be downloaded here, so the kit's own wav2vec 2.0 network (features/wav2vec2.py) is
built at the sizes of wav2vec 2.0 LARGE (conv extractor 512 x 7 blocks, 24 transformer blocks of 1024, FFN 4096,
16 heads; blocks up to ``layer`` 14 kept, as stage 03 keeps them) and BASE (12 x 768, layer 6) with random weights:
time does not depend on the weights. Each size is timed in a worker of one thread (``torch.set_num_threads(1)``),
alone and as two concurrent worker processes (the machine's 2 cores), on a random ``--seconds`` waveform; the
median of ``--repeats`` calls after one warm-up. x real time = audio seconds / wall seconds per worker.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

SIZES = {  # name: (encoder layers kept, dim, ffn, heads)
    "large-l14": (15, 1024, 4096, 16),
    "base-l6": (7, 768, 3072, 12),
}
CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


def _worker(args) -> float:
    name, seconds, repeats = args
    os.environ["OMP_NUM_THREADS"] = "1"
    import numpy as np
    import torch

    from aitranscribe.features import wav2vec2

    torch.set_num_threads(1)
    layers, dim, ffn, heads = SIZES[name]
    settings = wav2vec2.Wav2Vec2Settings(conv_layers=CONV, encoder_layers=layers, encoder_embed_dim=dim,
                                         encoder_ffn_embed_dim=ffn, encoder_attention_heads=heads,
                                         layer_norm_first=name.startswith("large"))
    model = wav2vec2.Wav2Vec2Encoder(settings).eval()
    x = np.random.default_rng(0).standard_normal(int(seconds * 16000)).astype(np.float32) * 0.1
    with torch.inference_mode():
        wav2vec2.extract(model, x, layers - 1)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            wav2vec2.extract(model, x, layers - 1)
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="reports/research/w2v_throughput.json")
    args = parser.parse_args()
    from aitranscribe.core.files import atomic_write_json
    from aitranscribe.core.machine import busy_fraction, cpu

    ctx = mp.get_context("spawn")
    out = {"seconds_of_audio": args.seconds, "repeats": args.repeats, "machine": cpu(), "sizes": {}}
    for name in SIZES:
        row = {}
        for workers in (1, 2):
            load = busy_fraction()
            with ctx.Pool(workers) as pool:
                walls = pool.map(_worker, [(name, args.seconds, args.repeats)] * workers)
            row[f"{workers}_workers"] = {"x_realtime_per_worker": round(args.seconds / max(walls), 2),
                                         "x_realtime_total": round(workers * args.seconds / max(walls), 2),
                                         "load_before": round(load, 3)}
            print(name, workers, row[f"{workers}_workers"], flush=True)
        out["sizes"][name] = row
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_json(args.out, out)


if __name__ == "__main__":
    main()
