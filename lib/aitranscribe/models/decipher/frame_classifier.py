"""The decipher method's acoustic model: phone logits of every frame from a stack of (dilated) convolutions over
time, each written as a Linear layer over unfolded windows (plain torch only, so every backend runs it: INT8 paths
quantise Linear layers but not Conv1d, and the IPEX worker in .venv-intel can rebuild it)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..batching import with_keep_column


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

    @classmethod
    def from_config(cls, config: dict) -> "FrameClassifier":
        """A new network of :meth:`config`'s sizes (untrained)."""
        return cls(**config)

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
            if not h.requires_grad:  # (the input's layer) the same windows, gathered 2x faster
                windows = _packed_windows(h, lengths, kernel, dilation)
            else:
                offsets = dilation * (torch.arange(kernel) - kernel // 2)
                inside = (position[:, None] + offsets >= 0) & (position[:, None] + offsets < length[:, None])
                # frames beyond an utterance's ends read the zero row appended at index N
                idx = torch.where(inside, torch.arange(len(x))[:, None] + offsets, len(x))
                windows = torch.cat([h, h.new_zeros(1, h.shape[1])])[idx].reshape(len(x), -1)
            h = self.dropout(torch.relu(linear(windows)))
        return self.output(h)

    def flops(self, batch: int, length: int) -> int:
        """Multiply-adds x 2 of one call on ``batch`` x ``length`` frames."""
        linears = [self.hidden_layer, *self.more, self.output]
        return 2 * batch * length * sum(layer.in_features * layer.out_features for layer in linears)

    def linear_form(self) -> nn.Module:
        """Already made of Linear layers."""
        return self


class StackFolded(nn.Module):
    """Inference form of a :class:`FrameClassifier` whose input frames are ``stack_context``-stacked copies of
    narrower frames (frames t-c..t+c, edges repeated, as :func:`aitranscribe.features.mfcc.stack` makes them).

    The first layer's window of ``kernel`` stacked frames reads only ``2 (reach + c) + 1`` distinct frames, so its
    weights fold into one Linear over those (MFCC-39 stacked +-2, kernel 5: 351 inputs instead of 975, 2.5x fewer
    multiply-adds for the whole network). The frames whose window meets an utterance's end (where stacked copies
    repeat the edge frame but the window reads zeros) are computed the original way, so the logits equal the
    classifier's to fp32 rounding, padded batches included.

    Input: ``(B, T, stacked dim + 1)``, the stacked frames and a last column of 1 on real frames and 0 on padding
    (:func:`with_keep_column`), so that backends converting a module of one input see every utterance's length.
    Output: ``(B, T, V)`` logits, as :meth:`FrameClassifier.forward`.
    """

    reads_keep_column = True

    def __init__(self, input_dim: int, vocab: int, hidden: int, context: int, layers: list, stack_context: int):
        super().__init__()
        self.classifier = FrameClassifier(input_dim, vocab, hidden, context, 0.0, layers)
        self.stack_context = int(stack_context)
        if self.stack_context < 1 or input_dim % (2 * self.stack_context + 1):
            raise ValueError(f"input_dim {input_dim} is not {2 * self.stack_context + 1} stacked frames")
        self.dim = input_dim // (2 * self.stack_context + 1)
        kernel, dilation = self.classifier.layers[0]
        self.edge = dilation * (kernel // 2)  # frames at each end whose window reaches past the utterance
        self.span = self.edge + self.stack_context  # distinct frames read on each side of a frame
        self.folded = nn.Linear(self.dim * (2 * self.span + 1), hidden)
        # the output layer with zero rows up to a multiple of 8 phones, sliced off: matrix products of 55 columns
        # run ~1.4x slower than of 56 on one core here
        self.output = nn.Linear(hidden, -(-vocab // 8) * 8)
        self.input_dim, self.vocab, self.hidden = input_dim + 1, vocab, hidden

    @classmethod
    def from_classifier(cls, net: FrameClassifier, stack_context: int) -> "StackFolded":
        """The folded form of a trained ``net`` over ``stack_context``-stacked input, in eval mode."""
        cfg = net.config()
        out = cls(cfg["input_dim"], cfg["vocab"], cfg["hidden"], cfg["context"], cfg["layers"], stack_context)
        out.classifier.load_state_dict(net.state_dict())
        kernel, dilation = out.classifier.layers[0]
        c, d = out.stack_context, out.dim
        w = out.classifier.hidden_layer.weight.detach().reshape(net.hidden, kernel, 2 * c + 1, d)
        folded = torch.zeros(net.hidden, 2 * out.span + 1, d, dtype=w.dtype)
        for k in range(kernel):
            for j in range(2 * c + 1):  # block j of the stacked frame at window position k: the frame at offset e
                e = (k - kernel // 2) * dilation + (j - c)
                folded[:, e + out.span] += w[:, k, j]
        with torch.no_grad():
            out.folded.weight.copy_(folded.reshape(net.hidden, -1))
            out.folded.bias.copy_(out.classifier.hidden_layer.bias)
            out.output.weight.zero_()
            out.output.bias.zero_()
            out.output.weight[:net.vocab] = out.classifier.output.weight
            out.output.bias[:net.vocab] = out.classifier.output.bias
        return out.eval()

    def config(self) -> dict:
        return {**self.classifier.config(), "stack_context": self.stack_context}

    @classmethod
    def from_config(cls, config: dict) -> "StackFolded":
        """A new network of :meth:`config`'s sizes (untrained)."""
        return cls(**config)

    def _first_layer(self, f: torch.Tensor, windows: torch.Tensor, base: torch.Tensor, pos: torch.Tensor,
                     length: torch.Tensor) -> torch.Tensor:
        """Pre-activations of the first layer: ``windows`` (N, (2 span + 1) dim), every row's distinct frames
        (clamped to its utterance), through the folded Linear; the rows ``base + pos`` of ``f`` (N, dim), frames
        ``pos`` of utterances of ``length`` frames starting at row ``base`` (E each), the original way."""
        z = self.folded(windows)
        if self.edge == 0:  # a window of one stacked frame never reaches past the ends
            return z
        kernel, dilation = self.classifier.layers[0]
        c = self.stack_context
        p = pos[:, None] + dilation * (torch.arange(kernel) - kernel // 2)  # (E, kernel) stacked frames read
        inside = ((p >= 0) & (p < length[:, None])).to(f.dtype)
        last = (length - 1).clamp(min=0)[:, None, None]
        source = torch.minimum((p[:, :, None] + torch.arange(-c, c + 1)).clamp(min=0), last)
        stacked = f[base[:, None, None] + source] * inside[:, :, None, None]  # (E, kernel, 2c + 1, dim)
        return z.index_copy(0, base + pos, self.classifier.hidden_layer(stacked.flatten(1)))

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, stacked dim + 1) frames with the keep column -> (B, T, V) logits; frames without it (B, T, stacked
        dim) take it from ``padding`` (True where padded), as :meth:`FrameClassifier.forward`."""
        if x.shape[-1] == self.classifier.input_dim:
            x = with_keep_column(x, padding)
        B, T = x.shape[0], x.shape[1]
        keep = x[..., -1:]
        c, d, span = self.stack_context, self.dim, self.span
        f = x[..., c * d:(c + 1) * d].reshape(B * T, d)
        lengths = (keep[..., 0] > 0.5).sum(1)  # counted as integers, whatever precision a backend computes in
        first = torch.arange(B)[:, None] * T
        # each utterance's frames with its first and last repeated span times, then every frame's window of them
        rows = first + torch.minimum(torch.arange(-span, T + span).clamp(min=0), (lengths[:, None] - 1).clamp(min=0))
        windows = f[rows].unfold(1, 2 * span + 1, 1).transpose(2, 3).reshape(B * T, -1)
        ends, last = torch.arange(self.edge), (lengths[:, None] - 1).clamp(min=0)
        pos = torch.cat([torch.minimum(ends, last), (last - ends).clamp(min=0)], 1)
        z = self._first_layer(f, windows, first.expand_as(pos).reshape(-1), pos.reshape(-1),
                              lengths[:, None].expand_as(pos).reshape(-1))
        net = self.classifier
        h = torch.relu(z.reshape(B, T, -1)) * keep
        for (kernel, dilation), linear in zip(net.layers[1:], net.more):
            h = torch.relu(linear(net._windows(h, kernel, dilation))) * keep
        return self.output(h)[..., :self.vocab]

    def forward_packed(self, x: torch.Tensor, lengths) -> torch.Tensor:
        """(N, stacked dim) frames of utterances laid end to end with ``lengths`` -> (N, V) logits, as
        :meth:`FrameClassifier.forward_packed` (no keep column: nothing is padded); one-layer classifiers only."""
        if len(self.classifier.layers) > 1:
            raise ValueError("forward_packed of the folded form supports the one-layer classifier only")
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        lengths = lengths[lengths > 0]
        starts = torch.cumsum(lengths, 0) - lengths
        c, d, span = self.stack_context, self.dim, self.span
        f = x[:, c * d:(c + 1) * d]
        base, length = starts.repeat_interleave(lengths), lengths.repeat_interleave(lengths)
        rows = base[:, None] + torch.minimum((torch.arange(len(x)) - base)[:, None] + torch.arange(-span, span + 1),
                                             (length - 1)[:, None]).clamp(min=0)
        ends = torch.arange(self.edge)
        pos = torch.cat([ends.expand(len(lengths), -1).minimum(lengths[:, None] - 1),
                         (lengths[:, None] - 1 - ends).clamp(min=0)], 1)
        z = self._first_layer(f, f[rows].reshape(len(x), -1), starts[:, None].expand_as(pos).reshape(-1),
                              pos.reshape(-1), lengths[:, None].expand_as(pos).reshape(-1))
        return self.output(torch.relu(z))[:, :self.vocab]

    def flops(self, batch: int, length: int) -> int:
        """Multiply-adds x 2 of one call on ``batch`` x ``length`` frames (the edge frames' extra work left out)."""
        linears = [self.folded, *self.classifier.more, self.classifier.output]  # the padded rows left out
        return 2 * batch * length * sum(layer.in_features * layer.out_features for layer in linears)

    def linear_form(self) -> nn.Module:
        """Already made of Linear layers."""
        return self


def _packed_windows(h: torch.Tensor, lengths: torch.Tensor, kernel: int, dilation: int) -> torch.Tensor:
    """(N, D) rows of utterances laid end to end -> (N, kernel * D): each row's ``kernel`` frames ``dilation`` apart
    around it, zeros beyond its utterance's ends. The utterances are copied into a stream with ``dilation *
    (kernel // 2)`` zero rows around each, whose overlapping windows (a strided view) are gathered once per row;
    the same values as indexing every window's rows (no gradient flows through it)."""
    half = dilation * (kernel // 2)
    B, D = len(lengths), h.shape[1]
    if len(h) == 0:
        return h.new_zeros(0, kernel * D)
    total = len(h) + half * (B + 1)
    rows = torch.repeat_interleave(half * torch.arange(1, B + 1), lengths) + torch.arange(len(h))  # rows in the stream
    stream = h.new_zeros(total, D)
    stream[rows] = h
    windows = stream.as_strided((total - 2 * half, kernel, D), (D, dilation * D, 1))
    return windows.index_select(0, rows - half).reshape(len(h), kernel * D)
