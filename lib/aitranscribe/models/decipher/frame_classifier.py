"""The decipher method's acoustic model: phone logits of every frame from a stack of (dilated) convolutions over
time, each written as a Linear layer over unfolded windows (plain torch only, so every backend runs it: INT8 paths
quantise Linear layers but not Conv1d, and the IPEX worker in .venv-intel can rebuild it)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class FrameClassifier(nn.Module):
    """``layers`` of (kernel, dilation): each a Linear over the frames ``dilation`` apart in a window of ``kernel``
    frames, ReLU and dropout; then a Linear to the phones. The default, one layer of kernel ``2 context + 1``, is a
    two-layer perceptron over +-``context`` frames; ``[[5, 1], [3, 2], [3, 3], [3, 4]]`` is a TDNN seeing +-11."""

    def __init__(self, input_dim: int, vocab: int, hidden: int = 256, context: int = 2, dropout: float = 0.2,
                 layers: list | None = None):
        super().__init__()
        self.input_dim, self.vocab, self.hidden, self.context = input_dim, vocab, hidden, context
        self.layers = [tuple(map(int, layer)) for layer in (layers or [[2 * context + 1, 1]])]
        if any(kernel % 2 == 0 or kernel < 1 or dilation < 1 for kernel, dilation in self.layers):
            raise ValueError(f"layers must be (odd kernel, dilation >= 1) pairs, got {self.layers}")
        widths = [input_dim] + [hidden] * len(self.layers)
        # the first layer keeps its historical name, so checkpoints of the two-layer classifier still load
        self.hidden_layer = nn.Linear(widths[0] * self.layers[0][0], hidden)
        self.more = nn.ModuleList(nn.Linear(widths[i] * k, hidden) for i, (k, _) in enumerate(self.layers) if i)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab)

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "vocab": self.vocab, "hidden": self.hidden, "context": self.context,
                "layers": [list(layer) for layer in self.layers]}

    @property
    def reach(self) -> int:
        """Frames on each side that one output sees."""
        return sum(dilation * (kernel // 2) for kernel, dilation in self.layers)

    @staticmethod
    def _windows(x: torch.Tensor, kernel: int, dilation: int) -> torch.Tensor:
        """(B, T, D) -> (B, T, kernel * D): the frames ``dilation`` apart around every frame (zeros beyond the ends)."""
        half = dilation * (kernel // 2)
        T = x.shape[1]
        spans = F.pad(x, (0, 0, half, half)).unfold(1, 2 * half + 1, 1)[:, :T]  # (B, T, D, 2 half + 1)
        return spans[..., ::dilation].transpose(2, 3).reshape(x.shape[0], T, -1)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) frames, (B, T) True where padded -> (B, T, V) logits."""
        keep = None if padding is None else (~padding).unsqueeze(-1).to(x.dtype)
        h = x if keep is None else x * keep
        for (kernel, dilation), linear in zip(self.layers, [self.hidden_layer, *self.more]):
            h = self.dropout(torch.relu(linear(self._windows(h, kernel, dilation))))
            if keep is not None:
                h = h * keep  # padded frames stay zero, as beyond the ends of an utterance alone
        return self.output(h)

    def forward_packed(self, x: torch.Tensor, lengths) -> torch.Tensor:
        """(N, D) frames of utterances laid end to end with ``lengths`` (summing to N) -> (N, V) logits, equal to
        :meth:`forward` on the unpadded frames; no padded frame is computed (training and eager decoding)."""
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        position = torch.arange(len(x)) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        length = torch.repeat_interleave(lengths, lengths)
        h = x
        for (kernel, dilation), linear in zip(self.layers, [self.hidden_layer, *self.more]):
            offsets = dilation * (torch.arange(kernel) - kernel // 2)
            inside = (position[:, None] + offsets >= 0) & (position[:, None] + offsets < length[:, None])
            # frames beyond an utterance's ends read the zero row appended at index N
            idx = torch.where(inside, torch.arange(len(x))[:, None] + offsets, len(x))
            rows = torch.cat([h, h.new_zeros(1, h.shape[1])])
            h = self.dropout(torch.relu(linear(rows[idx].reshape(len(x), -1))))
        return self.output(h)

    def flops(self, batch: int, length: int) -> int:
        """Multiply-adds x 2 of one call on ``batch`` x ``length`` frames."""
        linears = [self.hidden_layer, *self.more, self.output]
        return 2 * batch * length * sum(layer.in_features * layer.out_features for layer in linears)

    def linear_form(self) -> nn.Module:
        """Already made of Linear layers."""
        return self
