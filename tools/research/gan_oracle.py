"""The GAN's positive control on a profile's oracle cipher (issue 20): does a recipe solve it, and how fast?

    .venv/bin/python tools/research/gan_oracle.py PROFILE NAME [--set updates=6000] [--set network.disc_dim=128]
        [--repeat 0.0] [--scale 1.0] [--threads 2] [--data-root DIR] [--init decipherment --set init_epochs=3]

PROFILE needs finished 01 and 04 outputs: its train transcripts through the lexicon (``<SIL>`` inserted as stage
04 inserts it) are ciphered by a random orthogonal basis and the phone text is the real side
(``aitranscribe.models.gan.control``). ``--init decipherment``: the generator first fits the labels the
decipherment gives the train segments (label-free), then the GAN trains from there. Valid PER (labels: a diagnostic) every ``eval_every`` updates; one JSON
line per run is appended to ``reports/research/gan_oracle.jsonl``.
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from aitranscribe.core import machine
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.io import manifest
from aitranscribe.models.gan import control
from aitranscribe.models.gan.training import text_tensors
from aitranscribe.text.phones import SIL, read_dictionary, read_lexicon


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def recipe_of(settings: list[str]) -> control.Recipe:
    """The default recipe with ``field=value`` / ``network.field=value`` overrides."""
    recipe, network = control.Recipe(), {}
    for item in settings:
        key, value = item.split("=", 1)
        if key.startswith("network."):
            network[key.split(".", 1)[1]] = _value(value)
        else:
            recipe = replace(recipe, **{key: _value(value)})
    return control.with_network(recipe, **network)


def real_segments(profile_name: str, with_labels: bool):
    """A profile's symbols, real pooled train / valid segments, valid reference phones (report-only), phone text,
    and (``with_labels``) the decipher method's label per train segment from its stage-05 directory."""
    from aitranscribe.core import registry
    from aitranscribe.core.params import load_profile
    from aitranscribe.core.stage import load_stage
    from aitranscribe.models import gan
    from aitranscribe.models.gan.training import segment_tensors
    from aitranscribe.stages import train as train_stage
    from aitranscribe.text.phones import read_references

    profile = load_profile(REPO_ROOT / "params" / f"{profile_name}.yaml",
                           {s.key: s.load().PARAMS for s in registry.STAGES})
    p = profile["train"]
    features_record, text_record = load_stage(p, "features"), load_stage(p, "text")
    symbols = read_dictionary(text_record["dict_phn"])
    refs = [[ph for ph in r if ph != SIL] for r in read_references(text_record["references"], "valid")]
    text = text_tensors(text_record["phone_text"], symbols, p["gan"]["max_text_sentences"], 0)
    info, labels = {}, None
    if with_labels:
        labels, chosen, seconds = gan.decipher_labels(p, train_stage.output_dir(p), features_record, text_record,
                                                      symbols)
        info = {"decipher_run": chosen["run"], "label_seconds": round(seconds, 1)}
    return (symbols, segment_tensors(features_record, "train"), segment_tensors(features_record, "valid"), refs, text,
            labels, info)


def oracle(args):
    """The oracle cipher of ``args.profile``: its symbols, phone sequences per split, train / valid segments,
    valid reference phones and the real side (the profile's phone text, or with ``--text matched`` the train
    transcripts with silences drawn again)."""
    records = Path(args.data_root) / args.profile / "stages"
    data = json.loads((records / "data.json").read_text())
    text_record = json.loads((records / "text.json").read_text())
    symbols = read_dictionary(text_record["dict_phn"])
    lexicon = read_lexicon(text_record["lexicon"])
    sil_prob = float(Path(text_record["dir"]).name.split("-")[0].removeprefix("sil"))

    def sequences(split: str, seed: int) -> list[list[str]]:
        return control.oracle_sequences(manifest.read(data["manifests"], split, check_files=False).words, lexicon,
                                        sil_prob, seed=seed)

    seqs = {"train": sequences("train", 0), "valid": sequences("valid", 1)}
    segments, _ = control.cipher(seqs["train"] + seqs["valid"], symbols, args.dim, args.scale, args.repeat, 0)
    train, valid = segments[:len(seqs["train"])], segments[len(seqs["train"]):]
    refs = [[p for p in s if p != SIL] for s in seqs["valid"]]
    if args.text == "matched":
        where = {p: i for i, p in enumerate(symbols)}
        text = [torch.tensor([where[p] for p in s]) for s in sequences("train", 7)]
    else:
        text = text_tensors(text_record["phone_text"], symbols, 0, 0)
    print(f"oracle: {len(train)} train / {len(valid)} valid sequences, {len(text)} text sentences, "
          f"{len(symbols)} symbols, <SIL> prob {sil_prob}, repeat {args.repeat}", flush=True)
    return symbols, seqs, train, valid, refs, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("name", help="the run's name in the results file")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--repeat", type=float, default=0.0, help="probability of a second segment per phone")
    parser.add_argument("--scale", type=float, default=1.0, help="norm of a segment")
    parser.add_argument("--dim", type=int, default=64, help="segment dimension")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default=str(REPO_ROOT / "data"))
    parser.add_argument("--init", choices=("random", "decipherment"), default="random")
    parser.add_argument("--text", choices=("profile", "matched"), default="profile",
                        help="the real side: the profile's phone text (unpaired, as a user has it) or 'matched': "
                             "the oracle's own train transcripts with silences drawn again (the same distribution "
                             "as the fake side: is the right answer the GAN's optimum when the text matches?)")
    parser.add_argument("--segments", default="",
                        help="a profile with train.gan.init: decipher whose stage 05 ran (e.g. demo-gan): train on its "
                             "real pooled segments instead of the oracle cipher; --init decipherment then fits the "
                             "generator to that profile's decipher-method labels (module models.gan.decipher_labels)")
    parser.add_argument("--init-noise", type=float, default=0.0,
                        help="share of the decipherment's tokens given a random phone instead (how far from the "
                             "answer the GAN can start and still reach it)")
    args = parser.parse_args()
    setup_logging("INFO")
    torch.set_num_threads(args.threads)
    recipe = recipe_of(args.set)
    start = time.time()
    init_labels, init = None, {}
    if args.segments:  # the profile's real segments: no oracle is built
        symbols, train, valid, refs, text, init_labels, init = real_segments(args.segments,
                                                                             args.init == "decipherment")
        print(f"{args.segments}: {len(train)} train / {len(valid)} valid utterances of real segments, "
              f"{len(text)} text sentences; {init}", flush=True)
    else:
        symbols, seqs, train, valid, refs, text = oracle(args)
        start = time.time()
        if args.init == "decipherment":
            init_labels, init = control.decipherment_labels(train, text, len(symbols), seed=recipe.seed)
            if args.init_noise > 0:
                init_labels = control.corrupt_labels(train, init_labels, len(symbols), args.init_noise, recipe.seed)
                init["noise"] = args.init_noise
            truth = [torch.tensor([symbols.index(p) for p in s]) for s in seqs["train"]]
            init["label_error_report_only"] = float((torch.cat(init_labels) != torch.cat(truth)).float().mean())
            init["seconds"] = round(time.time() - start, 1)
            print(f"decipherment labels: {init}", flush=True)
    _, history = control.train(train, valid, refs, text, symbols, recipe, init_labels=init_labels)
    best = min(history, key=lambda e: e["per"])
    solved = next((e for e in history if e["per"] <= 0.10), None)
    row = {"name": args.name, "profile": args.profile, "repeat": args.repeat, "scale": args.scale, "dim": args.dim,
           **({"segments": args.segments} if args.segments else {}),
           **({"text": args.text} if args.text != "profile" else {}),
           "init": args.init, **({"init_info": init} if init else {}),
           "recipe": asdict(recipe), "final_per": history[-1]["per"], "best_per": best["per"],
           "best_update": best["update"], "seconds": round(time.time() - start, 1),
           "seconds_to_10pct": solved["seconds"] if solved else None, "threads": args.threads,
           "curve": [(e["update"], round(e["per"], 4)) for e in history],
           "cpu": machine.cpu().get("model"), "commit": machine.git_sha()}
    out = REPO_ROOT / "reports" / "research" / "gan_oracle.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k not in ("curve", "recipe")}), flush=True)


if __name__ == "__main__":
    main()
