"""Method ``gan``: wav2vec-U (fairseq ``w2vu.yaml``), a sweep of GAN runs on stage 03's pooled segments and the
run chosen without labels (see :mod:`.training`); the LibriSpeech profile's method, used with wav2vec 2.0 features.

A method package (see :mod:`aitranscribe.models`).
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...core.files import atomic_torch_save, read_json
from ...core.machine import cores
from ...core.metric_labels import PLAIN
from ...core.params import Param
from ...decoding import graph
from ...io import feature_files
from ...scale import executor, shards
from .. import decipher
from ..base import read_inputs
from . import network
from .checks import report_checks  # noqa: F401 - a member of the method package
from .model import GanModel
from ..batching import one_hot, pad
from ..training import steps_per_second
from .training import (fit_to_labels, gan_update, load_checkpoint, make_optimizers, run_name, segment_tensors,
                       select, sweep_settings, text_tensors, train_run)

log = logging.getLogger(__name__)

NAME = "gan"
LABEL = "wav2vec-U GAN"
STEP = "update"

PARAMS = {
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
    "d_steps": Param(1, int, "discriminator updates before each generator update (fairseq: 1); updates count both"),
    "d_reset_every": Param(0, int, "generator updates between re-initialisations of the discriminator, 0 for never"),
    "fake": Param("softmax", str, "what the discriminator sees of the generator: its softmax (fairseq) or one-hot "
                  "phones sampled from it (straight-through Gumbel-softmax)", ("softmax", "sampled")),
    "temperature": Param(1.0, float, "fake sampled: the Gumbel-softmax temperature"),
    "generator_crop": Param(False, bool, "keep T generator outputs of an even kernel (fairseq keeps T + 1)"),
    "sweep_seeds": Param([0], list, "seeds of the sweep"),
    "sweep_code_penalty": Param([4.0], list, "code penalty weights of the sweep"),
    "sweep_gradient_penalty": Param([1.5], list, "gradient penalty weights of the sweep"),
    "sweep_smoothness": Param([0.5], list, "smoothness weights of the sweep"),
    "eval_every": Param(100, int, "updates between evaluations and checkpoints"),
    "parallel_runs": Param(0, int, "runs at once, 0 for as many as cores allow"),
    "selection": Param("weighted_lm_ppl", str, "label-free selection rule", ("weighted_lm_ppl", "nll_logu")),
    "max_text_sentences": Param(0, int, "at most this many phone-text sentences are loaded, 0 for all"),
    "init": Param("random", str, "the generator's start: random (fairseq), or fitted to the labels the decipher "
                  "method (its settings: train.decipher) gives the train segments, no labels used",
                  ("random", "decipher")),
    "init_epochs": Param(10, int, "init decipher: epochs fitting the generator to the decipher method's labels"),
}
LABELS = {  # the figures metrics() adds to stage 05's: (label, how the value is shown)
    "updates": ("GAN updates, all runs", PLAIN),
    "seconds_per_1000_updates": ("seconds per 1,000 GAN updates", PLAIN),
    "selected_update": ("selected GAN update (0: its start)", PLAIN),
    "init_seconds": ("GAN start: decipher method, labels and fit (s)", PLAIN),
}
CURVES = (("d_fake", "D loss on fake"), ("d_real", "D loss on real"), ("g_adv", "G adversarial loss"),
          ("code_pen", "code penalty"), ("weighted_lm_ppl", "weighted LM ppl (selection, no labels)"),
          ("per_valid_report_only", "valid PER (report-only, labels)"))

load = GanModel.load


def input_dim(features_record: dict) -> int:
    """Feature dimension of the pooled segments the generator reads."""
    return int(np.load(Path(features_record["segments"]) / "train.npy", mmap_mode="r").shape[1])


def config(s: dict, features_record: dict, vocab: int, setting: dict | None = None) -> network.GanConfig:
    """The network sizes and loss weights of settings ``s`` (penalty weights from a sweep ``setting``)."""
    setting = setting or {"gradient_penalty": 1.5, "code_penalty": 4.0, "smoothness": 0.5}
    return network.GanConfig(input_dim=input_dim(features_record), vocab=vocab, generator_kernel=s["generator_kernel"],
                             generator_batch_norm=s["generator_batch_norm"], disc_dim=s["disc_dim"],
                             disc_kernel=s["disc_kernel"], disc_depth=s["disc_depth"], generator_crop=s["generator_crop"],
                             gradient_penalty=setting["gradient_penalty"], code_penalty=setting["code_penalty"],
                             smoothness=setting["smoothness"])


def uses(s: dict) -> tuple[str, ...]:
    """Other methods whose settings change this one's result: ``decipher`` when the generator starts from it."""
    return ("decipher",) if s["init"] == "decipher" else ()


def segment_labels(frame_labels: list[np.ndarray], bounds: list[np.ndarray]) -> list[np.ndarray]:
    """The most frequent frame label of every pooled segment (``bounds``: per utterance, first and one-past-last
    frame of each segment)."""
    return [np.array([np.bincount(y[a:b]).argmax() for a, b in b_utt]) for y, b_utt in zip(frame_labels, bounds)]


def decipher_labels(p: dict, out_dir: Path, features_record: dict, text_record: dict,
                    symbols: list[str]) -> tuple[list[torch.Tensor], dict, float]:
    """The decipher method's phone label of every train segment (no labels used): that method trains into
    ``out_dir/decipher`` (resumed) with ``p["decipher"]``; its selected model labels the train frames (through the
    word graph when it trained on word labels, else its phone HMM) and each pooled segment takes its frames'
    majority. Returns ``(labels per utterance, the chosen decipher run's record, seconds of labelling)``."""
    chosen = decipher.train(p["decipher"], out_dir / "decipher", features_record, text_record, symbols, p)
    start = time.time()
    teacher = decipher.load(chosen["checkpoint"])
    frames = feature_files.read_utterances(features_record["dir"], "train")
    if chosen.get("word_scale") is not None:
        scores = teacher.frame_scores(frames)
        frame_labels = [r["steps"] for r in graph.decode_all(text_record["word_graph"], scores, teacher.stay,
                                                             chosen["word_scale"], workers=p["decipher"]["workers"])]
    else:
        frame_labels = teacher.frame_paths(frames)
    _, bounds = read_inputs(GanModel.input, features_record, "train")
    labels = [torch.from_numpy(y.astype(np.int64)) for y in segment_labels(frame_labels, bounds)]
    return labels, chosen, time.time() - start


def decipher_init(s: dict, out_dir: Path, features_record: dict, text_record: dict, symbols: list[str],
                  p: dict) -> dict:
    """The generator's start from the decipher method (no labels): :func:`decipher_labels`, then a generator of
    this run's shape fitted to them for ``init_epochs`` epochs. Written once to ``out_dir/init_generator.pt``.
    Returns ``{"generator": path, "seconds", "label_agreement", ...}``."""
    path = out_dir / "init_generator.pt"
    if path.is_file():
        return json.loads(load_checkpoint(path)["info"])
    labels, chosen, label_seconds = decipher_labels(p, out_dir, features_record, text_record, symbols)
    start = time.time()
    torch.manual_seed(s["sweep_seeds"][0])
    generator = network.Generator(config(s, features_record, len(symbols)))
    train_x = segment_tensors(features_record, "train")
    fit_to_labels(generator, train_x, labels, s["init_epochs"], s["batch_size"], seed=s["sweep_seeds"][0])
    generator.eval()
    with torch.no_grad():
        agree = np.mean(np.concatenate([generator(x[None])[0, :len(y)].argmax(-1).numpy() == y.numpy()
                                        for x, y in zip(train_x, labels)]))
    info = {"generator": str(path), "decipher_run": chosen["run"], "decipher_seconds": chosen["seconds"],
            "label_seconds": round(label_seconds, 1), "fit_seconds": round(time.time() - start, 1),
            "label_agreement": round(float(agree), 4), "segments": int(sum(len(y) for y in labels))}
    atomic_torch_save(path, {"generator": generator.state_dict(), "info": json.dumps(info)})
    log.info("05_train: GAN generator initialised from the decipher method's %s (%d segments, fits %.1f%% of its "
             "labels)", chosen["run"], info["segments"], 100 * info["label_agreement"])
    return info


def sweep_worker():
    """One worker of the sweep: ``process(shard)`` trains (or resumes) the shard's run (:func:`.training.train_run`)
    -> its summary."""
    return lambda shard: (train_run(shard.items[0]), [])


def _sweep_on_workers(jobs: list[dict], run_settings) -> list[dict]:
    """The sweep's runs as independent shards on Ray workers (``worker_threads`` threads each), one run each, its
    summary in ``<run>/sweep_result.json``."""
    jobs = [{**job, "threads": run_settings.threads, "quiet": True} for job in jobs]
    plan = [shards.Shard(Path(job["run_dir"]).name, (job,), Path(job["run_dir"]) / "sweep_result.json",
                         {k: v for k, v in job.items() if k not in ("log_level", "quiet")}) for job in jobs]
    executor.run(plan, sweep_worker, {}, run_settings, "GAN sweep")
    return [read_json(shard.output) for shard in plan]


def run_job(s: dict, setting: dict, run_dir: Path, features_record: dict, text_record: dict, symbols: list[str],
            threads: int, quiet: bool, log_level: str, init_generator: str | None = None) -> dict:
    """The plain-value job of one run (:func:`.training.train_run`): settings ``s``, the sweep's ``setting`` (seed
    and penalty weights), where it writes, and the generator it starts from (None: random)."""
    return {**{k: s[k] for k in ("updates", "batch_size", "g_lr", "d_lr", "d_weight_decay", "clip_norm", "eval_every",
                                 "selection", "max_text_sentences")},
            "schedule": {k: s[k] for k in ("d_steps", "d_reset_every", "fake", "temperature")},
            "log_level": log_level, "seed": setting["seed"],
            "config": asdict(config(s, features_record, len(symbols), setting)), "symbols": symbols, "threads": threads,
            "run_dir": str(run_dir), "quiet": quiet, "init_generator": init_generator,
            "features_record": features_record, "text_record": text_record}


def train(s: dict, out_dir: Path, features_record: dict, text_record: dict, symbols: list[str], p: dict) -> dict:
    """Every run of the sweep (resumed from its last checkpoint; runs in parallel processes when cores allow, or as
    independent shards on Ray workers with ``executor: ray``, ``worker_threads`` threads each), then the run chosen
    without labels. Returns the selection with every run's summary."""
    settings = sweep_settings(s)
    init = decipher_init(s, out_dir, features_record, text_record, symbols, p) if s["init"] == "decipher" else None
    start = time.time()
    parallel = s["parallel_runs"] or max(1, min(len(settings), cores()))
    threads = max(1, cores() // parallel)
    jobs = [run_job(s, setting, out_dir / "runs" / run_name(setting), features_record, text_record, symbols,
                    threads, parallel > 1, p["log_level"], init["generator"] if init else None)
            for setting in settings]
    log.info("05_train: %d GAN run(s), %d at once with %d thread(s) each, %d updates each", len(jobs), parallel,
             threads, s["updates"])
    run_settings = executor.Settings.of(p)
    if run_settings.executor == "ray" and len(jobs) > 1:
        results = _sweep_on_workers(jobs, run_settings)
    elif parallel == 1:
        results = [train_run(job) for job in jobs]
    else:
        with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
            results = list(tqdm(pool.map(train_run, jobs), total=len(jobs), desc="sweep", unit="run"))
    # the start from the decipher method counts: its training, labelling and fit as recorded when they ran
    seconds = time.time() - start + (init["decipher_seconds"] + init["label_seconds"] + init["fit_seconds"]
                                     if init else 0.0)
    return {**select(results, s["selection"]), "seconds": round(seconds, 1), "runs": results,
            **({"init": init} if init else {})}


def _histories(summary: dict) -> dict[str, list[dict]]:
    return {r["run"]: json.loads((Path(r["dir"]) / "history.json").read_text()) for r in summary["runs"]}


def history(summary: dict) -> list[dict]:
    """One row per run and evaluation: ``run``, ``step`` (the update), losses, label-free scores, report-only PER."""
    return [{"run": run, "step": e["update"], **e} for run, entries in _histories(summary).items() for e in entries]


def table(summary: dict) -> list[dict]:
    """One row per run: its best label-free score and update, the report-only valid PER there, selected or not."""
    rows = []
    for run, entries in _histories(summary).items():
        best = min(entries, key=lambda e: e["weighted_lm_ppl"])
        rows.append({"run": run, "updates": entries[-1]["update"], "best_update": best["update"],
                     "weighted_lm_ppl": round(best["weighted_lm_ppl"], 1), "lm_ppl": round(best["lm_ppl"], 1),
                     "vocab_seen": round(best["vocab_seen"], 2),
                     "per_valid_report_only": round(best.get("per_valid_report_only", float("nan")), 3),
                     "selected": run == summary["run"]})
    return rows


def selected_step(summary: dict) -> int:
    """The update of the selected checkpoint."""
    return summary["update"]


def metrics(summary: dict) -> dict:
    """Updates of every run, training seconds (the runs' own, plus the start's: the decipher method's training,
    labelling and fit, with ``init: decipher``), seconds per 1,000 updates and the selected checkpoint's update
    (0: the start itself)."""
    seconds = sum(r["seconds"] for r in summary["runs"])
    updates = sum(r["updates"] for r in summary["runs"])
    init = summary.get("init")
    start = init["decipher_seconds"] + init["label_seconds"] + init["fit_seconds"] if init else 0.0
    return {"updates": updates, "seconds": round(seconds + start, 1),
            "seconds_per_1000_updates": round(1000 * seconds / max(updates, 1), 1), "method": LABEL,
            "selected_update": summary["update"], **({"init_seconds": round(start, 1)} if init else {})}


PAPER_SIZES = {"disc_dim": 384, "disc_kernel": 6}  # the discriminator of fairseq's w2vu.yaml
PAPER_BATCH = 160


def _update_rate(cfg: network.GanConfig, symbols: list[str], records: dict, updates: int, batch: int) -> float:
    """GAN updates (D and G alternating) per second for sizes ``cfg`` on batches of ``batch`` train segments and
    phone-text sentences of ``records`` (stage records ``features`` and ``text``)."""
    feats = segment_tensors(records["features"], "train")[:256]
    text = text_tensors(records["text"]["phone_text"], symbols, 2000, 0)
    generator, disc = network.Generator(cfg), network.Discriminator(cfg)
    opt_g, opt_d = make_optimizers(generator, disc, 4e-4, 5e-4, 1e-4)
    rng = np.random.default_rng(0)

    def update(step):
        x, padding = pad([feats[i] for i in rng.integers(0, len(feats), batch)])
        real, real_pad = one_hot([text[i] for i in rng.integers(0, len(text), batch)], cfg.vocab)
        gan_update(step, generator, disc, opt_g, opt_d, cfg, x, padding, real, real_pad, clip_norm=5.0)

    return steps_per_second(update, updates)


def throughput(model: GanModel, records: dict, items: list[dict], updates: int, batch_size: int) -> dict:
    """The benchmark's training-speed probe: GAN updates per second at ``model``'s sizes."""
    return {"train_updates_per_s": _update_rate(model.net.cfg, model.symbols, records, updates, batch_size),
            "train_update": "one GAN update (D and G alternating)"}


def reference_throughput(records: dict, symbols: list[str], updates: int) -> dict:
    """What one wav2vec-U update costs at the paper's discriminator and batch sizes on this profile's segments and
    phones (whichever method trained the selected model): ``train_updates_per_s_paper_sizes``."""
    cfg = network.GanConfig(input_dim=input_dim(records["features"]), vocab=len(symbols), **PAPER_SIZES)
    return {"train_updates_per_s_paper_sizes": _update_rate(cfg, symbols, records, updates, PAPER_BATCH)}
