"""Does the GAN improve on a good start? GAN runs on a profile's real segments from the generator its stage 05
fitted to the decipher method's labels (``train.gan.init: decipher``), one per variant of the settings (issue 20).

    .venv/bin/python tools/research/gan_from_start.py PROFILE NAME [--set g_lr=4e-5] [--set code_penalty=0] ...
        [--variant NAME2 --set ...] [--updates 500] [--eval-every 100] [--parallel 2]

PROFILE's stage 05 must have run with ``init: decipher`` (its ``init_generator.pt`` is the start). Each variant is
the profile's GAN settings with ``--set`` overrides (method settings such as ``g_lr``, ``d_lr``, ``clip_norm``,
``batch_size``, ``disc_dim``; or penalty weights ``code_penalty``, ``gradient_penalty``, ``smoothness``); the
variants run at once in 1-thread processes (``--parallel``), each in ``<stage 05 dir>/from_start/<name>``. One row
per variant, with its valid-PER curve (labels: a diagnostic, it selects nothing) and label-free scores, is appended
to ``reports/research/gan_from_start.jsonl``.
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from aitranscribe.core import machine, registry
from aitranscribe.core.params import load_profile
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.stage import load_stage
from aitranscribe.models import gan
from aitranscribe.models.gan.training import train_run
from aitranscribe.stages import train
from aitranscribe.text.phones import read_dictionary

PENALTIES = ("code_penalty", "gradient_penalty", "smoothness")


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def variants(argv_pairs: list[tuple[str, list[str]]]) -> list[tuple[str, dict]]:
    """(name, overrides) of each variant."""
    return [(name, dict((k, _value(v)) for k, v in (item.split("=", 1) for item in sets))) for name, sets in argv_pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("name")
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=2)
    args, rest = parser.parse_known_args()
    groups, tokens = [(args.name, [])], list(rest)  # --set K=V ... [--variant NAME --set K=V ...]
    while tokens:
        token = tokens.pop(0)
        if token == "--set":
            groups[-1][1].append(tokens.pop(0))
        elif token == "--variant":
            groups.append((tokens.pop(0), []))
        else:
            raise SystemExit(f"unexpected argument {token!r}")
    profile = load_profile(REPO_ROOT / "params" / f"{args.profile}.yaml",
                           {s.key: s.load().PARAMS for s in registry.STAGES})
    p = profile["train"]
    out_dir = train.output_dir(p)
    start_path = out_dir / "init_generator.pt"
    if not start_path.is_file():
        raise SystemExit(f"{start_path}: missing; run stage 05 of {args.profile} with train.gan.init: decipher first")
    features_record, text_record = load_stage(p, "features"), load_stage(p, "text")
    symbols = read_dictionary(text_record["dict_phn"])
    jobs = []
    for name, overrides in variants(groups):
        s = {**p["gan"], "updates": args.updates, "eval_every": args.eval_every,
             **{k: v for k, v in overrides.items() if k not in PENALTIES}}
        setting = {"seed": 0, "gradient_penalty": 1.5, "code_penalty": 4.0, "smoothness": 0.5,
                   **{k: float(v) for k, v in overrides.items() if k in PENALTIES}}
        jobs.append({**gan.run_job(s, setting, out_dir / "from_start" / name, features_record, text_record, symbols,
                                   max(1, machine.cores() // args.parallel), True, "WARNING", str(start_path)),
                     "overrides": overrides})
    started = time.time()
    with ProcessPoolExecutor(args.parallel, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(train_run, [{k: v for k, v in j.items() if k != "overrides"} for j in jobs]))
    out = REPO_ROOT / "reports" / "research" / "gan_from_start.jsonl"
    for job, result in zip(jobs, results):
        history = json.loads((Path(result["dir"]) / "history.json").read_text())
        row = {"profile": args.profile, "name": Path(job["run_dir"]).name, "overrides": job["overrides"],
               "updates": args.updates, "threads": job["threads"], "parallel": args.parallel,
               "selected_update": result["best"]["update"],
               "curve": [(e["update"], round(e["per_valid_report_only"], 4), round(e["lm_ppl"], 1),
                          round(e["weighted_lm_ppl"], 1)) for e in history],
               "seconds": round(result["seconds"], 1), "wall_all_variants": round(time.time() - started, 1),
               "cpu": machine.cpu().get("model"), "commit": machine.git_sha()}
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
