"""The decipherment's start on the voices that speak the lexicon (the decipher method's ``voice_subset``).

On a corpus where many voices do not pronounce as the unpaired text's lexicon (other engines, real speakers), the
decipherment on all of train stays at chance, while on the voices that do it learns (docs/research.md, issue 35).
Without labels, :func:`choose` finds such a share of train in three steps, each a set of chains (the method's
seeds, its screening rounds) whose round of lowest train phone-LM perplexity serves the next step:

1. ``blind``: the ``share`` of train that sounds cleanest (:mod:`aitranscribe.features.blind_quality`: blind SNR,
   band-limited recordings left out), on stage 03's units;
2. ``first``: stage 03's voice clusters ranked by the phone-LM perplexity of the blind step's transcripts of their
   train utterances, lowest first, taken until they hold ``share`` of train; of these, the blind step's utterances,
   on k-means units fitted on their own frames;
3. the same ranking by the first step's best round, and the blind step's utterances of the clusters taken, give
   the share the method's own chains then train on (with units of its own).

Inputs of a step are a *subset* (``{"train": [indices], "units": path or None}``, :func:`apply`) so that chains
in other processes read the same. No transcript or speaker name is read (the voice clusters are stage 03's; with
``speaker_source: metadata`` they are the corpus's names, an opt-in).
"""
from __future__ import annotations

import collections
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.errors import KitError
from ...core.files import atomic_save_npz, atomic_write_json, read_json
from ...core.stage import cached_step
from ...decoding.phones import collapse
from ...features import blind_quality
from ...features import units as unit_pipeline
from ...features.extract import SPEAKERS_FILE
from ...io import manifest
from ...text import lm
from .model import FrameModel

log = logging.getLogger(__name__)

DIR, RECORD = "voice_subset", "subset.json"  # its folder in stage 05's output directory, and its record there
KMEANS_ROWS, KMEANS_ITERS = 200_000, 50  # a share's own units: k-means as stage 03's (fairseq's 50 iterations)


def apply(inputs: dict, subset: dict | None) -> dict:
    """``inputs`` (the method's: frames, units, ...) with train narrowed to ``subset["train"]``; when
    ``subset["units"]`` maps chain seeds to files, ``units_by_seed`` holds each chain's own units of the share
    (:func:`units_of`); ``None``: all of train."""
    if subset is None:
        return inputs
    keep = subset["train"]
    frames = {**inputs["frames"], "train": [inputs["frames"]["train"][i] for i in keep]}
    narrowed = {**inputs, "frames": frames, "units": [inputs["units"][i] for i in keep]}
    if subset.get("units"):
        narrowed["units_by_seed"] = {int(seed): _read_units(path) for seed, path in subset["units"].items()}
    return narrowed


def units_of(inputs: dict, seed: int) -> list[np.ndarray]:
    """The train units chain ``seed`` deciphers: its own fitted on a share (``units_by_seed``), else stage 03's."""
    return inputs.get("units_by_seed", {}).get(int(seed), inputs["units"])


def _read_units(path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return np.split(z["units"], np.cumsum(z["lengths"])[:-1]) if len(z["lengths"]) else []


def qualities(out_dir: Path, manifests_dir) -> list[dict]:
    """:func:`blind_quality.measure_file` of every train recording (cached in ``out_dir/train_quality.json``)."""
    path = Path(out_dir) / "train_quality.json"
    if path.is_file():
        return read_json(path)
    m = manifest.read(manifests_dir, "train")
    rows = [blind_quality.measure_file(m.audio_path(i)) for i in range(len(m))]
    atomic_write_json(path, rows)
    return rows


def best_round(chains: dict) -> tuple[dict, int]:
    """The round of lowest train phone-LM perplexity over ``chains`` (seed -> run_chain's result) and its seed."""
    rows = [(r, seed) for seed, chain in chains.items() for r in chain["rounds"]]
    if not rows:
        raise KitError("voice subset: the chains ran no round")
    return min(rows, key=lambda row: row[0]["phone_lm_ppl_train"])


def rank_clusters(model: FrameModel, frames: list[np.ndarray], speakers: list, phone_lm) -> list[dict]:
    """Train's voice clusters ranked by the phone-LM perplexity of ``model``'s transcripts of their utterances,
    lowest first: ``[{cluster, ppl, utterances}]`` (``ppl`` None, last: no phone in any). ``speakers``: stage 03's cluster of every train utterance
    (``None``: none; left out)."""
    transcripts = [" ".join(collapse(path, model.symbols)) for path in model.frame_paths(frames)]
    members = collections.defaultdict(list)
    for i, speaker in enumerate(speakers):
        if speaker is not None:
            members[speaker].append(i)
    ranked = []
    for cluster, idx in members.items():
        said = [transcripts[i] for i in idx if transcripts[i]]
        ranked.append({"cluster": cluster, "utterances": idx,
                       "ppl": round(lm.perplexity(phone_lm, said), 2) if said else None})  # None: nothing said
    return sorted(ranked, key=lambda c: (float("inf") if c["ppl"] is None else c["ppl"], str(c["cluster"])))


def take(ranked: list[dict], share: float, n_train: int) -> list[int]:
    """The utterances of the ``ranked`` clusters, taken in order until they hold ``share`` of ``n_train``."""
    keep = []
    for cluster in ranked:
        if len(keep) >= share * n_train:
            break
        keep += cluster["utterances"]
    return sorted(keep)


def own_units(step_dir: Path, frames: list[np.ndarray], k: int, seeds: list[int]) -> dict:
    """For each chain seed, k-means units (``k``, that seed) fitted on ``frames`` alone, written to
    ``step_dir/units-seed<seed>.npz`` -> ``{seed: file name}``."""
    names = {}
    for seed in seeds:
        path = Path(step_dir) / f"units-seed{seed}.npz"
        if not path.is_file():
            x = unit_pipeline.sample_rows(np.concatenate(frames), KMEANS_ROWS, seed)
            centroids = unit_pipeline.fit_kmeans(x, k, KMEANS_ITERS, 1, seed)
            ids = [unit_pipeline.assign(f, centroids) for f in frames]
            atomic_save_npz(path, units=np.concatenate(ids).astype(np.int64),
                            lengths=np.array([len(u) for u in ids], dtype=np.int64))
        names[str(seed)] = path.name
    return names


def choose(out_dir: Path, inputs: dict, share: float, features_dir, manifests_dir, seeds: list[int],
           run_chains: Callable[[Path, dict], dict]) -> dict:
    """The share of train the method's chains train on (module docstring). ``inputs``: the method's (all of train);
    ``run_chains(directory, subset)``: the method's screening chains on ``subset`` in ``directory`` -> seed -> rounds
    (resumed); ``seeds``: the chains' seeds (each fits its own units of a share). Steps are kept in ``out_dir``
    (``blind/``, ``first/``, ``share/``, ``subset.json``). Returns the subset (``train``; ``units``: chain seed ->
    file), ``steps`` (each step's utterances, start round and ranking; label-free) and the
    ``seconds`` it took."""
    out_dir = Path(out_dir)
    n_train = len(inputs["frames"]["train"])
    speakers = read_json(Path(features_dir) / SPEAKERS_FILE)["speakers"]["train"]
    if len(speakers) != n_train:
        raise KitError(f"{Path(features_dir) / SPEAKERS_FILE}: {len(speakers)} train speakers for {n_train} utterances")
    k = int(max((int(u.max()) for u in inputs["units"] if len(u)), default=0)) + 1

    def compute() -> dict:
        t0 = time.time()
        rows = qualities(out_dir, manifests_dir)
        if len(rows) != n_train:
            raise KitError(f"{out_dir / 'train_quality.json'}: {len(rows)} recordings, train has {n_train}")
        blind = blind_quality.cleanest(rows, share)
        subset = {"train": blind, "units": None}
        steps = [{"step": "blind", "utterances": len(blind)}]
        for name in ("first", "share"):
            chains = run_chains(out_dir / steps[-1]["step"], subset)
            start, start_seed = best_round(chains)
            model = FrameModel.load(out_dir / steps[-1]["step"] / f"chain-seed{start_seed}" / "rounds"
                                    / f"round-{start['round']}" / "model.pt")
            ranked = rank_clusters(model, inputs["frames"]["train"], speakers, inputs["phone_lm"])
            keep = sorted(set(take(ranked, share, n_train)) & set(blind))
            if not keep:
                raise KitError("voice subset: no train utterance left in the best-ranked voice clusters")
            steps[-1].update(start={"seed": start_seed, "round": start["round"],
                                    "phone_lm_ppl_train": start["phone_lm_ppl_train"]})
            steps.append({"step": name, "utterances": len(keep),
                          "ranking": [{"cluster": c["cluster"], "ppl": c["ppl"], "utterances": len(c["utterances"])}
                                      for c in ranked]})
            step_dir = out_dir / name
            step_dir.mkdir(parents=True, exist_ok=True)
            subset = {"train": keep, "units": {seed: str(step_dir / file) for seed, file in own_units(
                step_dir, [inputs["frames"]["train"][i] for i in keep], k, seeds).items()}}
            log.info("voice subset, step %s: %d train utterances of %d voice clusters (phone-LM perplexity %s)",
                     name, len(keep), sum(1 for c in ranked if set(c["utterances"]) & set(keep)),
                     [c["ppl"] for c in ranked][:8])
        units = {seed: str(Path(path).relative_to(out_dir)) for seed, path in subset["units"].items()}
        return {"train": subset["train"], "units": units, "steps": steps, "seconds": round(time.time() - t0, 1)}

    result = cached_step(out_dir / RECORD, {"share": share, "seeds": seeds, "n_train": n_train, "k": k},
                         compute)
    return {**result, "units": {seed: str(out_dir / name) for seed, name in result["units"].items()}}
