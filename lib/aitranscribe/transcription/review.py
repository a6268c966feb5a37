"""A review page per recording of a folder run: ``review/<name>.html`` beside its ``transcripts.json``.

One self-contained HTML file (its style, script and transcript inline; a Content-Security-Policy that allows no
remote load, no connection and no form target) that works from disk with no network: an audio player on the
original recording, the transcript as speaker turns with start times, every word clickable to play from its start,
the word being spoken highlighted, words below a confidence threshold marked with a "next doubtful word" key,
speakers renameable, session figures and a speaker timeline, and corrections downloaded as a corrected
``transcripts.json`` and a ``.txt`` that stage 06 reads as the recording's reference (:func:`reference_text`).

The audio is *referenced*, never copied: the page's player points at the original recording by a relative path
from the page, so no second copy of a patient's voice is made, the page stays small, and moving the review folder
and the recordings together keeps it working. When the recording is not found there, the page asks for the file
and plays it from the browser's memory (a ``blob:`` URL; nothing is uploaded or stored).

The page's template, style and script are package files beside this module (``review_page.html``, ``.css``,
``.js``).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from ..core.files import atomic_write_text
from ..decoding.timing import subtitle_path

REFERENCE_HEADER = "# AI Transcribe corrected transcript:"  # first line of a page's .txt download
DEFAULT_THRESHOLD = 0.5


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def csp(script: str, style: str) -> str:
    """The page's Content-Security-Policy: its own inline script and style only (by hash), media from local files
    or the browser's memory, nothing else: no remote load, no connection, no form target, no frame."""
    return (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
            "media-src file: blob:; img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'; "
            "frame-src 'none'; object-src 'none'")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def page(result: dict, audio_href: str, names: dict[str, str] | None = None,
         threshold: float = DEFAULT_THRESHOLD) -> str:
    """The review page of one recording's ``result`` (an entry of a folder run's ``transcripts.json``) whose audio
    is at ``audio_href`` (relative to the page); ``names``: display names of speaker labels; ``threshold``: words
    whose ``confidence`` is below it are marked doubtful."""
    tokens = result.get("words")
    if tokens is None:  # a run without words: the phones are the tokens
        tokens = [{**ph, "word": ph["phone"]} for ph in result.get("phones", [])]
    speakers = list((result.get("session") or {}).get("speakers") or {})
    for w in tokens:
        if w.get("speaker") and w["speaker"] not in speakers:
            speakers.append(w["speaker"])
    data = {"name": result["name"], "file_stem": Path(result["name"]).name, "seconds": result.get("seconds"),
            "threshold": threshold, "names": {k: v for k, v in (names or {}).items() if k in speakers},
            "speakers": speakers, "words": tokens, "turns": result.get("turns", []), "session": result.get("session"),
            "reference_header": REFERENCE_HEADER,
            "result": {k: v for k, v in result.items() if k not in ("phones", "words")}}
    script, style = _asset("review_page.js"), _asset("review_page.css")
    blob = json.dumps(data, ensure_ascii=False)  # no '<', '>' or '&' left: nothing in it can end the block early
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out = _asset("review_page.html")
    for key, value in (("CSP", csp(script, style)), ("TITLE", _escape(result["name"])), ("AUDIO", _escape(audio_href)),
                       ("STYLE", style), ("SCRIPT", script), ("DATA", blob)):
        out = out.replace("{{" + key + "}}", value)
    return out


def page_path(review_dir: Path, name: str) -> Path:
    """``review_dir/<name>.html`` (path separators in ``name`` replaced, as for subtitles)."""
    return subtitle_path(review_dir, name, "html")


def audio_href(page: Path, recording: Path) -> str:
    """The URL of ``recording`` relative to ``page`` (both paths on this machine), percent-encoded."""
    rel = os.path.relpath(Path(recording).resolve(), Path(page).resolve().parent)
    return "/".join(quote(part) for part in Path(rel).as_posix().split("/"))


def write_pages(review_dir: Path, results: list[dict], recordings: dict[str, Path],
                names: dict[str, str] | None = None, threshold: float = DEFAULT_THRESHOLD) -> list[Path]:
    """One page per result (atomically); ``recordings``: each result's name -> its original audio file."""
    paths = []
    for r in results:
        path = page_path(review_dir, r["name"])
        atomic_write_text(path, page(r, audio_href(path, recordings[r["name"]]), names, threshold))
        paths.append(path)
    return paths


def reference_text(text: str) -> str:
    """The words of a recording's reference file: plain text as it is, or a review page's ``.txt`` download (first
    line :data:`REFERENCE_HEADER`, then one ``Speaker: words`` line per turn) without its header and speakers."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(REFERENCE_HEADER):
        return text
    return "\n".join(line.split(": ", 1)[1] if ": " in line else line for line in lines[1:])
