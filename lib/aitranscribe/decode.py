"""Phones and words with timestamps from the acoustic model's outputs.

Greedy phones (GAN): per-segment argmax (JOIN segmentation with run means), repeats collapsed, ``<SIL>``
dropped. Frame paths (decipher method): the hybrid HMM's best phone per frame; each run of a phone is a
segment whose emission for the word decoder is the log-softmax of its mean logits.
Words: flashlight-text's lexicon beam search over the segment emissions with the KenLM word LM (CTC
criterion with ``<SIL>`` as the blank and the silence token), no Kaldi.
Times: a segment covers frames ``[start, end)`` of the silence-removed audio; a frame ``f`` starts at
``f * shift`` and ends at ``f * shift + window`` samples; times are then mapped back through the VAD
intervals to the original recording's time line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import decipher, gan
from .audio_prep import to_original_seconds

log = logging.getLogger(__name__)

SIL = "<SIL>"


@dataclass
class Timing:
    """How to turn segment indices into seconds on the original recording."""

    bounds: np.ndarray  # (segments, 2) first and one-past-last frame of each pooled segment
    shift_s: float
    window_s: float
    vad_intervals: list  # speech intervals (samples) of the original recording

    def seconds(self, first_segment: int, last_segment: int) -> tuple[float, float]:
        """Start and end time (s) of segments ``first..last`` (inclusive) on the original time line."""
        start = self.bounds[first_segment, 0] * self.shift_s
        end = (self.bounds[last_segment, 1] - 1) * self.shift_s + self.window_s
        mapped = to_original_seconds(np.array([start, end]), self.vad_intervals)
        return round(float(mapped[0]), 3), round(float(mapped[1]), 3)


def segment_posteriors(logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
    """Per utterance: log-probabilities of the JOIN segments and the pooled-segment span of each."""
    seg, seg_pad = gan.join_segments(logits, padding, random_frame=False)
    logp = torch.log_softmax(seg, -1)
    preds = logits.argmax(-1)
    out = []
    for b in range(logits.shape[0]):
        n = int((~padding[b]).sum())
        p = preds[b, :n].tolist()
        spans, start = [], 0
        for t in range(1, n + 1):
            if t == n or p[t] != p[t - 1]:
                spans.append((start, t - 1))
                start = t
        m = int((~seg_pad[b]).sum())
        out.append((logp[b, :m].numpy().astype(np.float32), spans[:m]))
    return out


def greedy_phones(logp: np.ndarray, spans: list, symbols: list[str], timing: Timing | None) -> list[dict]:
    """Collapsed argmax phones without ``<SIL>``, each with start/end seconds when ``timing`` is given."""
    return path_phones(logp.argmax(-1), spans, symbols, timing)


def run_posteriors(logits: torch.Tensor, path: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """One utterance's frame logits (T, V) and best frame path -> per run of the path: log-probabilities of the
    run's mean logits (as JOIN segments for the GAN), the run's phone id and its span of frames."""
    bounds = decipher.run_bounds(path)
    starts, ends = bounds[:-1], bounds[1:]
    run_of_frame = torch.from_numpy(np.repeat(np.arange(len(starts)), ends - starts))
    sums = torch.zeros(len(starts), logits.shape[-1]).index_add_(0, run_of_frame, logits[:len(path)].float())
    logp = torch.log_softmax(sums / torch.from_numpy(ends - starts)[:, None], -1)
    return logp.numpy(), path[starts], [(int(a), int(b) - 1) for a, b in zip(starts, ends)]


def frame_bounds(n: int) -> np.ndarray:
    """(n, 2) first and one-past-last frame when each of ``n`` frames is its own step (frame-level models)."""
    return np.stack([np.arange(n), np.arange(n) + 1], 1)


def path_phones(ids: np.ndarray, spans: list, symbols: list[str], timing: Timing | None) -> list[dict]:
    """Phones of a path of symbol ids over spans: runs collapsed, ``<SIL>`` dropped, times when ``timing`` is given."""
    phones = []
    for j, i in enumerate(ids):
        if symbols[i] == SIL:
            continue
        if phones and j > 0 and ids[j - 1] == i:
            phones[-1]["last"] = spans[j][1]
            continue
        phones.append({"phone": symbols[i], "first": spans[j][0], "last": spans[j][1]})
    for ph in phones:
        first, last = ph.pop("first"), ph.pop("last")
        if timing is not None:
            ph["start"], ph["end"] = timing.seconds(first, last)
    return phones


class WordDecoder:
    """Lexicon + word n-gram beam search (flashlight-text) over segment emissions."""

    def __init__(self, symbols: list[str], lexicon_path, word_lm_path, beam: int = 50, lm_weight: float = 2.0,
                 word_score: float = 0.0, sil_score: float = 0.0):
        from flashlight.lib.text.decoder import (CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode,
                                                 Trie)
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import create_word_dict, load_words

        self.symbols = symbols
        token_index = {s: i for i, s in enumerate(symbols)}
        self.sil = token_index[SIL]
        lexicon = load_words(str(lexicon_path))
        self.word_dict = create_word_dict(lexicon)
        self.lm = KenLM(str(word_lm_path), self.word_dict)
        trie = Trie(len(symbols), self.sil)
        start = self.lm.start(False)
        skipped = 0
        for word, spellings in lexicon.items():
            word_idx = self.word_dict.get_index(word)
            _, score = self.lm.score(start, word_idx)
            for spelling in spellings:
                if all(ph in token_index for ph in spelling):
                    trie.insert([token_index[ph] for ph in spelling], word_idx, score)
                else:
                    skipped += 1
        if skipped:
            log.info("word decoder: %d lexicon spellings use phones outside the model's inventory", skipped)
        trie.smear(SmearingMode.MAX)
        options = LexiconDecoderOptions(beam_size=beam, beam_size_token=len(symbols), beam_threshold=25.0,
                                        lm_weight=lm_weight, word_score=word_score, unk_score=float("-inf"),
                                        sil_score=sil_score, log_add=False, criterion_type=CriterionType.CTC)
        self.decoder = LexiconDecoder(options, trie, self.lm, self.sil, self.sil, -1, [], False)

    def __call__(self, logp: np.ndarray, spans: list, timing: Timing | None) -> list[dict]:
        """Words of one utterance, each with start/end seconds when ``timing`` is given."""
        emissions = np.ascontiguousarray(logp, dtype=np.float32)
        T, N = emissions.shape
        if T == 0:
            return []
        result = self.decoder.decode(emissions.ctypes.data, T, N)[0]
        words, start_frame = [], None
        # flashlight pads both ends: entry t + 1 of tokens and words belongs to segment t
        tokens = list(result.tokens)[1:T + 1]
        word_ids = list(result.words)[1:T + 1]
        for t in range(min(T, len(tokens))):
            if start_frame is None and tokens[t] != self.sil:
                start_frame = t
            if t < len(word_ids) and word_ids[t] >= 0:
                first = start_frame if start_frame is not None else t
                entry = {"word": self.word_dict.get_entry(word_ids[t])}
                if timing is not None:
                    entry["start"], entry["end"] = timing.seconds(spans[first][0], spans[t][1])
                words.append(entry)
                start_frame = None
        return words


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def subtitles(words: list[dict], fmt: str, max_words: int = 8) -> str:
    """SRT or WebVTT cues of at most ``max_words`` timed words each."""
    sep = "," if fmt == "srt" else "."
    lines = [] if fmt == "srt" else ["WEBVTT", ""]
    for n, start in enumerate(range(0, len(words), max_words), 1):
        chunk = words[start:start + max_words]
        if fmt == "srt":
            lines.append(str(n))
        lines.append(f"{_clock(chunk[0]['start'], sep)} --> {_clock(chunk[-1]['end'], sep)}")
        lines.append(" ".join(w["word"] for w in chunk))
        lines.append("")
    return "\n".join(lines)


def subtitle_path(directory: Path, name: str, fmt: str) -> Path:
    """``directory/<name>.<fmt>`` with path separators in ``name`` replaced."""
    return Path(directory) / f"{name.replace('/', '__')}.{fmt}"
