"""The one masked cross-entropy training loop: a network learns per-step labels (frames or segments) of
utterances. Used by self-training, by report-only supervised references and by the training benchmark."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .batching import IGNORE, pad, pad_ids


def cross_entropy_step(net: torch.nn.Module, opt, x: torch.Tensor, padding: torch.Tensor,
                       targets: torch.Tensor) -> float:
    """One optimiser step on the cross-entropy of ``net(x, padding)`` (B, T, V) against ``targets`` (B, T), whose
    padded positions are :data:`IGNORE`; returns the loss."""
    logits = net(x, padding)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def fit_labels(net: torch.nn.Module, inputs: list, labels: list, epochs: int, batch_size: int, lr: float,
               seed: int, quiet: bool = True, desc: str = "epochs", bf16: bool = False,
               input_dropout: float = 0.0) -> torch.nn.Module:
    """Train ``net`` (Adam, ``lr``) for ``epochs`` over ``inputs`` (utterances, T_i x D) and their per-step
    ``labels`` (T_i indices), in batches of utterances shuffled with ``seed``; returns it in eval mode. A net with
    ``forward_packed(frames, lengths)`` gets each batch's utterances laid end to end (no padded step computed; the
    same mean cross-entropy over the batch's steps). ``bf16``: matrix products in bfloat16 under autocast (weights,
    optimiser and loss stay float32). ``input_dropout``: each input value of a training batch zeroed with this
    probability (the rest scaled up to keep the mean; a noisy student's input noise; 0: none)."""
    opt = torch.optim.Adam(net.parameters(), lr)
    rng = np.random.RandomState(seed)
    packed = hasattr(net, "forward_packed")
    net.train()
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", disable=quiet, leave=False):
        order = rng.permutation(len(inputs))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                if packed:
                    packed_step(net, opt, [inputs[i] for i in chosen], [labels[i] for i in chosen], input_dropout)
                    continue
                x, padding = pad([inputs[i] for i in chosen])
                x = F.dropout(x, input_dropout) if input_dropout else x
                targets, _ = pad_ids([labels[i] for i in chosen], fill=IGNORE)
                cross_entropy_step(net, opt, x, padding, targets)
    return net.eval()


def packed_step(net: torch.nn.Module, opt, inputs: list, labels: list, input_dropout: float = 0.0) -> float:
    """One optimiser step on the mean cross-entropy of ``net.forward_packed`` over the steps of ``inputs``
    (utterances laid end to end, each value zeroed with probability ``input_dropout``) against their ``labels``;
    returns the loss."""
    x = torch.from_numpy(np.concatenate([np.asarray(u, dtype=np.float32) for u in inputs]))
    x = F.dropout(x, input_dropout) if input_dropout else x
    targets = torch.from_numpy(np.concatenate([np.asarray(y) for y in labels]).astype(np.int64))
    loss = F.cross_entropy(net.forward_packed(x, [len(u) for u in inputs]), targets)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def steps_per_second(update, steps: int, warmup: int = 4) -> float:
    """Calls per second of ``update(step)`` over ``steps`` timed calls after ``warmup`` discarded ones (a benchmark's
    training-throughput probe; never used in a test's assertion)."""
    for step in range(warmup):
        update(step)
    start = time.perf_counter()
    for step in range(steps):
        update(step)
    return steps / (time.perf_counter() - start)
