"""Shared by the research tools: append one JSON row to a ``reports/...jsonl`` log and show it."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` as one JSON line to ``path`` (its folder made if missing), then print it indented."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1), flush=True)


def valid_words_parser(doc: str) -> argparse.ArgumentParser:
    """The parser of a tool that decodes a profile's valid split to words: ``--profile`` (demo), ``--scale`` (the
    word graph's acoustic scale, 0.5: give the run's chosen one) and ``--note``; the tool adds its own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--note", default="")
    return ap


def name_pairs(parser, values: list[str], what: str) -> list[tuple[str, str]]:
    """``NAME VALUE NAME VALUE ...`` as pairs; the parser's error (naming ``what``) when one is left over."""
    if len(values) % 2:
        parser.error(f"give NAME {what} pairs")
    return list(zip(values[::2], values[1::2]))


def valid_inputs(profile: str, repo_root: Path) -> dict:
    """The records a research tool that decodes a profile's prepared splits reads (features, audio_prep, text), with
    the kit's library put on the path."""
    import sys

    sys.path.insert(0, str(repo_root / "lib"))
    from aitranscribe.core import stage

    p = {"profile": profile, "data_root": str(repo_root / "data")}
    return {k: stage.load_stage(p, k) for k in ("features", "audio_prep", "text")}
