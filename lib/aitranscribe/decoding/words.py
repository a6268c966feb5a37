"""Words with times: flashlight-text's lexicon beam search over segment emissions with the KenLM word LM (CTC
criterion with ``<SIL>`` as the blank and the silence token)."""
from __future__ import annotations

import logging

import numpy as np

from ..text.phones import SIL
from .timing import Timing

log = logging.getLogger(__name__)


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
