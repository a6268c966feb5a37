"""The decipher method's acoustic model: a frame classifier made of Linear layers (plain torch only, so the
IPEX worker in .venv-intel can rebuild it)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class FrameClassifier(nn.Module):
    """Phone logits of every frame from the frames ``context`` on each side: Linear over the window, ReLU,
    dropout, Linear (a convolution written with Linear layers, so INT8 paths quantise it)."""

    def __init__(self, input_dim: int, vocab: int, hidden: int = 256, context: int = 2, dropout: float = 0.2):
        super().__init__()
        self.input_dim, self.vocab, self.hidden, self.context = input_dim, vocab, hidden, context
        self.hidden_layer = nn.Linear(input_dim * (2 * context + 1), hidden)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab)

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "vocab": self.vocab, "hidden": self.hidden, "context": self.context}

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) frames, (B, T) True where padded -> (B, T, V) logits."""
        if padding is not None:
            x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        T = x.shape[1]
        width = 2 * self.context + 1
        windows = F.pad(x, (0, 0, self.context, self.context)).unfold(1, width, 1)[:, :T]  # (B, T, D, width)
        h = torch.relu(self.hidden_layer(windows.transpose(2, 3).reshape(x.shape[0], T, -1)))
        return self.output(self.dropout(h))

    def flops(self, batch: int, length: int) -> int:
        """Multiply-adds x 2 of one call on ``batch`` x ``length`` frames."""
        return 2 * batch * length * (self.hidden_layer.in_features * self.hidden + self.hidden * self.vocab)

    def linear_form(self) -> nn.Module:
        """Already made of Linear layers."""
        return self
