"""An offline supervised peer, report-only: pocketsphinx 5 (its wheel ships an en-us acoustic model trained on
real speech, a CMU dictionary, a word trigram and a phone trigram), run on the same audio as the kit.

Words come from its own dictionary and LM; phones from its allphone search. Its phones are CMU ARPAbet (39, no
stress) and the kit's are espeak-ng IPA, so phone error rates compare both in ARPAbet: every kit phone maps to one
or two ARPAbet phones (:data:`IPA_TO_ARPABET`; espeak's r-coloured vowels and syllabic consonants split, its
reduced and allophonic variants fold, and the linking ``ɹ`` espeak writes after ``ɚ``/``ɜː`` is dropped).
"""
from __future__ import annotations

import logging
import time

import numpy as np
from ..io.audio import TARGET_SR

log = logging.getLogger(__name__)

# espeak-ng en-us phones (after the kit's folds) -> ARPAbet
IPA_TO_ARPABET = {
    "ɑː": "AA", "ɑ": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ᵻ": "IH", "ɔː": "AO", "ɔ": "AO", "oː": "AO",
    "aʊ": "AW", "aɪ": "AY", "b": "B", "tʃ": "CH", "d": "D", "ð": "DH", "ɛ": "EH", "ɜː": "ER", "ɚ": "ER", "eɪ": "EY",
    "f": "F", "ɡ": "G", "g": "G", "h": "HH", "ɪ": "IH", "iː": "IY", "i": "IY", "dʒ": "JH", "k": "K", "l": "L",
    "m": "M", "n": "N", "ŋ": "NG", "oʊ": "OW", "o": "OW", "ɔɪ": "OY", "p": "P", "ɹ": "R", "r": "R", "s": "S",
    "ʃ": "SH", "t": "T", "ɾ": "T", "ʔ": "T", "θ": "TH", "ʊ": "UH", "uː": "UW", "u": "UW", "v": "V", "w": "W",
    "j": "Y", "z": "Z", "ʒ": "ZH", "x": "K", "ɬ": "L", "ç": "HH",
    "əl": "AH L", "n̩": "AH N", "ɑːɹ": "AA R", "ɔːɹ": "AO R", "oːɹ": "AO R", "ɛɹ": "EH R", "ɪɹ": "IH R",
    "ʊɹ": "UH R", "aɪɚ": "AY ER", "aɪə": "AY AH", "iə": "IY AH", "nʲ": "N Y",
}
FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "SIL", "+NSN+", "+SPN+", "NULL"}


def to_arpabet(phones: list[str]) -> list[str]:
    """Kit phones in ARPAbet (unknown symbols kept as they are, so they count as errors)."""
    out = []
    for p in phones:
        if p == "ɹ" and out and out[-1] == "ER":
            continue  # espeak's linking r after an r-coloured vowel: ARPAbet's ER holds it
        out.extend(IPA_TO_ARPABET.get(p, p).split())
    return out


class Peer:
    """pocketsphinx's word and allphone decoders with the wheel's en-us models (phone LM weight ``phone_lw``)."""

    def __init__(self, phone_lw: float = 2.0):
        from pocketsphinx import Decoder, get_model_path

        self.words = Decoder(loglevel="FATAL")
        self.phones = Decoder(loglevel="FATAL", allphone=get_model_path("en-us/en-us-phone.lm.bin"), lm=None,
                              lw=phone_lw, beam=1e-20, pbeam=1e-20, bestpath=False)

    @staticmethod
    def _run(decoder, x: np.ndarray) -> list[tuple[str, float, float]]:
        pcm = np.clip(np.round(np.asarray(x, np.float64) * 32767.0), -32768, 32767).astype(np.int16)
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        out = []
        for seg in decoder.seg():
            label = seg.word.split("(")[0]  # alternative pronunciations are written word(2)
            if label not in FILLERS:
                out.append((label, seg.start_frame / 100, (seg.end_frame + 1) / 100))
        return out

    def __call__(self, x: np.ndarray) -> dict:
        """16 kHz mono float audio -> ``words`` and ``phones`` (each label, start s, end s) and decoding seconds."""
        t0 = time.perf_counter()
        words = [(w.lower(), a, b) for w, a, b in self._run(self.words, x)]
        t1 = time.perf_counter()
        phones = [(p.upper(), a, b) for p, a, b in self._run(self.phones, x)]
        return {"words": words, "phones": phones, "word_seconds": t1 - t0, "phone_seconds": time.perf_counter() - t1}


def evaluate(utterances: list[np.ndarray], ref_words: list[str] | None, ref_phones: list[list[str]] | None) -> dict:
    """The peer on utterances (16 kHz mono): WER, PER in ARPAbet (report-only), x real time of each search."""
    from ..text.error_rates import per, wer

    peer = Peer()
    results = [peer(x) for x in utterances]
    seconds = sum(len(x) for x in utterances) / TARGET_SR
    out = {"utterances": len(results), "audio_seconds": round(seconds, 2),
           "x_realtime_words": seconds / max(sum(r["word_seconds"] for r in results), 1e-9),
           "x_realtime_phones": seconds / max(sum(r["phone_seconds"] for r in results), 1e-9)}
    hyps = [" ".join(w for w, _, _ in r["words"]) for r in results]
    if ref_words is not None:
        out["wer"] = wer(hyps, ref_words)
    if ref_phones is not None:
        out["per_arpabet"] = per([[p for p, _, _ in r["phones"]] for r in results], [to_arpabet(r) for r in ref_phones])
    log.info("pocketsphinx peer: %s", out)
    return {**out, "hypotheses": hyps}
