"""Research (issue 35): does the decipherment learn when it starts on a consistent share of train?

    .venv/bin/python tools/research/subset_start.py --profile demo-voices --subset blind [--seed 0] [--share 0.4]
        [--rounds N] [--refit-units] [--params data/profiles/OTHER.yaml]

On the people-like corpus the label-free method stays at chance for every voice, also on the clean espeak-ng
utterances that the same model trained with labels gets to 17% PER (research.md, 2026-12-06). One chain of stage
05's decipher method (the profile's settings: decipherment, then ``screen_rounds`` self-training rounds, or
``--rounds``; with ``--refit-units`` on k-means units fitted on the subset's own frames) runs on a subset of train:

- ``all``: every train utterance (the method as it is);
- ``blind``: the ``--share`` of train with the highest blind SNR (frame-power percentiles, no labels) among the
  utterances that are not band-limited (:mod:`aitranscribe.features.blind_quality`, as stage 05's ``voice_subset``);
- ``clusters``: the stage-03 voice clusters whose train transcripts under a start model the phone LM finds most
  likely, taken in that order until they hold ``--share`` of train (label-free). The start model: of the chains
  run before with ``--start`` (e.g. ``blind-0.4``, any seed), the round with the lowest train phone-LM perplexity;
  ``clusters-blind``: those utterances that are also in the blind subset;
- ``random``: a ``--share`` of train drawn at random (the seed), a control of the subset's size alone;
- ``oracle-clean``, ``oracle-clean-espeak``: the corpus's own metadata (``corpus.json``: clean utterances; clean
  utterances of espeak-ng voices) and ``oracle-clean-espeak-us`` (of its en-us voices only, the demo's accent).
  Oracles, report-only: they ask whether the idea can work, never choose.

The row: the subset's size and its make-up by engine and condition (report-only), the decipherment objective,
each round's train phone-LM perplexity (on the subset) and valid PER (report-only); then the last round's model on
all of train (the phone-LM perplexity of its transcripts, label-free and comparable across subsets) and on valid
(PER per group, report-only). Rows go to ``reports/research/subset_start.jsonl``; the chains to
``data/<profile>/research/subset_start/<features>/``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _rows import append_row  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "subset_start.jsonl"
def cluster_ranking(chains_dir: Path, start_name: str, features_dir: Path, frames: list, phone_lm) -> tuple:
    """The start model (of the chains ``chains_dir/<start_name>-seed*``, the round with the lowest train phone-LM
    perplexity) and stage 03's train voice clusters ranked by the phone-LM perplexity of that model's transcripts
    of their utterances, lowest first: ``[{cluster, ppl, utterances}]`` (label-free)."""
    from aitranscribe.models import decipher
    from aitranscribe.models.decipher import voice_subset

    rounds = [(json.loads(f.read_text())["phone_lm_ppl_train"], f.parent) for f in
              sorted(chains_dir.glob(f"{start_name}-seed*/rounds/round-*/round.json"))]
    if not rounds:
        raise SystemExit(f"{chains_dir}: no chains {start_name}-seed*: run --subset with them first")
    ppl, best = min(rounds, key=lambda r: r[0])
    speakers = json.loads((features_dir / "speakers.json").read_text())["speakers"]["train"]
    start = {"chain": best.parent.parent.name, "round": best.name, "phone_lm_ppl_train": ppl}
    return start, voice_subset.rank_clusters(decipher.load(best / "model.pt"), frames, speakers, phone_lm)


def word_rounds(chain_dir: Path, rounds: list[dict], train: list, inputs: dict, symbols: list[str], text: dict,
                s: dict, n: int, out: Path) -> dict:
    """``n`` word rounds (stage 05's, all run, its acoustic scale chosen on valid without labels) from the
    lowest-perplexity round of the chain in ``chain_dir`` (its ``rounds``), on the frames ``train``, in ``out``
    (``chain_dir`` itself, or another folder that starts from a copy of that round's model). ``s``: the method's
    settings with the chain's. Returns ``dir``, ``scale`` and the word rounds."""
    import shutil

    from aitranscribe.models import decipher
    from aitranscribe.models.decipher import selftrain

    start = f"round-{selftrain.select_round(rounds)['round']}"
    if out != chain_dir and not (out / "rounds" / start / "model.pt").is_file():
        (out / "rounds" / start).mkdir(parents=True, exist_ok=True)
        shutil.copy(chain_dir / "rounds" / start / "model.pt", out / "rounds" / start / "model.pt")
    chain = {"rounds": list(rounds)}  # extended in place with the word rounds
    frames = {**inputs["frames"], "train": train}
    tuning = decipher._continue_with_words(out, chain, s["seed"], {**inputs, "frames": frames}, symbols,
                                           {**s, "word_rounds": n, "word_rounds_min": n}, text, s)
    return {"dir": out, "scale": tuning["scale"], "rounds": chain["rounds"][len(rounds):]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo-voices", help="params/<profile>.yaml, unless --params")
    ap.add_argument("--params", help="a profile file elsewhere (its common.profile names the data)")
    ap.add_argument("--subset", required=True, choices=(
        "all", "blind", "clusters", "clusters-blind", "random", "oracle-clean", "oracle-clean-espeak",
        "oracle-clean-espeak-us"))
    ap.add_argument("--share", type=float, default=0.4, help="blind, random, clusters: the share of train kept")
    ap.add_argument("--seed", type=int, default=0, help="the chain's seed")
    ap.add_argument("--rounds", type=int, help="self-training rounds (default: the profile's screen_rounds)")
    ap.add_argument("--refit-units", action="store_true",
                    help="the subset's frames get their own k-means units (as many as stage 03's, fitted on them)")
    ap.add_argument("--word-rounds", type=int, default=0,
                    help="then this many word rounds from the chain's lowest-perplexity round (all of them run)")
    ap.add_argument("--widen", action="store_true",
                    help="with --word-rounds: they label and train on all of train, not the subset")
    ap.add_argument("--continue-from", help="with --word-rounds: no chain of its own; the word rounds on the "
                    "subset start from this earlier chain's lowest-perplexity round (gradual widening)")
    ap.add_argument("--start", default="blind-0.4", help="with --subset clusters: the start chains' name")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine, registry, stage
    from aitranscribe.core.files import atomic_write_json
    from aitranscribe.core.logs import setup_logging
    from aitranscribe.core.params import load_profile
    from aitranscribe.decoding.phones import collapse
    from aitranscribe.evaluation import by_voice
    from aitranscribe.features import blind_quality
    from aitranscribe.io import feature_files, manifest
    from aitranscribe.models import decipher
    from aitranscribe.models.decipher import selftrain, voice_subset
    from aitranscribe.text import error_rates, lm
    from aitranscribe.text.phones import read_dictionary, read_references

    setup_logging("INFO")
    profile = load_profile(args.params or REPO_ROOT / "params" / f"{args.profile}.yaml",
                           {s.key: s.load().PARAMS for s in registry.STAGES})
    args.profile = profile["train"]["profile"]
    p = {"profile": args.profile, "data_root": str(REPO_ROOT / "data")}
    records = {k: stage.load_stage(p, k) for k in ("data", "features", "text")}
    text = records["text"]
    symbols = read_dictionary(text["dict_phn"])
    corpus = json.loads((Path(records["data"]["dir"]) / "corpus.json").read_text())["utterances"]
    inputs = decipher._inputs(records["features"], text, symbols)
    train_all = inputs["frames"]["train"]

    out_root = Path(p["data_root"]) / args.profile / "research" / "subset_start"
    quality_path = out_root / "train_quality.json"
    if quality_path.is_file():
        qualities = json.loads(quality_path.read_text())
    else:
        m = manifest.read(records["data"]["manifests"], "train")
        qualities = [blind_quality.measure_file(m.audio_path(i)) for i in range(len(m))]
        atomic_write_json(quality_path, qualities)
    if len(qualities) != len(train_all):
        raise SystemExit(f"{quality_path}: {len(qualities)} utterances, train has {len(train_all)}")

    if args.subset == "all":
        keep = list(range(len(train_all)))
    elif args.subset == "blind":
        keep = blind_quality.cleanest(qualities, args.share)
    elif args.subset.startswith("clusters"):
        start, per_cluster = cluster_ranking(out_root / Path(records["features"]["dir"]).name, args.start,
                                             Path(records["features"]["dir"]), train_all, inputs["phone_lm"])
        keep = voice_subset.take(per_cluster, args.share, len(train_all))
        if args.subset == "clusters-blind":
            keep = sorted(set(keep) & set(blind_quality.cleanest(qualities, args.share)))
    elif args.subset == "random":
        rng = np.random.default_rng(args.seed)
        keep = sorted(rng.choice(len(train_all), int(round(args.share * len(train_all))), replace=False).tolist())
    else:
        keep = [i for i, u in enumerate(corpus["train"]) if by_voice.condition_of(u) == "clean"
                and (args.subset == "oracle-clean" or u.get("engine", "espeak-ng") == "espeak-ng")
                and (args.subset != "oracle-clean-espeak-us" or u["voice"].startswith("espeak-us"))]
    name = args.subset + (f"-{args.share}" if args.subset != "all" and not args.subset.startswith("oracle") else "")
    name += "-own-units" if args.refit_units else ""
    name += (f"-from-{args.start}" if args.subset.startswith("clusters") else "") + f"-seed{args.seed}"
    name += f"-after-{args.continue_from}" if args.continue_from else ""
    makeup = {"engines": collections.Counter(corpus["train"][i].get("engine", "espeak-ng") for i in keep),
              "conditions": collections.Counter(by_voice.condition_of(corpus["train"][i]) for i in keep)}

    s = {**{k: v.default for k, v in decipher.PARAMS.items()}, **profile["train"]["decipher"]}
    settings = {k: s[k] for k in ("groups", "min_run", "tokens", "split", "restarts", "iters", "refine",
                                  "refine_iters", "epochs", "hidden", "patience")}
    settings.update(precision=decipher.precision(s), seed=args.seed, rounds=args.rounds or s["screen_rounds"],
                    patience_from=0)
    sub_frames = {"train": [train_all[i] for i in keep], "valid": inputs["frames"]["valid"]}
    sub_units = [inputs["units"][i] for i in keep]
    if args.refit_units:  # k-means as stage 03's (its k, fairseq's 50 iterations), on the subset's frames only
        from aitranscribe.features import units as unit_pipeline

        k = int(max(u.max() for u in inputs["units"] if len(u))) + 1
        x = unit_pipeline.sample_rows(np.concatenate(sub_frames["train"]), 200000, args.seed)
        centroids = unit_pipeline.fit_kmeans(x, k, 50, 1, args.seed)
        sub_units = [unit_pipeline.assign(f, centroids) for f in sub_frames["train"]]
    load = os.getloadavg()[0]
    t0 = time.time()
    chain_dir = out_root / Path(records["features"]["dir"]).name / name  # the features' hash: their own chains
    if args.continue_from:  # the earlier chain's rounds stand for this one's
        source = chain_dir.with_name(args.continue_from)
        chain = {"decipherment": {"objective": None, "seconds": 0.0},
                 "rounds": [json.loads(f.read_text()) for f in sorted(source.glob("rounds/round-*/round.json"))]}
    else:
        source = chain_dir
        chain = selftrain.run_chain(chain_dir, sub_frames, sub_units, inputs["lines"], symbols, settings,
                                    inputs["phone_lm"], inputs["refs_valid"])
    last = chain["rounds"][-1]["round"]
    words = {}
    if args.word_rounds:
        out = chain_dir.with_name(chain_dir.name + "-widen") if args.widen else chain_dir
        words = word_rounds(source, chain["rounds"], train_all if args.widen else sub_frames["train"], inputs,
                            symbols, text, {**s, **settings}, args.word_rounds, out)
        last = words["rounds"][-1]["round"]
    model = decipher.load((Path(words["dir"]) if words else source) / "rounds" / f"round-{last}" / "model.pt")
    transcripts = [" ".join(collapse(path, symbols)) for path in model.frame_paths(train_all)]
    hyps = [collapse(path, symbols) for path in model.frame_paths(inputs["frames"]["valid"])]
    refs = inputs["refs_valid"]
    groups = collections.defaultdict(list)
    for i, u in enumerate(corpus["valid"]):
        condition = by_voice.condition_of(u)
        engine = u.get("engine", "espeak-ng")
        clean = (f"clean {engine}",) if condition == "clean" else ()
        for g in ("all", f"engine {engine}", f"condition {condition}") + clean:
            groups[g].append(i)
    per_groups = {g: round(error_rates.per([hyps[i] for i in idx], [refs[i] for i in idx]), 4)
                  for g, idx in sorted(groups.items())}
    row = {"profile": args.profile, "subset": args.subset,
           "share": None if args.subset == "all" or args.subset.startswith("oracle") else args.share,
           "seed": args.seed, "own_units": args.refit_units, "features": Path(records["features"]["dir"]).name,
           "n_train": len(keep), "makeup_report_only": makeup,
           "continue_from": args.continue_from, "objective": chain["decipherment"]["objective"],
           "decipherment_seconds": chain["decipherment"]["seconds"],
           "rounds": [[r["round"], r["phone_lm_ppl_train"], r.get("per_valid_report_only")] for r in chain["rounds"]],
           "last_round_ppl_all_train": round(lm.perplexity(inputs["phone_lm"], [t for t in transcripts if t]), 3),
           "last_round_per_valid_groups_report_only": per_groups,
           "precision": settings["precision"], "wall_seconds": round(time.time() - t0, 1),
           "cpu": machine.cpu().get("model"), "load_before": round(load, 2), "note": args.note,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if words:
        row["word_rounds"] = {"widen": args.widen, "scale": words["scale"], "dir": words["dir"].name,
                              "rounds": [[r["round"], r["phone_lm_ppl_train"], r.get("per_valid_report_only")]
                                         for r in words["rounds"]]}
    if args.subset.startswith("clusters"):
        row["start"] = start
        row["clusters"] = [{"cluster": c["cluster"], "ppl": c["ppl"], "n": len(c["utterances"]),
                            "engines_report_only": collections.Counter(
                                corpus["train"][i].get("engine", "espeak-ng") for i in c["utterances"])}
                           for c in per_cluster]
    append_row(OUT, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
