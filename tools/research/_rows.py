"""Shared by the research tools: append one JSON row to a ``reports/...jsonl`` log and show it."""
from __future__ import annotations

import json
from pathlib import Path


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` as one JSON line to ``path`` (its folder made if missing), then print it indented."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1), flush=True)
