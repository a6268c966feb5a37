"""Stage 05, method ``decipher``: the continued chain's start from several screening chains together (no labels).

When every screening chain is weak, several together are a better start than the best one: each chain's model
scores every frame, the scores of the ``k`` best chains (ranked by their train phone-LM perplexity, as the
screening ranks them) are averaged, and the best chain's hybrid HMM decodes the average. ``k`` is chosen without
labels: the one whose valid transcripts have the lowest phone-LM perplexity (``k = 1``, the best chain alone,
included). With ``k > 1`` the best chain continues in a directory of its own, ``ensemble-k<k>-seed<seed>/``: its
decipherment and screening rounds (hard links) and, as the labels of its next round
(``rounds/round-<screen>/next_labels.npy``), those its decipherment gives when restarted from the average's train
paths, as after any round. The choice is cached in ``ensemble_start.json``.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ...core.files import atomic_save_npy, atomic_write_json, link_or_copy, read_json
from ...core.stage import cached_step
from ...decoding.phones import collapse
from ...text import lm
from .model import FrameModel

log = logging.getLogger(__name__)


def mean_scores(models: list[FrameModel], frames: list[np.ndarray]) -> list[np.ndarray]:
    """The per-frame scores of ``models`` averaged, one array (frames x symbols) per utterance of ``frames``."""
    total = None
    for model in models:
        scores = model.frame_scores(frames)
        total = scores if total is None else [t + s for t, s in zip(total, scores)]
    return [t / len(models) for t in total]


def choose_k(models: list[FrameModel], frames: list[np.ndarray], phone_lm) -> tuple[int, list[dict]]:
    """The number ``k`` of ``models`` (best first) whose averaged scores of ``frames`` (valid), decoded by the first
    model's HMM, give transcripts of the lowest phone-LM perplexity (label-free; the smaller ``k`` on a tie), and the
    table of every ``k``: ``{"k", "phone_lm_ppl_valid"}``."""
    best = models[0]
    total, table = None, []
    for k, model in enumerate(models, 1):
        scores = model.frame_scores(frames)
        total = scores if total is None else [t + s for t, s in zip(total, scores)]
        phones = [" ".join(collapse(p, best.symbols)) for p in best.hmm.best_paths([t / k for t in total])]
        table.append({"k": k, "phone_lm_ppl_valid": round(lm.perplexity(phone_lm, [t for t in phones if t]), 3)})
    chosen = min(table, key=lambda row: (row["phone_lm_ppl_valid"], row["k"]))
    return chosen["k"], table


def start(out_dir: Path, ranked: list[int], chain_dirs: dict[int, Path], model_rounds: dict[int, int], screen: int,
          frames: dict[str, list[np.ndarray]], phone_lm, relabel: Callable[[list[np.ndarray]], list[np.ndarray]]) -> dict:
    """The continued chain's start for the screening chains ``ranked`` (seeds, best first) in ``chain_dirs``, each
    scored by the model of its round ``model_rounds[seed]``; ``screen``: the rounds they ran; ``frames``: train and
    valid utterances; ``relabel``: the best chain's next frame labels from train paths. Returns ``{"k", "chains", "table", "seconds", "dir"}``: ``dir`` (the directory the best chain
    continues in) is its own when ``k == 1``, else the new ``ensemble-k<k>-seed<seed>``, made once (resumed)."""
    def load(seed):
        return FrameModel.load(chain_dirs[seed] / "rounds" / f"round-{model_rounds[seed]}" / "model.pt")

    def choose() -> dict:
        t0 = time.time()
        k, table = choose_k([load(seed) for seed in ranked], frames["valid"], phone_lm)
        return {"k": k, "chains": ranked[:k], "table": table, "seconds": round(time.time() - t0, 1)}

    key = {"chains": ranked, "rounds": [model_rounds[seed] for seed in ranked], "screen": screen}
    choice = cached_step(out_dir / "ensemble_start.json", key, choose)
    best = ranked[0]
    if choice["k"] == 1:
        log.info("self-training: the best screening chain (seed %d) starts its continuation alone (valid phone-LM "
                 "perplexity %s)", best, choice["table"][0]["phone_lm_ppl_valid"])
        return {**choice, "dir": str(chain_dirs[best])}
    target = out_dir / f"ensemble-k{choice['k']}-seed{best}"
    if not (target / "ensemble.json").is_file():
        t0 = time.time()
        partial = out_dir / f".{target.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        link_or_copy(chain_dirs[best] / "decipherment.npz", partial / "decipherment.npz")
        for r in range(1, screen + 1):
            shutil.copytree(chain_dirs[best] / "rounds" / f"round-{r}", partial / "rounds" / f"round-{r}",
                            copy_function=link_or_copy)
        models = [load(seed) for seed in choice["chains"]]
        labels = relabel(models[0].hmm.best_paths(mean_scores(models, frames["train"])))
        last = partial / "rounds" / f"round-{screen}" / "next_labels.npy"
        last.unlink(missing_ok=True)  # a link to the best chain's own labels: replaced, never written through
        atomic_save_npy(last, np.concatenate(labels).astype(np.int16))
        atomic_write_json(partial / "ensemble.json", {**choice, "labels_seconds": round(time.time() - t0, 1)})
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    stored = read_json(target / "ensemble.json")
    log.info("self-training: chain seed %d continues from the average of %d screening chains (%s; valid phone-LM "
             "perplexity %s, alone %s)", best, choice["k"], choice["chains"],
             choice["table"][choice["k"] - 1]["phone_lm_ppl_valid"], choice["table"][0]["phone_lm_ppl_valid"])
    return {**choice, "seconds": round(choice["seconds"] + stored.get("labels_seconds", 0.0), 1), "dir": str(target)}
