"""KenLM n-gram language models: train an ARPA file with ``lmplz``, compile it with ``build_binary``,
load it with the ``kenlm`` Python module, score sentences, and validate ARPA files.

``lmplz`` and ``build_binary`` are not in the kenlm wheel; ``tools/build_kenlm.sh`` compiles them
into ``<repo>/.cache/kenlm/bin`` (``bash run_all.sh`` runs it).
"""
from __future__ import annotations

import logging
import math
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import BadInputError, KitError
from ..core.paths import REPO_ROOT

log = logging.getLogger(__name__)

BIN_ENV = "AITRANSCRIBE_KENLM_BIN"
CACHE_BIN_DIR = REPO_ROOT / ".cache" / "kenlm" / "bin"
# KENLM_MAX_ORDER of both the compiled tools and the kenlm wheel.
MAX_ORDER = 6
_STDERR_TAIL_LINES = 25


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_kenlm_bin(name: str) -> Path:
    """Path of the KenLM program ``name`` (``lmplz``, ``build_binary``, ...).

    Looks in the directory named by ``$AITRANSCRIBE_KENLM_BIN``, then ``<repo>/.cache/kenlm/bin``,
    then on ``PATH``. Raises :class:`KitError` saying how to build it when it is nowhere.
    """
    searched = []
    env_dir = os.environ.get(BIN_ENV)
    if env_dir:
        candidate = Path(env_dir).expanduser() / name
        if _is_executable(candidate):
            return candidate
        log.warning("%s=%s has no executable %s; looking further", BIN_ENV, env_dir, name)
        searched.append(f"${BIN_ENV} ({env_dir})")
    candidate = CACHE_BIN_DIR / name
    if _is_executable(candidate):
        return candidate
    searched.append(str(CACHE_BIN_DIR))
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    searched.append("PATH")
    raise KitError(
        f"KenLM program '{name}' not found (searched: {', '.join(searched)}). "
        f"Run `bash run_all.sh` (it builds KenLM into {CACHE_BIN_DIR.parent}), "
        f"or `bash tools/build_kenlm.sh .cache/kenlm`, or set {BIN_ENV} to a directory holding it."
    )


def _tmp_sibling(path: Path) -> Path:
    """A unique temporary name next to ``path`` (so the final rename stays on one file system);
    not created here, so the tool creates it with the usual permissions."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _tail(text: str, lines: int = _STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    log.info("running %s", shlex.join(cmd))
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as exc:
        raise KitError(f"{what}: could not start {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise KitError(f"{what} failed (exit code {proc.returncode}): {shlex.join(cmd)}\n"
                       f"--- last lines of its stderr ---\n{_tail(proc.stderr + proc.stdout)}")
    if proc.stderr.strip():
        log.debug("%s stderr:\n%s", cmd[0], _tail(proc.stderr))
    return proc


def _check_text(text_path: Path) -> None:
    if not text_path.is_file():
        raise BadInputError(text_path, "training text not found")
    with open(text_path, "rb") as fh:
        if not any(line.strip() for line in fh):
            raise BadInputError(text_path, "training text is empty")


def train_arpa(text_path, arpa_path, order: int = 4, memory: str = "1G", prune=None,
               discount_fallback: bool = True) -> Path:
    """Train a modified Kneser-Ney ``order``-gram model on ``text_path`` (one sentence a line,
    tokens separated by spaces) with ``lmplz``; write it as an ARPA file to ``arpa_path``.

    ``memory`` is lmplz's ``-S`` (e.g. ``"1G"``, ``"500M"``, ``"20%"``): without it lmplz reserves
    most of the machine's RAM. ``prune`` is lmplz's ``--prune``: count thresholds per order
    (a sequence of ints or a space-separated string, e.g. ``[0, 0, 1]``). ``discount_fallback``
    lets tiny or artificial corpora through where Kneser-Ney discounts cannot be estimated.
    The file appears atomically: written under a temporary name, then renamed.
    """
    text_path, arpa_path = Path(text_path), Path(arpa_path)
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an int in 1..{MAX_ORDER} (KenLM's compiled maximum), got {order!r}")
    if not str(memory).strip():
        raise ValueError("memory must be an lmplz -S value such as '1G' or '20%'")
    _check_text(text_path)
    lmplz = find_kenlm_bin("lmplz")
    arpa_path.parent.mkdir(parents=True, exist_ok=True)

    tmp_arpa = _tmp_sibling(arpa_path)
    tmp_dir = tempfile.mkdtemp(prefix=f".{arpa_path.name}.lmplz.", dir=arpa_path.parent)
    cmd = [str(lmplz), "-o", str(order), "-S", str(memory), "-T", tmp_dir,
           "--text", str(text_path), "--arpa", str(tmp_arpa)]
    if discount_fallback:
        cmd.append("--discount_fallback")
    if prune is not None:
        thresholds = prune.split() if isinstance(prune, str) else [str(int(p)) for p in prune]
        if not thresholds or len(thresholds) > order:
            raise ValueError(f"prune needs 1..{order} thresholds, got {prune!r}")
        cmd += ["--prune", *thresholds]
    try:
        _run(cmd, f"lmplz on {text_path}")
        os.replace(tmp_arpa, arpa_path)
    finally:
        tmp_arpa.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)
    log.info("wrote %d-gram ARPA model %s (%.1f MB)", order, arpa_path, arpa_path.stat().st_size / 1e6)
    return arpa_path


def build_binary(arpa_path, bin_path, model_type: str = "probing") -> Path:
    """Compile an ARPA file into KenLM's binary format (``probing`` hash tables, the fastest,
    or ``trie``, the smallest); loads much faster than ARPA. Written atomically."""
    arpa_path, bin_path = Path(arpa_path), Path(bin_path)
    if model_type not in ("probing", "trie"):
        raise ValueError(f"model_type must be 'probing' or 'trie', got {model_type!r}")
    if not arpa_path.is_file():
        raise BadInputError(arpa_path, "ARPA file not found")
    exe = find_kenlm_bin("build_binary")
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_bin = _tmp_sibling(bin_path)
    tmp_dir = tempfile.mkdtemp(prefix=f".{bin_path.name}.build.", dir=bin_path.parent)
    cmd = [str(exe)]
    if model_type == "trie":
        cmd += ["-T", tmp_dir + os.sep]
    cmd += [model_type, str(arpa_path), str(tmp_bin)]
    try:
        _run(cmd, f"build_binary on {arpa_path}")
        os.replace(tmp_bin, bin_path)
    finally:
        tmp_bin.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)
    log.info("wrote KenLM binary %s (%s, %.1f MB)", bin_path, model_type, bin_path.stat().st_size / 1e6)
    return bin_path


def load(path):
    """A ``kenlm.Model`` from an ARPA or binary file; :class:`BadInputError` when the file is
    missing or is not a language model KenLM can read."""
    import kenlm

    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "language model file not found")
    try:
        model = kenlm.Model(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise BadInputError(path, f"not a valid KenLM language model: {exc}") from exc
    log.info("loaded %d-gram language model %s", model.order, path)
    return model


def perplexity(model, sentences: list[str]) -> float:
    """Corpus perplexity of ``sentences`` (space-tokenized) under ``model``, counting ``</s>``
    as one token per sentence, as ``kenlm.Model.perplexity`` does for one sentence:
    ``10 ** (-sum(log10 p) / (n_words + n_sentences))``."""
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of strings, not one string")
    total_log10 = 0.0
    n_tokens = 0
    n_sentences = 0
    for sentence in sentences:
        total_log10 += model.score(sentence, bos=True, eos=True)
        n_tokens += len(sentence.split())
        n_sentences += 1
    if n_sentences == 0:
        raise ValueError("perplexity of an empty list of sentences is undefined")
    return 10.0 ** (-total_log10 / (n_tokens + n_sentences))


def _finite(value: str):
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def check_arpa(path) -> dict[int, int]:
    """Validate an ARPA file and return its n-gram counts, ``{order: count}``.

    Checks: a ``\\data\\`` header with ``ngram k=N`` lines for k = 1, 2, ...; one ``\\k-grams:``
    section per declared order, in order, holding exactly N entries; entries tab-separated as
    ``log10prob<TAB>w1 ... wk[<TAB>backoff]`` with finite numbers (backoff only below the top
    order); ``<s>`` and ``</s>`` among the unigrams; a closing ``\\end\\``.
    Raises :class:`BadInputError` with the line number of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "ARPA file not found")

    def bad(lineno, reason):
        return BadInputError(path, f"line {lineno}: {reason}" if lineno else reason)

    declared: dict[int, int] = {}
    seen: dict[int, int] = {}
    state = "preamble"  # preamble -> header -> between -> section -> end
    section = 0
    max_order = 0
    unigram_words = set()
    lineno = 0
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.rstrip("\r\n")
                stripped = line.strip()
                if state == "preamble":
                    if stripped == "\\data\\":
                        state = "header"
                    continue
                if state == "end":
                    if stripped:
                        raise bad(lineno, "content after \\end\\")
                    continue
                if state == "header":
                    if not stripped:
                        if declared:
                            state = "between"
                        continue
                    if not stripped.startswith("ngram "):
                        if stripped.startswith("\\") and declared:
                            state = "between"  # a section right after the header, no blank line
                        else:
                            raise bad(lineno, f"expected 'ngram k=N' in the \\data\\ header, got {stripped[:60]!r}")
                    else:
                        key, _, value = stripped[len("ngram "):].partition("=")
                        try:
                            k, n = int(key), int(value)
                        except ValueError:
                            raise bad(lineno, f"malformed header line {stripped!r}") from None
                        if k != len(declared) + 1 or n < 0:
                            raise bad(lineno, f"header declares order {k}={n}; expected order {len(declared) + 1}")
                        declared[k] = n
                        max_order = k
                        continue
                if stripped.startswith("\\"):  # a section marker or \end\
                    if section and seen.get(section, 0) != declared[section]:
                        raise bad(lineno, f"\\{section}-grams: has {seen.get(section, 0)} entries, "
                                          f"header declares {declared[section]}")
                    if stripped == "\\end\\":
                        if section != max_order:
                            raise bad(lineno, f"\\end\\ after the {section}-grams; header declares order {max_order}")
                        state = "end"
                        continue
                    expected = f"\\{section + 1}-grams:"
                    if stripped != expected:
                        raise bad(lineno, f"expected {expected!r}, got {stripped[:60]!r}")
                    if section + 1 > max_order:
                        raise bad(lineno, f"section {stripped} beyond declared order {max_order}")
                    section += 1
                    seen[section] = 0
                    state = "section"
                    continue
                if not stripped:
                    continue
                if state != "section":
                    raise bad(lineno, f"n-gram entry outside any section: {stripped[:60]!r}")
                fields = line.split("\t")
                if len(fields) not in (2, 3):
                    raise bad(lineno, "entry is not tab separated as 'log10prob<TAB>words[<TAB>backoff]' "
                                      f"(KenLM's Python module needs tabs): {line[:80]!r}")
                if _finite(fields[0]) is None:
                    raise bad(lineno, f"log10 probability {fields[0]!r} is not a finite number")
                words = fields[1].split(" ")
                if len(words) != section or any(not w for w in words):
                    raise bad(lineno, f"{section}-gram entry has {len(words)} space-separated words: {fields[1]!r}")
                if len(fields) == 3:
                    if section == max_order:
                        raise bad(lineno, "backoff weight on a highest-order n-gram")
                    if _finite(fields[2]) is None:
                        raise bad(lineno, f"backoff {fields[2]!r} is not a finite number")
                if section == 1:
                    unigram_words.add(words[0])
                seen[section] += 1
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"not UTF-8 text ({exc.reason}, after line {lineno})") from None

    if state == "preamble":
        raise bad(0, "no \\data\\ header: not an ARPA file")
    if not declared:
        raise bad(0, "\\data\\ header declares no n-gram counts")
    if state != "end":
        if section and seen.get(section, 0) != declared[section]:
            raise bad(lineno, f"\\{section}-grams: has {seen.get(section, 0)} entries, "
                              f"header declares {declared[section]}")
        raise bad(lineno, f"file ends without \\end\\ (truncated?) after {section} of {max_order} sections")
    missing = [w for w in ("<s>", "</s>") if w not in unigram_words]
    if missing:
        raise bad(0, f"unigrams lack {' and '.join(missing)}")
    log.debug("ARPA %s ok: counts %s", path, declared)
    return dict(declared)
