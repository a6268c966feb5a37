"""Decoding graphs over step-level phone scores, with k2-fsa's CPU wheels: ``kaldifst`` (OpenFst and Kaldi's FST
tools), ``kaldilm`` (ARPA to FST) and ``kaldi-decoder`` (Kaldi's FasterDecoder).

``build_graph`` writes HLG = H o min(det(L o G)) once for a lexicon and an ARPA language model: L maps phones to
words, with optional ``<SIL>`` between words and Kaldi's disambiguation symbols (``#1``... for pronunciations shared
by several words or prefixes of others, ``#0`` for G's back-off arcs); G is the n-gram LM; H is one state per phone,
with distinct input ids for entering it (1..P) and staying in it (P+1..2P), so the best path tells phone boundaries
apart even between two equal phones, and ``<eps>:#k`` loops that absorb the disambiguation symbols. With a lexicon
that spells each phone as itself and a phone LM, the same graph decodes phones (an n-gram phone decoder).

H carries no weights: :class:`GraphDecoder` adds a model's self-loop probability to the scores it reads (log(1 -
stay) to every frame that enters a phone, which a path leaves once, and log(stay) to every frame that stays), so one
graph serves every model and is searched by Kaldi's FasterDecoder without being composed again. Phone ``p``
(1-based) is the model's output ``p - 1`` (``symbols`` order of ``dict.phn.txt``).

Files of a graph directory: ``HLG.fst`` (Kaldi's const FST), ``words.txt`` and ``phones.txt`` (symbol tables),
``lang.json`` (symbols, number of disambiguation symbols, each word's pronunciation ids).

A graph is a function of its inputs alone (the lexicon's entries over the symbols, the ARPA file's bytes, the
symbols' order, the silence probability and :data:`GRAPH_VERSION`): with a ``cache_dir``, ``build_graph`` keeps
each graph it builds there under the hash of those inputs (``<key>/``, hard links to the output's files) and links
an equal graph from there instead of building it again (minutes for the demo's word graph). The cache may be
deleted at any time.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..core.errors import KitError
from ..core.files import atomic_path, atomic_write_json, atomic_write_text, link_or_copy
from ..text.phones import SIL

log = logging.getLogger(__name__)

EPS = "<eps>"
FILES = ("HLG.fst", "words.txt", "phones.txt", "lang.json")
GRAPH_VERSION = 1  # raise when build_graph builds a different graph from the same inputs: cached ones are not reused


def with_disambiguation(lexicon: list[tuple[str, list[str]]]) -> tuple[list[tuple[str, list[str]]], int]:
    """Kaldi's ``add_lex_disambig``: a pronunciation shared by several words, or a proper prefix of another,
    gets a trailing ``#k`` (k counting that pronunciation's uses). Returns the lexicon and the largest k."""
    uses = defaultdict(int)
    prefixes = set()
    for _, phones in lexicon:
        uses[tuple(phones)] += 1
        prefixes.update(tuple(phones[:i]) for i in range(1, len(phones)))
    seen = defaultdict(int)
    out, largest = [], 0
    for word, phones in lexicon:
        key = tuple(phones)
        if key in prefixes or uses[key] > 1:
            seen[key] += 1
            largest = max(largest, seen[key])
            out.append((word, [*phones, f"#{seen[key]}"]))
        else:
            out.append((word, list(phones)))
    return out, largest


def _symbol_table(ids: dict[str, int]):
    import kaldifst

    table = kaldifst.SymbolTable()
    for symbol, key in ids.items():
        table.add_symbol(symbol=symbol, key=key)
    return table


def _lexicon_fst(lexicon, phone_ids: dict[str, int], word_ids: dict[str, int], sil_prob: float):
    """L: a loop state with every pronunciation leaving and returning to it (the word on the first arc); with
    ``sil_prob`` > 0 an optional ``<SIL>`` at the start and after every word."""
    import kaldifst

    fst = kaldifst.StdVectorFst()
    start, loop = fst.add_state(), fst.add_state()
    fst.start = start
    fst.set_final(loop, 0.0)
    ends = [(loop, 0.0)]
    if sil_prob > 0:
        sil = fst.add_state()
        no_sil, with_sil = -math.log(1.0 - sil_prob), -math.log(sil_prob)
        fst.add_arc(start, kaldifst.StdArc(0, 0, no_sil, loop))
        fst.add_arc(start, kaldifst.StdArc(0, 0, with_sil, sil))
        fst.add_arc(sil, kaldifst.StdArc(phone_ids[SIL], 0, 0.0, loop))
        ends = [(loop, no_sil), (sil, with_sil)]
    else:
        fst.add_arc(start, kaldifst.StdArc(0, 0, 0.0, loop))
    for word, phones in lexicon:
        ids = [phone_ids[p] for p in phones]
        state = loop
        for i, phone in enumerate(ids[:-1]):
            nxt = fst.add_state()
            fst.add_arc(state, kaldifst.StdArc(phone, word_ids[word] if i == 0 else 0, 0.0, nxt))
            state = nxt
        label = word_ids[word] if len(ids) == 1 else 0
        for target, cost in ends:
            fst.add_arc(state, kaldifst.StdArc(ids[-1], label, cost, target))
    kaldifst.add_self_loops(fst, isyms=[phone_ids["#0"]], osyms=[word_ids["#0"]])  # G's back-off passes through
    fst.input_symbols, fst.output_symbols = _symbol_table(phone_ids), _symbol_table(word_ids)
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def graph_key(entries: list[tuple[str, list[str]]], arpa, symbols: list[str], sil_prob: float) -> str:
    """The hash of everything a graph is built from (see the module docstring)."""
    digest = hashlib.sha256(json.dumps([GRAPH_VERSION, entries, list(symbols), sil_prob]).encode())
    with open(arpa, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _link_files(source: Path, target: Path, names=FILES) -> None:
    """``target`` (a new directory) with hard links to ``source``'s files (copies across file systems)."""
    target.mkdir(parents=True)
    for name in names:
        link_or_copy(source / name, target / name)


def build_graph(lexicon: dict[str, list[str]], arpa, symbols: list[str], out_dir, sil_prob: float = 0.0,
                cache_dir=None) -> dict:
    """Write HLG (lexicon ``word -> phones`` over the model's ``symbols``, the ARPA LM, the phone topology) into
    ``out_dir``; words with a phone outside ``symbols`` are left out. Returns sizes, seconds and the inputs' ``key``
    (``cached``: linked from ``cache_dir``, see the module docstring)."""
    t0 = time.time()
    out_dir = Path(out_dir)
    known = set(symbols)
    entries = sorted((w, list(p)) for w, p in lexicon.items() if p and set(p) <= known)
    if len(entries) < len(lexicon):
        log.info("graph: %d of %d lexicon words use phones outside the model's inventory and are left out",
                 len(lexicon) - len(entries), len(lexicon))
    if not entries:
        raise KitError(f"{arpa}: no lexicon word can be spelled with the model's phones")
    key = graph_key(entries, arpa, symbols, sil_prob)
    cached = Path(cache_dir) / key if cache_dir else None
    if cached is not None and (cached / "result.json").is_file():
        with atomic_path(out_dir) as tmp:
            _link_files(cached, tmp)
        result = {**json.loads((cached / "result.json").read_text()), "cached": True,
                  "seconds": round(time.time() - t0, 1)}
        log.info("decoding graph HLG: the same inputs' graph from the cache (%s): %s", cached, result)
        return result
    result = {**_build(entries, arpa, symbols, out_dir, sil_prob), "key": key}
    result["seconds"] = round(time.time() - t0, 1)
    log.info("decoding graph HLG: %s", result)
    if cached is not None:
        with atomic_path(cached) as tmp:
            _link_files(out_dir, tmp)
            atomic_write_json(tmp / "result.json", result)
    return {**result, "cached": False}


def _build(entries, arpa, symbols: list[str], out_dir: Path, sil_prob: float) -> dict:
    import kaldifst
    import kaldilm

    disambiguated, largest = with_disambiguation(entries)
    phone_ids = {EPS: 0, **{s: i + 1 for i, s in enumerate(symbols)}}
    for k in range(largest + 1):
        phone_ids[f"#{k}"] = len(phone_ids)
    word_ids = {EPS: 0, **{w: i + 1 for i, (w, _) in enumerate(entries)}}
    for special in ("#0", "<s>", "</s>"):
        word_ids[special] = len(word_ids)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for name, ids in (("words.txt", word_ids), ("phones.txt", phone_ids)):
            atomic_write_text(tmp / name, "".join(f"{s} {i}\n" for s, i in ids.items()))
        lex_fst = _lexicon_fst(disambiguated, phone_ids, word_ids, sil_prob)
        kaldilm.arpa2fst(input_arpa=str(arpa), output_fst=str(tmp / "G.fst"), disambig_symbol="#0",
                         read_symbol_table=str(tmp / "words.txt"), max_arpa_warnings=0)
        grammar = kaldifst.StdVectorFst.read(str(tmp / "G.fst"))
        (tmp / "G.fst").unlink()
        kaldifst.arcsort(grammar, sort_type="ilabel")
        lg = kaldifst.compose(lex_fst, grammar)
        if kaldifst.determinize_star(lg, use_log=True):
            raise KitError(f"{arpa}: determinizing L o G stopped at its state limit")
        kaldifst.minimize_encoded(lg)
        kaldifst.arcsort(lg, sort_type="ilabel")
        hlg = kaldifst.compose(_topology(len(symbols), largest), lg)
        del lg
        kaldifst.arcsort(hlg, sort_type="ilabel")
        sizes = {"states": hlg.num_states, "arcs": sum(hlg.num_arcs(s) for s in range(hlg.num_states))}
        kaldifst.StdConstFst(hlg).write(str(tmp / "HLG.fst"))
        atomic_write_json(tmp / "lang.json", {
            "symbols": symbols, "disambiguation": largest, "sil_prob": sil_prob,
            "words": [w for w, _ in entries], "pronunciations": [[phone_ids[p] for p in ph] for _, ph in entries]})
    return {"words": len(entries), "disambiguation": largest, **sizes}


def _topology(n_phones: int, n_disambiguation: int):
    """H: a start state; per phone an 'enter' arc (input p, output p), a 'stay' self-loop (input P + p) and an
    epsilon back to the start, all without weights; ``<eps>:#k`` loops on the start state for LG's disambiguation
    symbols."""
    import kaldifst

    fst = kaldifst.StdVectorFst()
    start = fst.add_state()
    fst.start = start
    fst.set_final(start, 0.0)
    for p in range(1, n_phones + 1):
        state = fst.add_state()
        fst.add_arc(start, kaldifst.StdArc(p, p, 0.0, state))
        fst.add_arc(state, kaldifst.StdArc(n_phones + p, 0, 0.0, state))
        fst.add_arc(state, kaldifst.StdArc(0, 0, 0.0, start))
    for k in range(n_disambiguation + 1):
        fst.add_arc(start, kaldifst.StdArc(0, n_phones + 1 + k, 0.0, start))
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


@functools.lru_cache(maxsize=2)
def _load(path: str):
    """A graph read once per process (it is large and only read)."""
    import kaldifst

    return kaldifst.StdConstFst.read(path)


def pronunciations(graph_dir) -> dict[str, list[str]]:
    """Each word of a decoding graph with the phones it is spelled with."""
    lang = json.loads((Path(graph_dir) / "lang.json").read_text())
    return {w: [lang["symbols"][i - 1] for i in ids] for w, ids in zip(lang["words"], lang["pronunciations"])}


class GraphDecoder:
    """The best word (or phone-LM) path through HLG for per-step phone log-likelihoods.

    ``stay``: the self-loop probability of a phone; ``acoustic_scale`` multiplies the scores (the LM's and the
    self-loop's costs stay at scale 1, so a smaller scale weighs the LM more); ``beam``/``max_active``: the search.
    """

    def __init__(self, graph_dir, stay: float, acoustic_scale: float = 1.0, beam: float = 14.0,
                 max_active: int = 7000):
        from kaldi_decoder import FasterDecoder, FasterDecoderOptions

        graph_dir = Path(graph_dir)
        missing = [name for name in FILES if not (graph_dir / name).is_file()]
        if missing:
            raise KitError(f"{graph_dir}: not a decoding graph directory (missing {', '.join(missing)})")
        lang = json.loads((graph_dir / "lang.json").read_text())
        self.symbols, self.words = lang["symbols"], lang["words"]
        self.pronunciations = [tuple(p) for p in lang["pronunciations"]]
        self.n_phones = len(self.symbols)
        self.acoustic_scale = acoustic_scale
        self.log_enter, self.log_stay = math.log(1.0 - stay), math.log(stay)
        self.graph = _load(str(graph_dir / "HLG.fst"))  # FasterDecoder keeps only a reference: this must live
        self.decoder = FasterDecoder(self.graph, FasterDecoderOptions(beam=beam, max_active=max_active,
                                                                      min_active=20))
        self.sil = self.symbols.index(SIL) + 1 if SIL in self.symbols else None

    def __call__(self, loglikes: np.ndarray) -> dict:
        """Decode one utterance's (T, P) log-likelihoods: ``words`` (indices into ``self.words``), ``spans`` (first and
        last step of each word), ``steps`` (phone index of every step, 0-based into ``symbols``) and ``runs`` (each
        phone run as (phone index, first step, last step))."""
        import kaldifst
        from kaldi_decoder import DecodableCtc

        scores = np.asarray(loglikes, dtype=np.float32) * self.acoustic_scale
        if scores.ndim != 2 or scores.shape[1] != self.n_phones:
            raise ValueError(f"scores of shape {scores.shape}, expected (T, {self.n_phones})")
        if not len(scores):
            return {"words": [], "spans": [], "steps": np.zeros(0, np.int64), "runs": []}
        self.decoder.decode(DecodableCtc(np.ascontiguousarray(np.concatenate([scores + self.log_enter,
                                                                              scores + self.log_stay], 1))))
        ok, lattice = self.decoder.get_best_path()
        if not ok:
            raise KitError("graph decoding found no path (beam too narrow?)")
        _, inputs, outputs, _ = kaldifst.get_linear_symbol_sequence(lattice)
        inputs = np.asarray(inputs)
        entered = inputs <= self.n_phones
        steps = np.where(entered, inputs, inputs - self.n_phones) - 1
        starts = np.flatnonzero(entered)
        ends = np.r_[starts[1:], len(steps)] - 1
        runs = [(int(steps[a]), int(a), int(b)) for a, b in zip(starts, ends)]
        words = [int(w) - 1 for w in outputs]
        return {"words": words, "spans": self._word_spans(words, runs), "steps": steps, "runs": runs}

    def _word_spans(self, words: list[int], runs: list[tuple]) -> list[tuple[int, int]]:
        """First and last step of each word: its pronunciation matched against the phone runs (skipping
        ``<SIL>``), since determinization moves word labels away from where the words are spoken. The last word
        may be cut off by the end of the audio (no final state reached: the best path then ends inside it); it
        spans the runs it got."""
        spans, r = [], 0
        for i, w in enumerate(words):
            pron = self.pronunciations[w]
            while r < len(runs) and runs[r][0] + 1 == self.sil != pron[0]:
                r += 1
            spelled = tuple(run[0] + 1 for run in runs[r:r + len(pron)])
            n = len(pron)
            if spelled != pron:
                cut_off = i == len(words) - 1 and 0 < len(spelled) < n and r + len(spelled) == len(runs) \
                    and pron[:len(spelled)] == spelled
                if not cut_off:
                    raise KitError(f"graph decoding: the phone path does not spell the word {self.words[w]!r}")
                n = len(spelled)
            spans.append((runs[r][1], runs[r + n - 1][2]))
            r += n
        return spans


def _decode_part(job: dict) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    decoder = GraphDecoder(job["graph_dir"], job["stay"], job["acoustic_scale"], job["beam"])
    return [decoder(scores) for scores in job["scores"]]


def decoding_pool(workers: int):
    """Processes for :func:`decode_all` to share between calls (``with graph.decoding_pool(2) as pool``): each reads
    a graph once and keeps it for the next call, so rounds of decoding with the same graph load it once."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"))


def decode_all(graph_dir, scores: list[np.ndarray], stay: float, acoustic_scale: float, beam: float = 14.0,
               workers: int = 1, pool=None) -> list[dict]:
    """:class:`GraphDecoder` results for many utterances' scores, in order; with ``workers`` > 1 the utterances
    are shared between that many processes (``pool``'s, from :func:`decoding_pool`, or new ones for this call)."""
    jobs = [{"graph_dir": str(graph_dir), "stay": stay, "acoustic_scale": acoustic_scale, "beam": beam,
             "scores": [np.asarray(x, dtype=np.float32) for x in scores[i::workers]]}  # what the decoder reads
            for i in range(max(1, workers))]
    if len(jobs) == 1:
        return _decode_part(jobs[0])
    if pool is None:
        with decoding_pool(len(jobs)) as own:
            parts = list(own.map(_decode_part, jobs))
    else:
        parts = list(pool.map(_decode_part, jobs))
    out = [None] * len(scores)
    for i, part in enumerate(parts):
        out[i::len(jobs)] = part
    return out
