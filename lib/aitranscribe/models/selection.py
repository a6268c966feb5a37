"""Label-free quality of transcripts, the signals that select models without labels: phone-LM perplexity,
vocabulary usage, fairseq's weighted LM perplexity and the paper's NLL - log U."""
from __future__ import annotations

import math

from ..text import lm


def unsupervised_scores(hyps: list[list[str]], phone_lm, inventory: list[str]) -> dict:
    """LM perplexity of the transcripts (``<SIL>`` dropped), share of the inventory used, ``weighted_lm_ppl``
    (perplexity / usage^2), ``nll_logu`` (log perplexity - log usage) and the total log-probability."""
    sentences = [" ".join(h) for h in hyps if h]
    if not sentences:
        return {"lm_ppl": float("inf"), "vocab_seen": 0.0, "weighted_lm_ppl": float("inf"), "nll_logu": float("inf"),
                "total_logprob": float("-inf")}
    ppl = lm.perplexity(phone_lm, sentences)
    seen = len({p for h in hyps for p in h}) / max(1, len(inventory))
    total_log10 = sum(phone_lm.score(s, bos=True, eos=True) for s in sentences)
    return {"lm_ppl": ppl, "vocab_seen": seen, "weighted_lm_ppl": ppl / max(seen, 1e-6) ** 2,
            "nll_logu": math.log(ppl) - math.log(max(seen, 1e-6)), "total_logprob": total_log10 * math.log(10)}
