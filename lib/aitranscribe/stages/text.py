"""Stage 04, text preparation: unpaired text -> phones, lexicon, <SIL> insertion, KenLM phone and word LMs.

Inputs: the 01_data text corpus and the audio manifests (for references in the same phone conventions).
Outputs in ``<data_root>/<profile>/04_text/sil<prob>-<hash>/`` (fairseq's prepare_text layout):
``words.txt`` (normalised English sentences), ``dict.txt`` (word counts), ``lexicon.lst`` and
``lexicon_filtered.lst`` (``word<TAB>phones``), ``phones/dict.phn.txt`` (``symbol count``, ``<SIL> 0``
last), ``phones/lm.phones.filtered.txt`` (the GAN's real phone text, ``<SIL>`` inserted),
``phones/lm.phones.filtered.04.arpa``/``.bin`` (phone LM), ``kenlm.wrd.o4.arpa``/``.bin`` (word LM),
``valid_phones.txt``/``valid_words.txt`` (held-out text for perplexity) and ``references/{split}.phn``
(the audio's reference phones mapped to the same inventory; report-only).

Phone conventions: espeak-ng via phonemizer, no stress; a few rare espeak symbols are folded into their
common neighbours (``FOLDS``); phones seen fewer than ``min_phones`` times are dropped from the inventory
and words using them leave the lexicon.
"""
from __future__ import annotations

import collections
import logging
import random
from pathlib import Path

from ..core.metric_labels import PCT, PLAIN
from ..core import registry, stage
from ..core.errors import BadInputError, KitError
from ..core.files import atomic_write_text
from ..core.params import Param
from ..core.paths import graph_cache_dir
from ..io import manifest
from ..decoding import graph
from ..text import lm, phonemize
from ..text import normalize as textnorm
from ..text.phones import SIL, fold, insert_silences

log = logging.getLogger(__name__)

KEY = "text"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "min_word_count": Param(1, int, "words seen fewer times leave the word dictionary, fairseq uses 2"),
    "min_phones": Param(10, int, "phones seen fewer times leave the inventory, with the words using them"),
    "sil_prob": Param(0.25, float, "probability of <SIL> between two words, always at both ends"),
    "phone_language": Param("en-us", str, "espeak-ng language for phonemizer"),
    "phonemizer_backend": Param("espeak", str, "phonemizer backend", ("espeak",)),
    "spell_numbers": Param(True, bool, "spell numbers in words, or drop sentences with digits"),
    "min_function_ratio": Param(0.1, float, "English filter: least share of English function words"),
    "valid_text_fraction": Param(0.05, float, "held-out text sentences for LM perplexity"),
    "lm_order": Param(4, int, "n-gram order of the phone and word LMs"),
    "word_lm_prune": Param([0, 1], list, "lmplz --prune count thresholds of the word LM (and its decoding graph), one "
                                         "per order from unigrams: [0, 1] leaves out every n-gram above unigrams seen "
                                         "once (every word kept, a graph several times smaller); [] keeps them all"),
    "graphs": Param(True, bool, "build the decoding graphs: lexicon + word LM, and the phone LM (kaldifst)"),
    "lm_memory": Param("1G", str, "lmplz memory limit"),
}


def read_corpus(path: Path) -> tuple[list[str], dict]:
    """Lines of the text corpus, undecodable bytes replaced (and counted), empty lines counted and skipped."""
    if not path.is_file():
        raise BadInputError(path, "text corpus not found")
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    bad_bytes = text.count("\ufffd")
    lines = text.splitlines()
    kept = [line for line in lines if line.strip() and "\ufffd" not in line]
    stats = {"lines": len(lines), "empty": sum(1 for line in lines if not line.strip()),
             "non_utf8_lines": sum(1 for line in lines if "\ufffd" in line), "non_utf8_bytes": bad_bytes}
    if stats["non_utf8_lines"]:
        log.warning("%s: %d line(s) are not valid UTF-8 and are skipped", path, stats["non_utf8_lines"])
    if stats["empty"]:
        log.info("%s: %d empty line(s) skipped", path, stats["empty"])
    return kept, stats


STAGE = stage.StageDef(KEY, needs=("data",), name=lambda p: f"sil{p['sil_prob']}",
                       report_only=stage.left_out_as_before({"word_lm_prune": []}))  # []: every n-gram, as before


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/04_text/sil<prob>-<hash>``."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Prepare the text side; skipped when already done for the same parameters and input."""
    def describe(p, records, out_dir, summary):
        phones = out_dir / "phones"
        return {"dict_phn": str(phones / "dict.phn.txt"), "phone_text": str(phones / "lm.phones.filtered.txt"),
                "phone_lm": str(phones / f"lm.phones.filtered.0{p['lm_order']}.bin"),
                "phone_lm_arpa": str(phones / f"lm.phones.filtered.0{p['lm_order']}.arpa"),
                "word_lm": str(out_dir / f"kenlm.wrd.o{p['lm_order']}.bin"),
                "lexicon": str(out_dir / "lexicon_filtered.lst"), "references": str(out_dir / "references"),
                "word_graph": str(out_dir / "graphs" / "words") if p["graphs"] else None,
                "phone_graph": str(out_dir / "graphs" / "phones") if p["graphs"] else None}

    return STAGE.run(p, lambda p, records, out_dir: _prepare(p, records["data"], out_dir), describe)


def _english(p: dict, path: Path) -> tuple[list[str], dict]:
    """The normalised English sentences of a text file and what was read and dropped."""
    lines, read_stats = read_corpus(path)
    normalised, dropped_digits, dropped_language = [], 0, 0
    for line in lines:
        sentence = textnorm.normalize(line, p["spell_numbers"])
        if sentence is None:
            dropped_digits += 1
        elif not textnorm.is_english(sentence, p["min_function_ratio"]):
            dropped_language += 1
        else:
            normalised.append(sentence)
    log.info("text %s: %d lines, %d kept, %d not English, %d dropped for digits or no words", path.name, len(lines),
             len(normalised), dropped_language, dropped_digits)
    return normalised, {"read": read_stats, "n_lines": len(lines), "dropped_not_english": dropped_language,
                        "dropped_digits": dropped_digits}


def _prepare(p: dict, data_record: dict, out_dir: Path) -> dict:
    corpus = Path(data_record["text"])
    if not corpus.is_file() and data_record.get("source") == "folder":
        raise KitError(f"{corpus}: the recordings of data source 'folder' come without unpaired text: set the data "
                       f"parameter text_file to a UTF-8 file of sentences, one per line, and run 01_data again")
    normalised, stats = _english(p, corpus)
    if not normalised:
        raise KitError(f"{corpus}: no English sentence left after normalisation and filtering "
                       f"({stats['n_lines']} lines read, {stats['dropped_not_english']} not English)")
    # text for the lexicon and the word LM only (the phone statistics come from the corpus alone)
    extra, extra_stats = _english(p, Path(data_record["extra_text"])) if data_record.get("extra_text") else ([], None)

    counts = collections.Counter(w for s in normalised + extra for w in s.split())
    vocab = {w for w, c in counts.items() if c >= p["min_word_count"]}
    raw_lexicon = phonemize.phonemize_words(vocab, p["phone_language"], p["phonemizer_backend"])
    lexicon = {w: fold(ph) for w, ph in raw_lexicon.items()}
    atomic_write_text(out_dir / "words.txt", "".join(s + "\n" for s in normalised + extra))
    atomic_write_text(out_dir / "dict.txt", "".join(f"{w} {c}\n" for w, c in counts.most_common()))
    atomic_write_text(out_dir / "lexicon.lst", "".join(f"{w}\t{' '.join(ph)}\n" for w, ph in sorted(lexicon.items())))

    in_vocab = [s for s in normalised if all(w in lexicon for w in s.split())]
    phone_counts = collections.Counter(ph for s in in_vocab for w in s.split() for ph in lexicon[w])
    inventory = {ph for ph, c in phone_counts.items() if c >= p["min_phones"]}
    rare = sorted(set(phone_counts) - inventory)
    if rare:
        log.info("phones seen fewer than %d times leave the inventory: %s", p["min_phones"], rare)
    lexicon_filtered = {w: ph for w, ph in lexicon.items() if set(ph) <= inventory}
    atomic_write_text(out_dir / "lexicon_filtered.lst",
                            "".join(f"{w}\t{' '.join(ph)}\n" for w, ph in sorted(lexicon_filtered.items())))
    kept = [s for s in in_vocab if all(w in lexicon_filtered for w in s.split())]
    oov_fraction = 1 - len(kept) / len(normalised)
    extra_kept = [s for s in extra if all(w in lexicon_filtered for w in s.split())]
    if not kept:
        raise KitError(f"{corpus}: every sentence has a word outside the lexicon (min_word_count "
                       f"{p['min_word_count']}, min_phones {p['min_phones']})")

    rng = random.Random(p["seed"])
    order = list(range(len(kept)))
    rng.shuffle(order)
    n_valid = int(round(p["valid_text_fraction"] * len(kept)))
    valid_idx, train_idx = set(order[:n_valid]), order[n_valid:]
    train_sentences = [kept[i] for i in sorted(train_idx)]
    valid_sentences = [kept[i] for i in sorted(valid_idx)]
    sil_rng = random.Random(p["seed"] + 1)
    phone_lines = [insert_silences([lexicon_filtered[w] for w in s.split()], p["sil_prob"], sil_rng)
                   for s in train_sentences]
    valid_phone_lines = [" ".join(ph for w in s.split() for ph in lexicon_filtered[w]) for s in valid_sentences]

    phones_dir = out_dir / "phones"
    final_counts = collections.Counter(ph for line in phone_lines for ph in line if ph != SIL)
    atomic_write_text(phones_dir / "dict.phn.txt",
                            "".join(f"{ph} {c}\n" for ph, c in final_counts.most_common()) + f"{SIL} 0\n")
    phone_text = phones_dir / "lm.phones.filtered.txt"
    atomic_write_text(phone_text, "".join(" ".join(line) + "\n" for line in phone_lines))
    atomic_write_text(out_dir / "train_words.txt", "".join(s + "\n" for s in train_sentences + extra_kept))
    atomic_write_text(out_dir / "valid_words.txt", "".join(s + "\n" for s in valid_sentences))
    atomic_write_text(out_dir / "valid_phones.txt", "".join(s + "\n" for s in valid_phone_lines))

    order_ = p["lm_order"]
    phone_arpa = lm.train_arpa(phone_text, phones_dir / f"lm.phones.filtered.0{order_}.arpa", order=order_,
                               memory=p["lm_memory"])
    phone_bin = lm.build_binary(phone_arpa, phones_dir / f"lm.phones.filtered.0{order_}.bin")
    word_arpa = lm.train_arpa(out_dir / "train_words.txt", out_dir / f"kenlm.wrd.o{order_}.arpa", order=order_,
                              memory=p["lm_memory"], prune=p["word_lm_prune"] or None)
    lm.build_binary(word_arpa, out_dir / f"kenlm.wrd.o{order_}.bin")
    ppl = lm.perplexity(lm.load(phone_bin), valid_phone_lines) if valid_phone_lines else float("nan")
    symbols = [ph for ph, _ in final_counts.most_common()] + [SIL]  # dict.phn.txt's order: the models' outputs
    graphs = {}
    if p["graphs"]:
        cache = graph_cache_dir(p)
        graphs["words"] = graph.build_graph(lexicon_filtered, word_arpa, symbols, out_dir / "graphs" / "words",
                                            sil_prob=p["sil_prob"], cache_dir=cache)
        graphs["phones"] = graph.build_graph({s: [s] for s in symbols}, phone_arpa, symbols,
                                             out_dir / "graphs" / "phones", cache_dir=cache)

    references = _write_references(data_record, out_dir / "references", inventory)
    sil_share = sum(line.count(SIL) for line in phone_lines) / max(1, sum(len(line) for line in phone_lines))
    return {
        **stats, "n_english": len(normalised), "extra_text": extra_stats, "n_extra_sentences": len(extra_kept),
        "n_sentences": len(kept), "n_train_sentences": len(train_sentences), "n_valid_sentences": len(valid_sentences),
        "n_words": len(lexicon_filtered), "n_tokens": sum(len(s.split()) for s in kept),
        "n_phones": len(inventory), "rare_phones": rare, "oov_sentence_fraction": oov_fraction,
        "phone_lm_ppl_valid": ppl, "sil_share": sil_share, "phone_counts": dict(final_counts.most_common()),
        "sentence_lengths": [len(line) - line.count(SIL) for line in phone_lines], "references": references,
        "graphs": graphs, "oov_rate_report_only": _oov_rates(data_record, lexicon_filtered),
    }


def _oov_rates(data_record: dict, lexicon: dict) -> dict:
    """Share of each audio split's reference words missing from the lexicon (report-only: reads the references)."""
    mdir = Path(data_record["manifests"])
    rates = {}
    for split in manifest.SPLITS:
        if (mdir / f"{split}.tsv").is_file():
            words = [w for line in (manifest.read(mdir, split, check_files=False).words or []) for w in line.split()]
            if words:
                rates[split] = sum(w not in lexicon for w in words) / len(words)
    return rates


def _write_references(data_record: dict, out: Path, inventory: set) -> dict:
    """Audio reference phones folded like the text; phones outside the inventory are kept and counted."""
    mdir = Path(data_record["manifests"])
    stats = {}
    for split in manifest.SPLITS:
        if not (mdir / f"{split}.tsv").is_file():
            continue
        m = manifest.read(mdir, split, check_files=False)
        if m.phones is None:
            continue
        lines = [fold(line.split()) for line in m.phones]
        outside = sum(ph not in inventory for line in lines for ph in line)
        total = sum(len(line) for line in lines)
        atomic_write_text(out / f"{split}.phn", "".join(" ".join(line) + "\n" for line in lines))
        stats[split] = {"phones": total, "outside_inventory": outside}
        if outside:
            log.info("references %s: %d of %d phones are outside the text's inventory", split, outside, total)
    return stats


def overview(summary: dict):
    """What became of the unpaired text: lines read, English kept, sentences kept in the lexicon, phones, the rare
    phones that left the inventory; a table."""
    import pandas as pd

    rows = {"lines read": summary["n_lines"], "English sentences": summary["n_english"],
            "dropped: not English": summary["dropped_not_english"],
            "dropped: digits or no words": summary.get("dropped_digits"),
            "sentences kept (every word in the lexicon)": summary["n_sentences"],
            "words in the lexicon": summary.get("n_words"), "phones": summary["n_phones"],
            "rare phones left out": ", ".join(summary["rare_phones"]) or "none"}
    return pd.DataFrame({"text": {k: v for k, v in rows.items() if v is not None}}, dtype=object)


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "n_sentences": ("phone-text sentences", PLAIN),
    "n_words": ("words in the lexicon", PLAIN),
    "n_phones": ("phones", PLAIN),
    "phone_lm_ppl_valid": ("phone LM perplexity on held-out text", PLAIN),
    "oov_sentence_fraction": ("held-out sentences with a word outside the lexicon", PCT),
    "test_oov_rate_report_only": ("test words outside the lexicon (report-only)", PCT),
    "word_graph_arcs": ("arcs of the word graph", PLAIN),
}

def metrics(summary: dict) -> dict:
    """n_sentences, n_words, n_phones, phone_lm_ppl_valid, oov_sentence_fraction, test_oov_rate_report_only, and
    the word graph's size."""
    out = {"n_sentences": summary["n_sentences"], "n_words": summary["n_words"], "n_phones": summary["n_phones"],
           "phone_lm_ppl_valid": round(summary["phone_lm_ppl_valid"], 3),
           "oov_sentence_fraction": round(summary["oov_sentence_fraction"], 4)}
    if "test" in summary["oov_rate_report_only"]:
        out["test_oov_rate_report_only"] = round(summary["oov_rate_report_only"]["test"], 4)
    if summary["graphs"]:
        out["word_graph_arcs"] = summary["graphs"]["words"]["arcs"]
    return out
