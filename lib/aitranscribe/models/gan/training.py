"""Training the wav2vec-U GAN: one run (resumable from its last checkpoint), the sweep of runs, and the run
chosen without labels.

A run lives in its own directory ``runs/<settings>/`` (never shared): ``checkpoint_last.pt`` to resume,
``checkpoint_best.pt`` (the generator at the best label-free score) and ``history.json`` (one entry per
evaluation: losses, label-free scores and, report-only, the valid PER).
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...core.errors import KitError
from ...core.files import atomic_torch_save, atomic_write_json
from ...core.logs import setup_logging
from ...text.error_rates import per as phone_error_rate
from ...text import lm
from ...text.phones import SIL, phone_lines, read_references
from ..base import read_inputs
from ..batching import one_hot, pad
from ..selection import unsupervised_scores
from ..training import fit_labels
from . import network as gan
from .model import GanModel


def make_optimizers(generator, disc, g_lr: float, d_lr: float, d_weight_decay: float):
    """fairseq w2vu's Adam settings (betas 0.5/0.98, eps 1e-6); no weight decay on the generator."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=g_lr, betas=(0.5, 0.98), eps=1e-6, weight_decay=0.0)
    return opt_g, disc_optimizer(disc, d_lr, d_weight_decay)


def disc_optimizer(disc, d_lr: float, d_weight_decay: float):
    """The discriminator's Adam (fairseq's settings), also for a re-initialised discriminator."""
    return torch.optim.Adam(disc.parameters(), lr=d_lr, betas=(0.5, 0.98), eps=1e-6, weight_decay=d_weight_decay)


def optimizer_step(model, opt, loss: torch.Tensor, sample_size: int, clip_norm: float) -> float:
    """fairseq's step: gradients of the summed ``loss`` divided by ``sample_size`` (the batch), their norm clipped
    to ``clip_norm`` (0: no clipping), then the optimiser's step. Returns the norm before clipping."""
    opt.zero_grad()
    (loss / sample_size).backward()
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, clip_norm if clip_norm > 0 else float("inf"))
    opt.step()
    return float(norm)


def fit_to_labels(generator, segments: list[torch.Tensor], labels: list[torch.Tensor], epochs: int,
                  batch_size: int = 64, lr: float = 1e-3, seed: int = 0):
    """``generator`` trained by cross-entropy (:func:`..training.fit_labels`) to a phone label per input segment
    (``labels``: one index tensor per utterance, from a label-free teacher): the GAN's initialisation from another
    method's result. The fit runs on a copy that crops fairseq's extra output (the weights are the same)."""
    cropped = gan.Generator(replace(generator.cfg, generator_crop=True))
    cropped.load_state_dict(generator.state_dict())
    fit_labels(cropped, segments, labels, epochs, batch_size, lr, seed)
    generator.load_state_dict(cropped.state_dict())
    return generator


@dataclass(frozen=True)
class Schedule:
    """How the two sides take turns and what the discriminator sees. The defaults are fairseq's: one D step per
    G step, D never re-initialised, D scores the generator's softmax. The research control's recipe (docs/research.md)
    is ``d_steps=5, d_reset_every=1, fake="sampled"``: a fresh D trained for 5 steps before every G step, scoring
    one-hot phones sampled from the generator (straight-through Gumbel-softmax at ``temperature``)."""

    d_steps: int = 1
    d_reset_every: int = 0        # generator updates between re-initialisations of D (0: never)
    fake: str = "softmax"         # "softmax" (fairseq) or "sampled"
    temperature: float = 1.0

    def __post_init__(self):
        if self.d_steps < 1 or self.d_reset_every < 0 or self.temperature <= 0 or self.fake not in ("softmax", "sampled"):
            raise KitError(f"GAN schedule: d_steps >= 1, d_reset_every >= 0, temperature > 0 and fake softmax or "
                           f"sampled are needed, got {self}")

    def is_d_step(self, step: int) -> bool:
        """Steps count both sides (as fairseq's updates): step 0 is G's, then ``d_steps`` of D, then G's, ..."""
        return step % (self.d_steps + 1) != 0

    def resets_d(self, step: int) -> bool:
        """Whether D starts afresh at ``step``: the first D step after every ``d_reset_every``-th G update."""
        rounds, phase = divmod(step, self.d_steps + 1)
        return self.d_reset_every > 0 and phase == 1 and rounds > 0 and rounds % self.d_reset_every == 0


def generator_output(generator, x, padding, cfg: gan.GanConfig, schedule: Schedule, join: bool = True):
    """``(segment logits, what D sees, its padding)`` of a batch: JOIN-segmented (fairseq) or every step
    (``join=False``); D sees the softmax or, with ``schedule.fake == "sampled"``, one-hot samples."""
    if join:
        logits, probs, out_pad = gan.generator_forward(generator, x, padding, cfg, training=True)
    else:
        logits = generator(x, padding)
        probs, out_pad = torch.softmax(logits, -1), gan.output_padding(padding, logits.shape[1])
    if schedule.fake == "sampled":
        probs = torch.nn.functional.gumbel_softmax(logits, tau=schedule.temperature, hard=True)
        probs = probs.masked_fill(out_pad.unsqueeze(-1), 0.0)
    return logits, probs, out_pad


def discriminator_step(generator, disc, opt_d, cfg: gan.GanConfig, schedule: Schedule, x, padding, real, real_pad,
                       clip_norm: float, join: bool = True) -> dict:
    """One D update on a batch (the generator's side computed without gradients); its loss parts and
    ``grad_norm`` (before clipping)."""
    with torch.no_grad():
        _, fake, fake_pad = generator_output(generator, x, padding, cfg, schedule, join)
    loss, parts = gan.discriminator_loss(disc, cfg, fake, fake_pad, real, real_pad)
    parts["grad_norm"] = optimizer_step(disc, opt_d, loss, x.shape[0], clip_norm)
    return parts


def generator_step(generator, disc, opt_g, cfg: gan.GanConfig, schedule: Schedule, x, padding, clip_norm: float,
                   join: bool = True) -> dict:
    """One G update on a batch: adversarial loss on what D sees, plus the penalties on the segment logits."""
    seg_logits, fake, fake_pad = generator_output(generator, x, padding, cfg, schedule, join)
    loss, parts = gan.generator_loss(disc, cfg, seg_logits, fake_pad, fake if schedule.fake == "sampled" else None)
    parts["grad_norm"] = optimizer_step(generator, opt_g, loss, x.shape[0], clip_norm)
    return parts


def gan_update(step: int, generator, disc, opt_g, opt_d, cfg: gan.GanConfig, x, padding, real, real_pad,
               clip_norm: float, schedule: Schedule = Schedule()) -> dict:
    """Step ``step`` of a run: D's or G's update as ``schedule`` says (fairseq's: D on odd steps, G on even ones);
    loss parts and the gradient norm before clipping (``grad_norm``)."""
    if schedule.is_d_step(step):
        return discriminator_step(generator, disc, opt_d, cfg, schedule, x, padding, real, real_pad, clip_norm)
    return generator_step(generator, disc, opt_g, cfg, schedule, x, padding, clip_norm)


def run_name(setting: dict) -> str:
    """Directory name of a run: its penalty weights and seed."""
    return (f"cp{setting['code_penalty']}_gp{setting['gradient_penalty']}_sm{setting['smoothness']}"
            f"_seed{setting['seed']}")


def sweep_settings(s: dict) -> list[dict]:
    """Every combination of the sweep's seeds and penalty weights (``s``: the method's settings)."""
    return [{"seed": seed, "code_penalty": float(c), "gradient_penalty": float(g), "smoothness": float(m)}
            for seed, c, g, m in itertools.product(s["sweep_seeds"], s["sweep_code_penalty"],
                                                   s["sweep_gradient_penalty"], s["sweep_smoothness"])]


def load_checkpoint(path) -> dict:
    """A run's checkpoint, loaded weights-only (tensors and plain values)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def text_tensors(path, symbols: list[str], limit: int, seed: int) -> list[torch.Tensor]:
    """The phone text as index tensors, ``<SIL>`` runs kept as written (the discriminator's real data)."""
    return [torch.from_numpy(line) for line in phone_lines(path, symbols, merge_runs=False, limit=limit, seed=seed)]


def segment_tensors(features_record: dict, split: str) -> list[torch.Tensor]:
    """Pooled segment features of a split, one tensor per utterance (the generator's input)."""
    return [torch.from_numpy(f) for f in read_inputs(GanModel.input, features_record, split)[0]]


def train_run(job: dict) -> dict:
    """Train (or resume) one run of the sweep; returns its summary. ``job`` holds plain values only."""
    setup_logging(job["log_level"])
    log = logging.getLogger(__name__)
    torch.set_num_threads(job["threads"])
    run_dir = Path(job["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    symbols = job["symbols"]
    cfg = gan.GanConfig(**job["config"])
    schedule = Schedule(**job["schedule"])
    features_record, text_record = job["features_record"], job["text_record"]
    train_x = segment_tensors(features_record, "train")
    valid_x = segment_tensors(features_record, "valid")
    text = text_tensors(text_record["phone_text"], symbols, job["max_text_sentences"], job["seed"])
    phone_lm = lm.load(text_record["phone_lm"])
    inventory = [s for s in symbols if s != SIL]
    refs_valid = read_references(text_record["references"], "valid")

    torch.manual_seed(job["seed"])
    generator, disc = gan.Generator(cfg), gan.Discriminator(cfg)
    opt_g, opt_d = make_optimizers(generator, disc, job["g_lr"], job["d_lr"], job["d_weight_decay"])
    history, step, best = [], 0, None
    last = run_dir / "checkpoint_last.pt"
    started_from = job.get("init_generator") and not last.is_file()
    if started_from:
        generator.load_state_dict(load_checkpoint(job["init_generator"])["generator"])
        log.info("%s: the generator starts from %s", run_dir.name, Path(job["init_generator"]).name)
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
    def evaluate() -> None:  # valid transcripts scored without labels; checkpoints (the best and the last)
        nonlocal best
        hyps = GanModel(generator, symbols).phones(valid_x)
        entry = {"update": step, "seconds": seconds_before + time.time() - start, **losses,
                 **unsupervised_scores(hyps, phone_lm, inventory)}
        if refs_valid is not None:
            entry["per_valid_report_only"] = phone_error_rate(hyps, refs_valid)
        history.append(entry)
        metric = entry[job["selection"]]
        if best is None or metric < best["metric"]:
            best = {"metric": metric, "update": step, "total_logprob": entry["total_logprob"]}
            atomic_torch_save(run_dir / "checkpoint_best.pt",
                              {"kind": "gan", "generator": generator.state_dict(), "update": step,
                               "config": json.dumps(asdict(cfg)), "symbols": symbols})
        atomic_torch_save(last, {"generator": generator.state_dict(), "discriminator": disc.state_dict(),
                                 "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                                 "history": json.dumps(history), "best": json.dumps(best),
                                 "rng": torch.get_rng_state()})
        atomic_write_json(run_dir / "history.json", history)
        log.info("%s update %d: lm_ppl %.1f vocab %.2f weighted %.1f", run_dir.name, step, entry["lm_ppl"],
                 entry["vocab_seen"], entry["weighted_lm_ppl"])

    if started_from and step == 0:  # the start is a candidate too: the selection never ends below it
        evaluate()
    bar = tqdm(total=job["updates"], initial=step, desc=run_dir.name, unit="upd", disable=job["quiet"])
    while step < job["updates"]:
        generator.train()
        disc.train()
        x, padding = pad([train_x[i] for i in rng.integers(0, len(train_x), job["batch_size"])])
        real, real_pad = one_hot([text[i] for i in rng.integers(0, len(text), job["batch_size"])], cfg.vocab)
        if schedule.resets_d(step):
            disc = gan.Discriminator(cfg)
            opt_d = disc_optimizer(disc, job["d_lr"], job["d_weight_decay"])
        losses.update(gan_update(step, generator, disc, opt_g, opt_d, cfg, x, padding, real, real_pad,
                                 job["clip_norm"], schedule))
        step += 1
        bar.update(1)
        if step % job["eval_every"] == 0 or step == job["updates"]:
            evaluate()
    bar.close()
    return {"run": run_dir.name, "dir": str(run_dir), "best": best, "final": history[-1], "updates": step,
            "seconds": history[-1]["seconds"]}


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
