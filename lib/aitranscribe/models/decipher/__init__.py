"""Method ``decipher``: decipherment of audio segment tokens with the unpaired text's phone statistics, then rounds
of self-training a frame classifier decoded by a hybrid HMM (see :mod:`.selftrain`). No labels are used.

A method package (see :mod:`aitranscribe.models`).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from ...core.errors import KitError
from ...core import machine
from ...core.files import read_json
from ...core.stage import cached_step, load_stage
from ...core.logs import setup_logging
from ...core.metric_labels import PLAIN
from ...core.params import Param
from ...decoding import graph, tuning
from ...io import feature_files
from ...scale import executor, shards
from ...decoding.phones import collapse
from ..batching import IGNORE, pad
from ..training import cross_entropy_step, steps_per_second
from ...text import lm
from ...text.phones import phone_lines, read_references
from ...text.error_rates import per as phone_error_rate
from . import ensemble, selftrain, supervised, voice_subset
from .model import FrameModel

log = logging.getLogger(__name__)

NAME = "decipher"
LABEL = "decipherment + self-training"
STEP = "self-training round"

PARAMS = {
    "groups": Param(20, int, "groups of k-means units whose changes cut segments"),
    "min_run": Param(2, int, "least frames of a segment"),
    "tokens": Param(128, int, "k-means tokens of segment means"),
    "split": Param(0.2, float, "chance that a token continues its phone"),
    "restarts": Param(40, int, "EM restarts from random tables"),
    "iters": Param(300, int, "EM iterations of each restart (token pairs)"),
    "refine": Param(3, int, "best restarts refined on token triples"),
    "refine_iters": Param(100, int, "EM iterations on the triples"),
    "seeds": Param([0, 1, 2, 3], list, "seeds of independent chains (segments, tokens, restarts, classifiers)"),
    "training_seed": Param(0, int, "the training's own seed, apart from the corpus's (common.seed): every chain seed "
                                   "is shifted by 1000 x training_seed, so other chains run on the same data"),
    "screen_rounds": Param(2, int, "rounds of every chain before only the most promising ones continue"),
    "continued_chains": Param(1, int, "chains continued after screening (the lowest perplexities), one after another, "
                                      "each through its phone and word rounds; the lowest perplexity of all rounds "
                                      "is selected"),
    "start_ensemble": Param(True, bool, "the best screening chain's next round also runs from the averaged scores of "
                                        "the k best chains (k by the lowest valid phone-LM perplexity, no labels); "
                                        "the lower train perplexity decides which it continues from"),
    "both_starts": Param(False, bool, "with start_ensemble: both starts (its own labels and the average's) go on "
                                      "through the phone and word rounds, and the selection spans all their rounds "
                                      "(instead of the phone rounds' lower perplexity choosing one)"),
    "rounds": Param(4, int, "self-training rounds; the one with the lowest phone-LM perplexity is kept"),
    "patience": Param(2, int, "the continued chain and the word rounds stop after this many rounds without a lower "
                              "perplexity (0: never)"),
    "epochs": Param(3, int, "classifier epochs per round"),
    "hidden": Param(256, int, "hidden units of the frame classifier"),
    "word_rounds": Param(8, int, "most rounds after the chain on labels from the lexicon + word LM graph (0: none)"),
    "word_rounds_min": Param(4, int, "word rounds run before the stop rule (patience) may end them: a perplexity that "
                                     "rises for a few rounds on the first word labels is allowed"),
    "word_warm_start": Param(False, bool, "each word round's classifier starts from the round before's weights and "
                                          "trains word_epochs epochs (instead of epochs from random weights)"),
    "word_epochs": Param(1, int, "with word_warm_start: classifier epochs per word round"),
    "word_warm_shrink": Param(1.0, float, "with word_warm_start: the start is this share of the round before's weights "
                                          "plus the rest of a fresh random start (shrink and perturb; 1: a copy)"),
    "word_input_dropout": Param(0.0, float, "word rounds: each input value of the classifier's training batches "
                                            "zeroed with this probability (a noisy student; 0: none)"),
    "polish_rounds": Param(0, int, "after the word rounds, this many more from the selected one with a wider "
                                   "classifier (polish_hidden units, polish_epochs epochs), in the same selection"),
    "polish_hidden": Param(512, int, "with polish_rounds: hidden units of the polishing rounds' classifier"),
    "polish_epochs": Param(5, int, "with polish_rounds: classifier epochs per polishing round"),
    "word_scales": Param([0.2, 0.3, 0.5], list, "acoustic scales of the word graph, one chosen on valid without labels"),
    "workers": Param(2, int, "processes decoding train utterances through the word graph"),
    "parallel_chains": Param(True, bool, "the screening chains in as many processes as there are cores (at most one "
                                         "per chain), each on its share of the cores, locally; else one after another "
                                         "on all cores"),
    "voice_subset": Param(0.0, float, "a start on the voices that speak the lexicon: chains on this share of train "
                                      "that sounds cleanest (blind SNR) rank stage 03's voice clusters by phone-LM "
                                      "perplexity, twice, and every chain and round then trains on the best-ranked "
                                      "clusters' utterances, about this share (0: all of train)"),
    "precision": Param("auto", str, "the classifier's matrix products in training: fp32, bf16, or auto (bf16 where "
                                    "the CPU has avx512_bf16 or AMX, else fp32)", ("auto", "fp32", "bf16")),
}
# settings under trial and the value at which the method runs as it ran before they existed: at that value they
# are left out of stage 05's parameter hash and of the stability record's settings (nothing computed changes)
NEUTRAL = {"both_starts": False, "word_warm_start": False, "word_epochs": 1, "polish_rounds": 0, "polish_hidden": 512,
           "polish_epochs": 5, "word_input_dropout": 0.0, "word_warm_shrink": 1.0, "voice_subset": 0.0}
OWN, AVERAGE = "own", "average"  # a continued chain's start: its own labels, or the average of several chains
SEED_STRIDE = 1000  # chain seeds of two training seeds never meet (a chain uses its seed + up to ~100: restarts)
LABELS = {  # the figures metrics() adds to stage 05's: (label, how the value is shown)
    "rounds": ("self-training rounds run", PLAIN), "selected_round": ("selected round", PLAIN),
    "selected_seed": ("selected chain (seed)", PLAIN), "chains": ("chains", PLAIN),
    "decipherment_seconds": ("decipherment time (s)", PLAIN),
    "precision": ("classifier training precision", PLAIN),
    "seconds_voice_subset": ("time: the voice subset's start chains and voice-cluster rankings (s)", PLAIN),
    "voice_subset_utterances": ("train utterances the chains trained on (voice subset)", PLAIN),
    "seconds_screening": ("time: decipherment and screening rounds of every chain (s)", PLAIN),
    "ensemble_k": ("screening chains averaged for the continued chain's start (1: its own labels)", PLAIN),
    "seconds_start_ensemble": ("time: the continued chain's start from several chains (s)", PLAIN),
    "seconds_phone_rounds": ("time: the continued chain's later phone rounds (s)", PLAIN),
    "seconds_word_scale": ("time: the word graph's acoustic scale, chosen on valid (s)", PLAIN),
    "seconds_word_rounds": ("time: word rounds (s)", PLAIN),
    "seconds_word_labels": ("time: of these, labelling train through the word graph (s)", PLAIN),
}
CURVES = (("phone_lm_ppl_train", "train phone-LM perplexity (selection, no labels)"),
          ("label_change", "share of train frames relabelled"),
          ("per_valid_report_only", "valid PER (report-only, labels)"))

load = FrameModel.load


def precision(s: dict) -> str:
    """The classifier's training precision of settings ``s`` on this CPU (``auto`` resolved)."""
    if s["precision"] != "auto":
        return s["precision"]
    return "bf16" if machine.native_bf16() else "fp32"


def _inputs(features_record: dict, text_record: dict, symbols: list[str], subset: dict | None = None) -> dict:
    """What a chain reads: train and valid frames, the train frames' units, the phone text and LM, valid references;
    with ``subset`` train is narrowed to it (:func:`.voice_subset.apply`)."""
    return voice_subset.apply(_all_inputs(features_record, text_record, symbols), subset)


def _all_inputs(features_record: dict, text_record: dict, symbols: list[str]) -> dict:
    return {"frames": {split: feature_files.read_utterances(features_record["dir"], split) for split in ("train", "valid")},
            "units": feature_files.read_units(features_record["centroids"], "train"),
            "lines": phone_lines(text_record["phone_text"], symbols), "phone_lm": lm.load(text_record["phone_lm"]),
            "refs_valid": read_references(text_record["references"], "valid")}


def _chain(out_dir: Path, inputs: dict, symbols: list[str], settings: dict, seed: int, rounds: int,
           quiet: bool = False, chain_dir: Path | None = None, patience_from: int = 0) -> dict:
    """Chain ``seed`` run (resumed) to ``rounds`` rounds in ``chain_dir`` (default ``out_dir/chain-seed<seed>``)."""
    return selftrain.run_chain(chain_dir or out_dir / f"chain-seed{seed}", inputs["frames"],
                               voice_subset.units_of(inputs, seed),
                               inputs["lines"], symbols,
                               {**settings, "seed": seed, "rounds": rounds, "patience_from": patience_from},
                               inputs["phone_lm"], inputs["refs_valid"], quiet)


def chain_worker(out_dir: str, features_record: dict, text_record: dict, symbols: list[str], settings: dict,
                 subset: dict | None = None):
    """One worker of the screening chains: the train (or its ``subset``) and valid inputs read once;
    ``process(shard)`` runs the chain of the shard's ``(seed, rounds)`` in ``out_dir/chain-seed<seed>`` (resuming
    its finished rounds) -> its rounds."""
    inputs = _inputs(features_record, text_record, symbols, subset)

    def process(shard):
        ((seed, rounds),) = shard.items
        return _chain(Path(out_dir), inputs, symbols, settings, seed, rounds, quiet=True), []

    return process


def _screen_on_workers(out_dir: Path, features_record: dict, text_record: dict, symbols: list[str], settings: dict,
                       seeds: list[int], rounds: int, run_settings, subset: dict | None = None) -> dict:
    """The screening chains as independent shards on Ray workers, one seed each (``chain-seed<seed>/screen.json``)."""
    plan = [shards.Shard(f"seed{seed}", ((seed, rounds),), out_dir / f"chain-seed{seed}" / "screen.json",
                         {"seed": seed, "rounds": rounds, "settings": settings}) for seed in seeds]
    executor.run(plan, chain_worker, {"out_dir": str(out_dir), "features_record": features_record,
                                      "text_record": text_record, "symbols": symbols, "settings": settings,
                                      "subset": subset},
                 run_settings, "decipher chains")
    return {seed: read_json(shard.output) for seed, shard in zip(seeds, plan)}


def _screen_job(job: tuple) -> dict:
    """One screening chain in a process of its own with ``threads`` torch/BLAS threads -> its rounds."""
    out_dir, features_record, text_record, symbols, settings, seed, rounds, log_level, threads, subset = job
    setup_logging(log_level)
    with executor.limited_threads(threads):
        inputs = _inputs(features_record, text_record, symbols, subset)
        return _chain(Path(out_dir), inputs, symbols, settings, seed, rounds, quiet=True)


def _screen_in_processes(out_dir: Path, features_record: dict, text_record: dict, symbols: list[str],
                         settings: dict, seeds: list[int], rounds: int, log_level: str,
                         subset: dict | None = None) -> dict:
    """The screening chains in min(cores, chains) processes, each with an equal share of the cores, a chain at a
    time (resuming its finished rounds), on train or its ``subset``."""
    processes = min(len(seeds), machine.cores())
    threads = max(1, machine.cores() // processes)
    jobs = [(str(out_dir), features_record, text_record, symbols, settings, seed, rounds, log_level, threads, subset)
            for seed in seeds]
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        return dict(zip(seeds, pool.map(_screen_job, jobs)))


def makespan(durations: list[float], processes: int) -> float:
    """Wall time of jobs of ``durations`` run in order by ``processes`` workers, each taking the next job when free."""
    free = [0.0] * max(1, processes)
    for d in durations:
        free[free.index(min(free))] += d
    return max(free)


def chain_seeds(s: dict) -> list[int]:
    """The chains' seeds of settings ``s``: ``seeds`` shifted by ``SEED_STRIDE`` x ``training_seed``."""
    return [int(seed) + SEED_STRIDE * int(s["training_seed"]) for seed in s["seeds"]]


def train(s: dict, out_dir: Path, features_record: dict, text_record: dict, symbols: list[str], p: dict) -> dict:
    """Decipherment and self-training rounds of every chain (resumed), the round selected without labels.

    Every chain (one per seed: its own segment groups, tokens, restarts and classifiers) runs ``screen_rounds``
    rounds; the ``continued_chains`` chains whose best rounds have the lowest train phone-LM perplexity continue,
    one after another, to ``rounds``, then ``word_rounds`` on word-graph labels (decoded in ``workers``
    processes); of all rounds, the lowest perplexity is selected. With ``start_ensemble`` the best chain may continue
    from the averaged scores of the best screening chains (:func:`_start_from_ensemble`). ``s``: this
    method's settings; ``p``: the stage's parameters (``log_level``). Returns the selection: ``run``,
    ``checkpoint``, ``rule``, ``metric``, ``seconds``, ``seed``/``round`` chosen, every round's signals."""
    seeds = chain_seeds(s)
    if not seeds:
        raise KitError("decipher seeds is empty: give at least one seed")
    settings = {k: s[k] for k in ("groups", "min_run", "tokens", "split", "restarts", "iters", "refine", "refine_iters",
                                  "epochs", "hidden", "word_rounds", "workers", "patience", "word_rounds_min")}
    settings["precision"] = precision(s)
    log.info("self-training: the classifier trains in %s", settings["precision"])
    screen = min(s["screen_rounds"], s["rounds"])
    inputs = _inputs(features_record, text_record, symbols)
    run_settings = executor.Settings.of(p)
    if run_settings.executor == "ray" and len(seeds) > 1:
        at_once = len(seeds)
    elif s["parallel_chains"] and len(seeds) > 1 and machine.cores() > 1:
        at_once = min(len(seeds), machine.cores())
    else:
        at_once = 1

    def screen_chains(directory: Path, subset: dict | None) -> dict:
        """Every seed's chain to the screening rounds in ``directory``, on train or its ``subset``."""
        if run_settings.executor == "ray" and len(seeds) > 1:
            return _screen_on_workers(directory, features_record, text_record, symbols, settings, seeds, screen,
                                      run_settings, subset)
        if at_once > 1:
            log.info("self-training: %d screening chains in %d processes", len(seeds), at_once)
            return _screen_in_processes(directory, features_record, text_record, symbols, settings, seeds, screen,
                                        p.get("log_level", "INFO"), subset)
        narrowed = voice_subset.apply(inputs, subset)
        return {seed: _chain(directory, narrowed, symbols, settings, seed, screen) for seed in seeds}

    subset, voice = None, None
    if s["voice_subset"] > 0:
        voice = voice_subset.choose(out_dir / voice_subset.DIR, inputs, s["voice_subset"], features_record["dir"],
                                    load_stage(p, "audio_prep")["manifests"], seeds, screen_chains)
        subset = {"train": voice["train"], "units": voice["units"]}
        inputs = voice_subset.apply(inputs, subset)
    chains = screen_chains(out_dir, subset)
    ranked = sorted(seeds, key=lambda seed: selftrain.select_round(chains[seed]["rounds"])["phone_lm_ppl_train"])
    continued = ranked[:max(1, s["continued_chains"])]
    chain_dirs = {seed: out_dir / f"chain-seed{seed}" for seed in seeds}
    start = {"k": 1, "used": False, "seconds": 0.0}
    both = s["both_starts"] and s["start_ensemble"]
    if s["start_ensemble"] and len(seeds) > 1 and s["rounds"] > screen:
        start = _start_from_ensemble(out_dir, ranked, chains, chain_dirs, inputs, symbols, settings, screen,
                                     s["rounds"], both)
    # the continued chains: (seed, start, directory); with both starts the best chain's average start is one more
    runs = [(seed, OWN, chain_dirs[seed]) for seed in continued]
    average_dir = start.pop("dir", None)  # (a path of this machine: not in the summary)
    if average_dir is not None:
        runs.insert(1, (ranked[0], AVERAGE, Path(average_dir)))
    scale_tunings, later = {}, {}
    for seed, origin, chain_dir in runs:  # one after another, each on all cores
        name = chain_name(seed, origin)
        log.info("self-training: chain %s continues (train phone-LM perplexity %s after %d rounds)", name,
                 selftrain.select_round(chains[seed]["rounds"])["phone_lm_ppl_train"], screen)
        restarted = origin == AVERAGE or (start["used"] and seed == ranked[0])  # (with both starts, used comes later)
        later[name] = _chain(out_dir, inputs, symbols, settings, seed, s["rounds"], chain_dir=chain_dir,
                             patience_from=screen if restarted else 0)
        if s["word_rounds"] > 0:
            scale_tunings[name] = _continue_with_words(chain_dir, later[name], seed, inputs, symbols, settings,
                                                       text_record, s)
    for seed, origin, _ in runs:
        if origin == OWN:
            chains[seed] = later[chain_name(seed, origin)]
    rounds = [{"seed": seed, **r} for seed, chain in chains.items() for r in chain["rounds"]]
    if average_dir is not None:
        rounds += [{"seed": ranked[0], "start": AVERAGE, **r} for r in later[chain_name(ranked[0], AVERAGE)]["rounds"]
                   if r["round"] > screen]
    chosen = selftrain.select_round(rounds)
    chosen_name = chain_name(chosen["seed"], chosen.get("start", OWN))
    name = f"{chosen_name}-round-{chosen['round']}"
    if average_dir is not None:
        start["used"] = chosen.get("start") == AVERAGE
    dirs = {chain_name(seed, origin): d for seed, origin, d in runs}
    best = continued[0]
    scale_tuning = scale_tunings.get(chosen_name, scale_tunings.get(chain_name(best, OWN), {"seconds": 0.0}))
    word_scale = scale_tuning.get("scale")
    steps = seconds_by_step(chains, continued, screen, at_once, sum(t["seconds"] for t in scale_tunings.values()),
                            start["seconds"], [r for r in rounds if r.get("start") == AVERAGE])
    if voice is not None:
        steps = {"voice_subset": voice["seconds"], **steps}
    seconds = sum(steps.values()) - steps["word_labels"]  # (the labelling is part of the word rounds)
    log.info("05_train: selected %s (train phone-LM perplexity %.2f, no labels)", name, chosen["phone_lm_ppl_train"])
    return {"run": name, "rule": "lowest_train_phone_lm_ppl", "metric": chosen["phone_lm_ppl_train"],
            "checkpoint": str(dirs.get(chosen_name, chain_dirs[chosen["seed"]]) / "rounds" / f"round-{chosen['round']}"
                              / "model.pt"),
            "round": chosen["round"], "seed": chosen["seed"], "continued_seed": best, "continued_seeds": continued,
            "chain_dirs": {str(seed): d.name for seed, d in chain_dirs.items()},
            **({"average_dir": Path(average_dir).name} if average_dir is not None else {}),
            "start_ensemble": start,
            **({"voice_subset": {"utterances": len(voice["train"]), "steps": voice["steps"]}} if voice else {}),
            "word_scale": word_scale, "word_scale_tuning": scale_tuning, "precision": settings["precision"],
            "seconds": round(seconds, 1), "seconds_by_step": steps, "rounds": rounds,
            "decipherment": {str(seed): c["decipherment"] for seed, c in chains.items()}}


def chain_name(seed: int, origin: str = OWN) -> str:
    """A continued chain's name: ``seed<seed>``, or ``seed<seed>-average`` for its start from several chains when
    both starts go on (``both_starts``)."""
    return f"seed{seed}" if origin == OWN else f"seed{seed}-{origin}"


def round_name(row: dict) -> str:
    """The name of a round ``row`` of a summary's ``rounds``, as the summary's ``run`` names the selected one."""
    return f"{chain_name(row['seed'], row.get('start', OWN))}-round-{row['round']}"


def _start_from_ensemble(out_dir: Path, ranked: list[int], chains: dict, chain_dirs: dict, inputs: dict,
                         symbols: list[str], settings: dict, screen: int, rounds: int, both: bool = False) -> dict:
    """The best screening chain's start (:mod:`.ensemble`): with ``k > 1`` chains averaged, its phone rounds run
    both from its own labels and from the average's, and the lower train phone-LM perplexity of their rounds decides
    (label-free; a tie keeps its own) which goes on to the word rounds; ``chain_dirs`` then names the winner's
    directory. With ``both`` nothing is decided here: both go on (``dir`` names the average's directory). Returns the
    choice (``k``, ``chains``, ``table``), ``used``, both starts' lowest perplexities and the seconds spent on the
    start (the losing start's rounds included; with ``both`` only the choice and the average's labels)."""
    best = ranked[0]
    model_rounds = {seed: selftrain.select_round(chains[seed]["rounds"])["round"] for seed in ranked}
    start = ensemble.start(out_dir, ranked, chain_dirs, model_rounds, screen, inputs["frames"], inputs["phone_lm"],
                           lambda paths: selftrain.relabel(chain_dirs[best], paths, inputs["lines"], symbols, settings))
    choice = {k: v for k, v in start.items() if k != "dir"}
    if start["k"] == 1:
        return {**choice, "used": False}
    if both:
        return {**choice, "used": False, "dir": start["dir"]}
    own = _chain(out_dir, inputs, symbols, settings, best, rounds)
    joint = _chain(out_dir, inputs, symbols, settings, best, rounds, chain_dir=Path(start["dir"]), patience_from=screen)
    lowest = {name: selftrain.select_round(run["rounds"])["phone_lm_ppl_train"] for name, run in
              (("own", own), ("ensemble", joint))}
    used = lowest["ensemble"] < lowest["own"]
    lost = own if used else joint
    log.info("self-training: chain seed %d's phone rounds from %d chains' average reach a train phone-LM perplexity "
             "of %s, from its own labels %s: it goes on from %s", best, start["k"], lowest["ensemble"], lowest["own"],
             "the average" if used else "its own labels")
    if used:
        chain_dirs[best] = Path(start["dir"])
    return {**choice, "used": used, "lowest_ppl": lowest,
            "seconds": round(start["seconds"] + sum(r["seconds"] for r in lost["rounds"] if r["round"] > screen), 1)}


WORD_SETTINGS = ("word_warm_start", "word_epochs", "word_warm_shrink", "word_input_dropout")  # the word rounds' own settings


def word_settings(settings: dict, s: dict, seed: int) -> dict:
    """What a continued chain's word rounds read: the chain's ``settings`` with its ``seed`` and the method settings
    ``s`` that only the word rounds use (:data:`WORD_SETTINGS`)."""
    return {**settings, "seed": seed, **{k: s[k] for k in WORD_SETTINGS}}


def _continue_with_words(chain_dir: Path, chain: dict, seed: int, inputs: dict, symbols: list[str], settings: dict,
                         text_record: dict, s: dict) -> dict:
    """The word rounds of a continued ``chain`` in ``chain_dir`` (its rounds extended in place) from its best phone
    round, with the word graph's acoustic scale chosen on valid without labels (cached in ``word_scale.json``); with
    ``polish_rounds``, that many more from the lowest perplexity of them all with a wider classifier."""
    start = selftrain.select_round(chain["rounds"])
    checkpoint = chain_dir / "rounds" / f"round-{start['round']}" / "model.pt"

    def tune() -> dict:
        t1 = time.time()
        scale, table = _word_scale(checkpoint, inputs["frames"]["valid"], text_record, s)
        return {"scale": scale, "table": table, "seconds": round(time.time() - t1, 1)}

    key = {"round": start["round"], "scales": s["word_scales"], "text": Path(text_record["dir"]).name}  # the graph
    tuning = cached_step(chain_dir / "word_scale.json", key, tune)
    chain["rounds"] += selftrain.run_word_rounds(
        chain_dir, inputs["frames"], {**start, "next": len(chain["rounds"]) + 1}, inputs["lines"], symbols,
        word_settings(settings, s, seed), inputs["phone_lm"], inputs["refs_valid"], text_record["word_graph"], tuning["scale"])
    if s["polish_rounds"] > 0:  # from the lowest perplexity so far, a wider classifier (its rounds say polish)
        polish = {**settings, "seed": seed, "hidden": s["polish_hidden"], "epochs": s["polish_epochs"],
                  "word_rounds": s["polish_rounds"], "word_rounds_min": s["polish_rounds"], "polish": True}
        chain["rounds"] += selftrain.run_word_rounds(
            chain_dir, inputs["frames"], {**selftrain.select_round(chain["rounds"]), "next": len(chain["rounds"]) + 1},
            inputs["lines"], symbols, polish, inputs["phone_lm"], inputs["refs_valid"], text_record["word_graph"],
            tuning["scale"])
    return tuning


def seconds_by_step(chains: dict, continued: list[int], screen: int, at_once: int, scale_seconds: float,
                    ensemble_seconds: float = 0.0, average_rounds: list[dict] = ()) -> dict:
    """Where the training's time went, in seconds of wall time: ``screening`` (every chain's decipherment and
    first ``screen`` rounds, ``at_once`` chains at a time, each taken by the first free process in seed order),
    the ``start_ensemble`` (``ensemble_seconds``), the ``continued`` chains' later ``phone_rounds``, the ``word_scale`` choices, the ``word_rounds`` and, of
    these, the ``word_labels`` (decoding train through the word graph). ``chains``: seed -> its decipherment and
    rounds; ``average_rounds``: the later rounds of the best chain's start from several chains when both starts
    went on."""
    screening = [c["decipherment"]["seconds"] + sum(r["seconds"] for r in c["rounds"] if r["round"] <= screen)
                 for c in chains.values()]
    later = [r for seed in continued for r in chains[seed]["rounds"] if r["round"] > screen] + list(average_rounds)
    words = [r for r in later if r.get("labels") == "words"]
    return {"screening": round(makespan(screening, at_once), 1), "start_ensemble": round(ensemble_seconds, 1),
            "phone_rounds": round(sum(r["seconds"] for r in later if r.get("labels") != "words"), 1),
            "word_scale": round(scale_seconds, 1), "word_rounds": round(sum(r["seconds"] for r in words), 1),
            "word_labels": round(sum(r.get("label_seconds", 0.0) for r in words), 1)}


def _word_scale(checkpoint, frames: list, text_record: dict, s: dict) -> tuple[float, list[dict]]:
    """The word graph's acoustic scale for labelling, chosen on valid without labels (:mod:`...decoding.tuning`):
    the model's own phones are its phone-graph path."""
    model = FrameModel.load(checkpoint)
    scores = model.utterance_scores(frames)
    with graph.decoding_pool(max(1, s["workers"])) as pool:  # each graph read once for all scales
        phone_paths = graph.decode_all(text_record["phone_graph"], scores, model.stay, 1.0, workers=s["workers"],
                                       pool=pool)
        own = [collapse([r[0] for r in p["runs"]], model.symbols) for p in phone_paths]
        return tuning.choose_scale(text_record["word_graph"], scores, own, model.stay, s["word_scales"],
                                   text_record["word_lm"], workers=s["workers"], pool=pool)


def history(summary: dict) -> list[dict]:
    """One row per chain and round: ``run`` (the chain), ``step`` (the round) and the round's signals."""
    return [{"run": f"chain seed {r['seed']}" + (" from the average" if r.get("start") == AVERAGE else ""),
             "step": r["round"], **r} for r in summary["rounds"]]


def table(summary: dict) -> list[dict]:
    """One row per chain seed and round: label-free signals, report-only valid PER, seconds, selected or not."""
    both = "average_dir" in summary  # both starts went on: each row says which
    return [{**({"start": r.get("start", OWN)} if both else {}), **r, "selected": round_name(r) == summary["run"]}
            for r in summary["rounds"]]


def start_steps(summary: dict) -> list[dict]:
    """The voice subset's steps (``voice_subset``), one row each: the train utterances its chains saw, the round its
    ranking came from and the lowest-perplexity voice clusters; ``[]`` when the chains trained on all of train."""
    steps = summary.get("voice_subset", {}).get("steps", [])
    rows = []
    for i, step in enumerate(steps):
        start = step.get("start")
        ranked = steps[i + 1]["ranking"] if i + 1 < len(steps) else []
        rows.append({"step": step["step"], "train utterances": step["utterances"],
                     "its best round (chain seed, round)": f"{start['seed']}, {start['round']}" if start else "",
                     "its train phone-LM perplexity": f"{start['phone_lm_ppl_train']:.1f}" if start else "",
                     "voice clusters it ranks, lowest perplexity first":
                         ", ".join(f"{c['cluster']} {'-' if c['ppl'] is None else round(c['ppl'])}"
                                   for c in ranked[:8]) + (" ..." if len(ranked) > 8 else "")})
    return rows


def selected_step(summary: dict) -> int:
    """The selected round."""
    return summary["round"]


def ensemble_k(summary: dict) -> int:
    """The screening chains averaged for the continued chain's start in ``summary`` (1: it went on from its own)."""
    start = summary.get("start_ensemble", {})
    return start["k"] if start.get("used") else 1


def metrics(summary: dict) -> dict:
    """Rounds run, the round and chain selected, chains, training and decipherment seconds."""
    return {"rounds": len(summary["rounds"]), "selected_round": summary["round"], "selected_seed": summary["seed"],
            "chains": len(summary["decipherment"]), "seconds": summary["seconds"],
            "ensemble_k": ensemble_k(summary),
            **({"voice_subset_utterances": summary["voice_subset"]["utterances"]} if "voice_subset" in summary else {}),
            "precision": summary.get("precision", "fp32"),
            "decipherment_seconds": round(sum(d["seconds"] for d in summary["decipherment"].values()), 1),
            **{f"seconds_{step}": v for step, v in summary.get("seconds_by_step", {}).items()},
            "method": LABEL}


def throughput(model: FrameModel, records: dict, items: list[dict], updates: int, batch_size: int) -> dict:
    """The benchmark's training-speed probe: Adam steps per second of a fresh classifier of ``model``'s sizes
    (cross-entropy on random per-frame targets) on batches of ``batch_size`` of ``items`` (dicts with ``feats``)."""
    net = type(model.net).from_config(model.net.config()).train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    rng = np.random.default_rng(0)

    def update(_):
        x, padding = pad([items[i]["feats"] for i in rng.integers(0, len(items), batch_size)])
        targets = torch.from_numpy(rng.integers(0, net.vocab, padding.shape)).masked_fill(padding, IGNORE)
        cross_entropy_step(net, opt, x, padding, targets)

    return {"train_updates_per_s": steps_per_second(update, updates),
            "train_update": "one Adam step of the frame classifier on a batch of utterances"}


def report_checks(model: FrameModel, summary: dict, inputs) -> dict:
    """Report-only: the supervised reference, ``model``'s architecture trained on force-aligned reference labels
    (:mod:`.supervised`: from the model's alignment or a flat start; one row per pass in ``passes``), saved in
    ``inputs.out_dir/supervised_reference/model.pt`` (stage 06 decodes it through the same searches), with its valid
    and test PER. ``inputs``: :class:`~aitranscribe.models.base.ReportInputs`."""
    frames = {split: feature_files.read_utterances(inputs.features_record["dir"], split) for split in ("train", "valid")}
    reference, passes = supervised.train_reference(model, frames["train"], inputs.refs["train"],
                                                   (frames["valid"], inputs.refs["valid"]), seed=inputs.seed)
    path = inputs.out_dir / "supervised_reference" / "model.pt"
    reference.save(path, {"supervised_reference": True})
    return {"supervised_reference": {"checkpoint": str(path), "epochs": supervised.EPOCHS, "passes": passes, **{
        f"per_{split}": phone_error_rate(reference.split_phones(inputs.features_record, split), inputs.refs[split])
        for split in ("valid", "test")}}}
