"""Stage 05, unsupervised training: label-free model selection and report-only diagnostics, two methods.

``method: gan``, wav2vec-U: a sweep of GAN runs on the 03_features GAN input (pooled segments). Outputs in
``<data_root>/<profile>/05_train_gan/gan-<hash>/``: ``runs/<settings>/`` (one directory per run, never
shared: ``checkpoint_last.pt`` to resume, ``checkpoint_best.pt``, ``history.json``).
``method: decipher`` (the demo's default; see :mod:`selftrain`): decipherment of segment tokens with the
text's phone pair and triple statistics, then rounds of self-training a frame classifier on stage 03's frames
decoded by a hybrid HMM. Outputs in ``05_train_gan/decipher-<hash>/``: ``decipherment.npz`` and
``rounds/round-<k>/``.
Both: ``selection.json`` (the chosen run or round and its checkpoint, chosen without labels) and
``diagnostics.json``. Inputs of both: the 04_text_prep phone text, dictionary and phone LM.

Labels (reference phones of the audio) are read only for report-only numbers: PER curves, chance PER,
the supervised CTC reference, unit purity and the objective check. Training, early stopping and
selection never see them.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import gan, lm, segments, stage
from .errors import KitError
from .params import Param, params_hash
from .paths import profile_data_dir
from .probe import per as phone_error_rate
from .stage import atomic_write_json, setup_logging

log = logging.getLogger(__name__)

DECIPHER_PARAMS = ("decipher_groups", "decipher_min_run", "decipher_tokens", "decipher_split", "decipher_restarts",
                   "decipher_iters", "decipher_refine", "decipher_refine_iters", "decipher_seeds",
                   "selftrain_screen_rounds", "selftrain_rounds", "selftrain_epochs", "classifier_hidden")
KEY = "train"
NOTEBOOK = "05_train_gan"
SIL = "<SIL>"

PARAMS = {
    "method": Param("decipher", str, "decipherment + self-training, or the wav2vec-U GAN", ("decipher", "gan")),
    "decipher_groups": Param(20, int, "decipher: groups of k-means units whose changes cut segments"),
    "decipher_min_run": Param(2, int, "decipher: least frames of a segment"),
    "decipher_tokens": Param(128, int, "decipher: k-means tokens of segment means"),
    "decipher_split": Param(0.2, float, "decipher: chance that a token continues its phone"),
    "decipher_restarts": Param(10, int, "decipher: EM restarts from random tables"),
    "decipher_iters": Param(300, int, "decipher: EM iterations of each restart (token pairs)"),
    "decipher_refine": Param(3, int, "decipher: best restarts refined on token triples"),
    "decipher_refine_iters": Param(100, int, "decipher: EM iterations on the triples"),
    "decipher_seeds": Param([0], list, "decipher: seeds of independent chains (segments, tokens, restarts, classifiers)"),
    "selftrain_screen_rounds": Param(2, int, "decipher: rounds of every chain before only the best one continues"),
    "selftrain_rounds": Param(2, int, "decipher: self-training rounds; the lowest phone-LM perplexity is kept"),
    "selftrain_epochs": Param(3, int, "decipher: classifier epochs per round"),
    "classifier_hidden": Param(256, int, "decipher: hidden units of the frame classifier"),
    "updates": Param(300, int, "updates per run, D and G alternating; 150000 in the paper"),
    "batch_size": Param(32, int, "utterances and text sentences per update; 160 in the paper"),
    "disc_dim": Param(64, int, "discriminator width; 384 in the paper"),
    "disc_kernel": Param(4, int, "discriminator kernel; 6 in the paper"),
    "disc_depth": Param(3, int, "discriminator convolutions"),
    "generator_kernel": Param(4, int, "generator kernel"),
    "generator_batch_norm": Param(0.0, float, "w2vu2 input BatchNorm scale, 0 for off"),
    "g_lr": Param(4e-4, float, "generator learning rate"),
    "d_lr": Param(5e-4, float, "discriminator learning rate"),
    "d_weight_decay": Param(1e-4, float, "discriminator weight decay"),
    "clip_norm": Param(5.0, float, "gradient clipping norm"),
    "sweep_seeds": Param([0], list, "seeds of the sweep"),
    "sweep_code_penalty": Param([4.0], list, "code penalty weights of the sweep"),
    "sweep_gradient_penalty": Param([1.5], list, "gradient penalty weights of the sweep"),
    "sweep_smoothness": Param([0.5], list, "smoothness weights of the sweep"),
    "eval_every": Param(100, int, "updates between evaluations and checkpoints"),
    "parallel_runs": Param(0, int, "runs at once, 0 for as many as cores allow"),
    "selection": Param("weighted_lm_ppl", str, "label-free selection rule", ("weighted_lm_ppl", "nll_logu")),
    "max_text_sentences": Param(0, int, "at most this many phone-text sentences are loaded, 0 for all"),
    "supervised_epochs": Param(10, int, "epochs of the supervised CTC reference, report-only; 0 skips it"),
}
GAN_PARAMS = tuple(k for k in PARAMS if k not in DECIPHER_PARAMS and k not in ("method", "supervised_epochs"))


# ------------------------------------------------------------------------------------------------ data

def gan_input_dim(features_record: dict) -> int:
    """Feature dimension of the pooled segments the GAN reads (stage 03's GAN input)."""
    return int(np.load(Path(features_record["gan_input"]) / "train.npy", mmap_mode="r").shape[1])


def read_dictionary(path) -> list[str]:
    """Symbols of ``dict.phn.txt`` in file order (``<SIL>`` included)."""
    return [line.split()[0] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def load_audio_split(features_record: dict, split: str) -> list[torch.Tensor]:
    """Pooled segment features of a split, one tensor per utterance."""
    feats, lengths = segments.read_features(features_record["gan_input"], split, mmap=False)
    return [torch.from_numpy(np.ascontiguousarray(u)) for u in segments.utterances(feats, lengths)]


def load_text(path, symbols: list[str], limit: int, seed: int) -> list[torch.Tensor]:
    """Phone-text sentences as index tensors (unknown symbols are an error naming the file)."""
    index = {s: i for i, s in enumerate(symbols)}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if limit and len(lines) > limit:
        lines = random.Random(seed).sample(lines, limit)
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(torch.tensor([index[s] for s in line.split()]))
        except KeyError as exc:
            raise KitError(f"{path}: line {number} has the symbol {exc} missing from dict.phn.txt") from None
    return out


def load_references(text_record: dict, split: str) -> list[list[str]] | None:
    """Reference phones of an audio split (report-only), or None when the corpus has none."""
    path = Path(text_record["references"]) / f"{split}.phn"
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else None


def pad_features(batch: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) zero-padded features and (B, T) padding mask."""
    lengths = torch.tensor([len(x) for x in batch])
    x = torch.zeros(len(batch), int(lengths.max()), batch[0].shape[1])
    for i, item in enumerate(batch):
        x[i, : len(item)] = item
    return x, torch.arange(x.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)


def one_hot_text(batch: list[torch.Tensor], vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, V) one-hot phone sentences and (B, L) padding mask."""
    lengths = torch.tensor([len(x) for x in batch])
    ids = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, item in enumerate(batch):
        ids[i, : len(item)] = item
    padding = torch.arange(ids.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
    return torch.nn.functional.one_hot(ids, vocab).float().masked_fill(padding.unsqueeze(-1), 0.0), padding


# ------------------------------------------------------------------------------------------------ decoding

def greedy_decode(generator, feats: list[torch.Tensor], symbols: list[str], batch_size: int = 64) -> list[list[str]]:
    """Per-segment argmax (mean JOIN segmentation), repeats collapsed, ``<SIL>`` dropped."""
    from .decode import greedy_phones, segment_posteriors

    generator.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(feats), batch_size):
            x, pad = pad_features(feats[start:start + batch_size])
            for logp, spans in segment_posteriors(generator(x, pad), pad):
                out.append([ph["phone"] for ph in greedy_phones(logp, spans, symbols, None)])
    return out


def unsupervised_scores(hyps: list[list[str]], phone_lm, inventory: list[str]) -> dict:
    """Label-free quality of transcripts: LM perplexity, vocabulary usage, weighted_lm_ppl and NLL - log U."""
    sentences = [" ".join(h) for h in hyps if h]
    if not sentences:
        return {"lm_ppl": float("inf"), "vocab_seen": 0.0, "weighted_lm_ppl": float("inf"), "nll_logu": float("inf"),
                "total_logprob": float("-inf")}
    ppl = lm.perplexity(phone_lm, sentences)
    seen = len({p for h in hyps for p in h}) / max(1, len(inventory))
    total_log10 = sum(phone_lm.score(s, bos=True, eos=True) for s in sentences)
    return {"lm_ppl": ppl, "vocab_seen": seen, "weighted_lm_ppl": ppl / max(seen, 1e-6) ** 2,
            "nll_logu": math.log(ppl) - math.log(max(seen, 1e-6)), "total_logprob": total_log10 * math.log(10)}


# ------------------------------------------------------------------------------------------------ one run

def make_optimizers(generator, disc, g_lr: float, d_lr: float, d_weight_decay: float):
    """fairseq w2vu's Adam settings (betas 0.5/0.98, eps 1e-6); no weight decay on the generator."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=g_lr, betas=(0.5, 0.98), eps=1e-6, weight_decay=0.0)
    opt_d = torch.optim.Adam(disc.parameters(), lr=d_lr, betas=(0.5, 0.98), eps=1e-6, weight_decay=d_weight_decay)
    return opt_g, opt_d


def gan_update(step: int, generator, disc, opt_g, opt_d, cfg: gan.GanConfig, x, pad, real, real_pad,
               clip_norm: float) -> dict:
    """One update: the discriminator on odd steps, the generator on even ones, gradients clipped; loss parts."""
    seg_logits, fake, fake_pad = gan.generator_forward(generator, x, pad, cfg, training=True)
    if step % 2 == 1:
        loss, parts = gan.discriminator_loss(disc, cfg, fake, fake_pad, real, real_pad)
        model, opt = disc, opt_d
    else:
        loss, parts = gan.generator_loss(disc, cfg, seg_logits, fake_pad)
        model, opt = generator, opt_g
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    opt.step()
    return parts


def run_name(setting: dict) -> str:
    """Directory name of a run: its penalty weights and seed."""
    return (f"cp{setting['code_penalty']}_gp{setting['gradient_penalty']}_sm{setting['smoothness']}"
            f"_seed{setting['seed']}")


def _checkpoint(path: Path, state: dict) -> None:
    with stage.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path) -> dict:
    """A run's checkpoint, loaded weights-only (tensors and plain values)."""
    return torch.load(path, map_location="cpu", weights_only=True)


class GanModel:
    """The selected wav2vec-U generator over pooled segments; phones are read greedily off JOIN segments."""

    input = "segments"

    def __init__(self, generator: gan.Generator):
        self.net = generator


def load_model(record: dict):
    """The selected model of a 05 record: a :class:`GanModel` or a :class:`~aitranscribe.selftrain.FrameModel`."""
    if record.get("method", "gan") == "decipher":
        from .selftrain import FrameModel

        return FrameModel.load(record["checkpoint"])
    state = load_checkpoint(record["checkpoint"])
    if "generator" not in state:
        raise KitError(f"{record['checkpoint']}: not a generator checkpoint of the GAN method")
    return GanModel(build_generator(gan.GanConfig(**json.loads(state["config"])), state["generator"]))


def model_phones(model, features_record: dict, split: str, symbols: list[str]) -> list[list[str]]:
    """Phones of every utterance of a prepared split (``<SIL>`` dropped) from the model's own input and decoding."""
    if model.input == "frames":
        from .selftrain import decode_paths, phones_of

        feats, lengths = segments.read_features(features_record["dir"], split)
        frames = [np.asarray(u, dtype=np.float32) for u in segments.utterances(feats, lengths)]
        return [phones_of(path, symbols) for path in decode_paths(model, frames)]
    return greedy_decode(model.net, load_audio_split(features_record, split), symbols)


def build_generator(cfg: gan.GanConfig, state: dict | None = None) -> gan.Generator:
    """A generator for ``cfg``, with weights from a checkpoint's ``generator`` state when given."""
    generator = gan.Generator(cfg)
    if state is not None:
        generator.load_state_dict(state)
    return generator.eval()


def train_run(job: dict) -> dict:
    """Train (or resume) one run of the sweep; returns its summary. ``job`` holds plain values only."""
    setup_logging(job["log_level"])
    torch.set_num_threads(job["threads"])
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    symbols = job["symbols"]
    cfg = gan.GanConfig(**job["config"])
    features_record, text_record = job["features_record"], job["text_record"]
    train_x = load_audio_split(features_record, "train")
    valid_x = load_audio_split(features_record, "valid")
    text = load_text(text_record["phone_text"], symbols, job["max_text_sentences"], job["seed"])
    phone_lm = lm.load(text_record["phone_lm"])
    inventory = [s for s in symbols if s != SIL]
    refs = {"valid": load_references(text_record, "valid")}

    torch.manual_seed(job["seed"])
    generator, disc = gan.Generator(cfg), gan.Discriminator(cfg)
    opt_g, opt_d = make_optimizers(generator, disc, job["g_lr"], job["d_lr"], job["d_weight_decay"])
    history, step, best = [], 0, None
    last = run_dir / "checkpoint_last.pt"
    if last.is_file():
        state = load_checkpoint(last)
        generator.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step, history, best = state["step"], json.loads(state["history"]), json.loads(state["best"])
        torch.set_rng_state(state["rng"])
        log.info("%s: resuming at update %d", run_dir.name, step)
    rng = np.random.default_rng(job["seed"] * 7919 + step)
    start, losses = time.time(), {}
    seconds_before = history[-1]["seconds"] if history else 0.0
    bar = tqdm(total=job["updates"], initial=step, desc=run_dir.name, unit="upd", disable=job["quiet"])
    while step < job["updates"]:
        generator.train()
        disc.train()
        x, pad = pad_features([train_x[i] for i in rng.integers(0, len(train_x), job["batch_size"])])
        real, real_pad = one_hot_text([text[i] for i in rng.integers(0, len(text), job["batch_size"])], cfg.vocab)
        losses.update(gan_update(step, generator, disc, opt_g, opt_d, cfg, x, pad, real, real_pad, job["clip_norm"]))
        step += 1
        bar.update(1)
        if step % job["eval_every"] == 0 or step == job["updates"]:
            hyps = greedy_decode(generator, valid_x, symbols)
            entry = {"update": step, "seconds": seconds_before + time.time() - start, **losses,
                     **unsupervised_scores(hyps, phone_lm, inventory)}
            if refs["valid"] is not None:
                entry["per_valid_report_only"] = phone_error_rate(hyps, refs["valid"])
            history.append(entry)
            metric = entry[job["selection"]]
            if best is None or metric < best["metric"]:
                best = {"metric": metric, "update": step, "total_logprob": entry["total_logprob"]}
                _checkpoint(run_dir / "checkpoint_best.pt", {"generator": generator.state_dict(), "update": step,
                                                            "config": json.dumps(asdict(cfg)), "symbols": symbols})
            _checkpoint(last, {"generator": generator.state_dict(), "discriminator": disc.state_dict(),
                               "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                               "history": json.dumps(history), "best": json.dumps(best), "rng": torch.get_rng_state()})
            atomic_write_json(run_dir / "history.json", history)
            log.info("%s update %d: lm_ppl %.1f vocab %.2f weighted %.1f", run_dir.name, step, entry["lm_ppl"],
                     entry["vocab_seen"], entry["weighted_lm_ppl"])
    bar.close()
    return {"run": run_dir.name, "dir": str(run_dir), "best": best, "final": history[-1], "updates": step,
            "seconds": history[-1]["seconds"]}


# ------------------------------------------------------------------------------------------------ the stage

def stage_hash(p: dict, features_record: dict, text_record: dict) -> str:
    """Hash of the method's parameters (report-only ones and the other method's left out) and of both inputs."""
    other = DECIPHER_PARAMS if p["method"] == "gan" else GAN_PARAMS
    return params_hash({**p, "features": features_record["params_hash"], "text": text_record["params_hash"]},
                       report_only=("supervised_epochs", *other))


def output_dir(p: dict, features_record: dict, text_record: dict) -> Path:
    """``<data_root>/<profile>/05_train_gan/<method>-<hash of parameters and inputs>``."""
    return profile_data_dir(p) / NOTEBOOK / f"{p['method']}-{stage_hash(p, features_record, text_record)}"


def sweep_settings(p: dict) -> list[dict]:
    """Every combination of the sweep's seeds and penalty weights."""
    return [{"seed": s, "code_penalty": float(c), "gradient_penalty": float(g), "smoothness": float(m)}
            for s, c, g, m in itertools.product(p["sweep_seeds"], p["sweep_code_penalty"],
                                                p["sweep_gradient_penalty"], p["sweep_smoothness"])]


def run(p: dict) -> dict:
    """Train with the chosen method (resuming unfinished work), then select a checkpoint without labels."""
    features_record = stage.load_stage(p, "features", "03_features")
    text_record = stage.load_stage(p, "text", "04_text_prep")
    out_dir = output_dir(p, features_record, text_record)
    phash = stage_hash(p, features_record, text_record)
    symbols = read_dictionary(text_record["dict_phn"])
    if stage.is_done(out_dir, phash):
        log.info("05_train_gan: already done for these parameters in %s", out_dir)
    elif p["method"] == "decipher":
        selection = _run_decipher(p, out_dir, features_record, text_record, symbols)
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p, seconds=selection["seconds"])
    else:
        dim = gan_input_dim(features_record)
        settings = sweep_settings(p)
        cores = len(os.sched_getaffinity(0))
        parallel = p["parallel_runs"] or max(1, min(len(settings), cores))
        threads = max(1, cores // parallel)
        jobs = []
        for setting in settings:
            cfg = gan.GanConfig(input_dim=dim, vocab=len(symbols), generator_kernel=p["generator_kernel"],
                                generator_batch_norm=p["generator_batch_norm"], disc_dim=p["disc_dim"],
                                disc_kernel=p["disc_kernel"], disc_depth=p["disc_depth"],
                                gradient_penalty=setting["gradient_penalty"], code_penalty=setting["code_penalty"],
                                smoothness=setting["smoothness"])
            jobs.append({**{k: p[k] for k in ("updates", "batch_size", "g_lr", "d_lr", "d_weight_decay", "clip_norm",
                                             "eval_every", "selection", "max_text_sentences", "log_level")},
                         "seed": setting["seed"], "config": asdict(cfg), "symbols": symbols, "threads": threads,
                         "run_dir": str(out_dir / "runs" / run_name(setting)), "quiet": parallel > 1,
                         "features_record": features_record, "text_record": text_record})
        log.info("05_train_gan: %d run(s), %d at once with %d thread(s) each, %d updates each", len(jobs), parallel,
                 threads, p["updates"])
        start = time.time()
        if parallel == 1:
            results = [train_run(job) for job in jobs]
        else:
            with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
                results = list(tqdm(pool.map(train_run, jobs), total=len(jobs), desc="sweep", unit="run"))
        selection = select(results, p["selection"])
        selection["seconds"] = round(time.time() - start, 1)
        atomic_write_json(out_dir / "selection.json", {**selection, "runs": results})
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p, seconds=selection["seconds"])
    selection = json.loads((out_dir / "selection.json").read_text())
    record = {"dir": str(out_dir), "params_hash": phash, "method": p["method"], "checkpoint": selection["checkpoint"],
              "run": selection["run"], "symbols": symbols, "features": features_record["dir"],
              "text": text_record["dir"]}
    stage.record_stage(p, KEY, record)
    return record


def _run_decipher(p: dict, out_dir: Path, features_record: dict, text_record: dict, symbols: list[str]) -> dict:
    """Decipherment and self-training rounds (resumed), the round selected without labels; writes selection.json."""
    from . import decipher, selftrain

    frames = {split: [np.asarray(u, dtype=np.float32) for u in segments.utterances(
        *segments.read_features(features_record["dir"], split, mmap=False))] for split in ("train", "valid")}
    settings = {"groups": p["decipher_groups"], "min_run": p["decipher_min_run"], "tokens": p["decipher_tokens"],
                "split": p["decipher_split"], "restarts": p["decipher_restarts"], "iters": p["decipher_iters"],
                "refine": p["decipher_refine"], "refine_iters": p["decipher_refine_iters"],
                "rounds": p["selftrain_rounds"], "epochs": p["selftrain_epochs"], "hidden": p["classifier_hidden"]}
    result = selftrain.run_chains(out_dir, frames, decipher.read_units(features_record["centroids"], "train"),
                                  decipher.phone_lines(text_record["phone_text"], symbols), symbols, settings,
                                  lm.load(text_record["phone_lm"]), load_references(text_record, "valid"),
                                  [int(seed) for seed in p["decipher_seeds"]], p["selftrain_screen_rounds"])
    rounds = [{"seed": seed, **r} for seed, chain in result["chains"].items() for r in chain["rounds"]]
    chosen = selftrain.select_round(rounds)
    name = f"seed{chosen['seed']}-round-{chosen['round']}"
    seconds = sum(c["decipherment"]["seconds"] + sum(r["seconds"] for r in c["rounds"]) for c in result["chains"].values())
    selection = {"run": name, "rule": "lowest_train_phone_lm_ppl", "metric": chosen["phone_lm_ppl_train"],
                 "checkpoint": str(out_dir / f"chain-seed{chosen['seed']}" / "rounds" / f"round-{chosen['round']}" / "model.pt"),
                 "update": chosen["round"], "seed": chosen["seed"], "continued_seed": result["continued"],
                 "seconds": round(seconds, 1), "rounds": rounds,
                 "decipherment": {str(seed): c["decipherment"] for seed, c in result["chains"].items()}}
    atomic_write_json(out_dir / "selection.json", selection)
    log.info("05_train_gan: selected %s (train phone-LM perplexity %.2f, no labels)", name, chosen["phone_lm_ppl_train"])
    return selection


def select(results: list[dict], rule: str) -> dict:
    """The run chosen without labels from each run's best checkpoint.

    ``weighted_lm_ppl``: the lowest score. ``nll_logu`` (the paper's rule): among runs within log(1.2) of the
    lowest NLL - log U, the one whose transcripts have the highest total LM log-probability.
    """
    scored = [r for r in results if r["best"] is not None]
    if not scored:
        raise KitError("no run produced a checkpoint")
    if rule == "nll_logu":
        lowest = min(r["best"]["metric"] for r in scored)
        near = [r for r in scored if r["best"]["metric"] <= lowest + math.log(1.2)]
        chosen = max(near, key=lambda r: r["best"]["total_logprob"])
    else:
        chosen = min(scored, key=lambda r: r["best"]["metric"])
    return {"run": chosen["run"], "checkpoint": str(Path(chosen["dir"]) / "checkpoint_best.pt"),
            "rule": rule, "metric": chosen["best"]["metric"], "update": chosen["best"]["update"]}


# ------------------------------------------------------------------------------------------------ report-only

def evaluate(p: dict, record: dict) -> dict:
    """Report-only figures of the selected model and the reference points; cached in diagnostics.json.

    Uses the audio's reference phones: PER of the selected checkpoint on valid and test, chance PER, the
    supervised CTC reference, unit purity and, for the GAN, the objective check (losses at the supervised vs
    found solution).
    """
    from . import diagnostics, probe

    out_path = Path(record["dir"]) / "diagnostics.json"
    if out_path.is_file():
        cached = json.loads(out_path.read_text())
        if cached.get("supervised_epochs") == p["supervised_epochs"] and cached.get("checkpoint") == record["checkpoint"]:
            return cached
    features_record = stage.load_stage(p, "features", "03_features")
    text_record = stage.load_stage(p, "text", "04_text_prep")
    symbols = record["symbols"]
    model = load_model(record)
    selection = json.loads((Path(record["dir"]) / "selection.json").read_text())
    result = {"selection": {k: selection[k] for k in ("run", "rule", "metric", "update")},
              "supervised_epochs": p["supervised_epochs"], "checkpoint": record["checkpoint"]}
    refs = {split: load_references(text_record, split) for split in ("valid", "test")}
    if refs["test"] is None:
        result["note"] = "the corpus has no reference phones: no PER is reported"
        stage.atomic_write_json(out_path, result)
        return result
    for split in ("valid", "test"):
        result[f"per_{split}"] = phone_error_rate(model_phones(model, features_record, split, symbols), refs[split])
    counts = json.loads((Path(text_record["dir"]) / "summary.json").read_text())["phone_counts"]
    result["per_chance"] = diagnostics.chance_per(refs["test"], counts, seed=p["seed"])
    if p["supervised_epochs"] > 0:
        sup = probe.train_probe(features_record["gan_input"], epochs=p["supervised_epochs"], seed=p["seed"],
                                return_model=True)
        result["per_supervised"] = sup["per"]
        train_refs = load_references(text_record, "train")
        result["unit_purity"] = diagnostics.unit_purity(features_record, train_refs, p["supervised_epochs"],
                                                        seed=p["seed"])
        if record.get("method", "gan") == "gan":
            result["objective_check"] = _objective_check(p, record, model.net, sup, features_record, text_record,
                                                         train_refs, refs["valid"])
    stage.atomic_write_json(out_path, result)
    return result


def _objective_check(p, record, generator, sup, features_record, text_record, train_refs, valid_refs) -> dict:
    """GAN losses at the supervised solution vs at the found one (report-only)."""
    from . import diagnostics

    symbols, cfg = record["symbols"], generator.cfg
    last = load_checkpoint(Path(record["checkpoint"]).with_name("checkpoint_last.pt"))
    disc = gan.Discriminator(cfg)
    disc.load_state_dict(last["discriminator"])
    supervised = diagnostics.aligned_generator(sup["model"], sup["symbol_list"], load_audio_split(features_record, "train"),
                                               train_refs, symbols, cfg.generator_kernel, p["supervised_epochs"], p["seed"])
    return diagnostics.objective_check(generator, supervised, disc, cfg, load_audio_split(features_record, "valid"),
                                       symbols, lm.load(text_record["phone_lm"]), valid_refs)


def sweep_table(record: dict):
    """GAN: one row per run (settings, best label-free score and update, report-only valid PER at that update).
    Decipher: one row per chain seed and self-training round (label-free signals, report-only valid PER, seconds)."""
    import pandas as pd

    if record.get("method", "gan") == "decipher":
        selection = json.loads((Path(record["dir"]) / "selection.json").read_text())
        table = pd.DataFrame(selection["rounds"]).set_index(["seed", "round"])
        table["selected"] = [f"seed{seed}-round-{k}" == record["run"] for seed, k in table.index]
        return table.rename(columns={"per_valid_report_only": "per_valid (report-only)"})
    rows = []
    for run_dir in sorted((Path(record["dir"]) / "runs").iterdir()):
        history = json.loads((run_dir / "history.json").read_text())
        best = min(history, key=lambda e: e["weighted_lm_ppl"])
        rows.append({"run": run_dir.name, "updates": history[-1]["update"], "best_update": best["update"],
                     "weighted_lm_ppl": round(best["weighted_lm_ppl"], 1), "lm_ppl": round(best["lm_ppl"], 1),
                     "vocab_seen": round(best["vocab_seen"], 2),
                     "per_valid (report-only)": round(best.get("per_valid_report_only", float("nan")), 3),
                     "selected": run_dir.name == record["run"]})
    return pd.DataFrame(rows).set_index("run")


def metrics(p: dict, record: dict, report: dict) -> dict:
    """train.* metrics: PERs (report-only), purity, selection metric, updates, time, method."""
    selection = json.loads((Path(record["dir"]) / "selection.json").read_text())
    rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
    purity = report.get("unit_purity", {}).get("purity")
    out = {"per_test": rounded(report.get("per_test")), "per_valid": rounded(report.get("per_valid")),
           "per_supervised": rounded(report.get("per_supervised")), "per_chance": rounded(report.get("per_chance")),
           "unit_purity": rounded(purity), "selection_metric": rounded(selection["metric"])}
    if record.get("method", "gan") == "decipher":
        return {**out, "rounds": len(selection["rounds"]), "selected_round": selection["update"],
                "selected_seed": selection["seed"], "chains": len(selection["decipherment"]),
                "seconds": selection["seconds"],
                "decipherment_seconds": round(sum(d["seconds"] for d in selection["decipherment"].values()), 1),
                "method": "decipherment + self-training"}
    seconds = sum(r["seconds"] for r in selection["runs"])
    updates = sum(r["updates"] for r in selection["runs"])
    return {**out, "updates": updates, "seconds": round(seconds, 1),
            "seconds_per_1000_updates": round(1000 * seconds / max(updates, 1), 1), "method": "wav2vec-U GAN"}
