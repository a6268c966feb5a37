"""Write each stage notebook's ``parameters`` cell from its stage module's ``PARAMS`` (defaults and help texts).

    .venv/bin/python tools/notebook_params.py          # rewrite the cells that differ
    .venv/bin/python tools/notebook_params.py --check  # exit 1 if a cell differs (what the tests assert)

The library is the one place where a parameter's default lives; this keeps the notebooks in step with it.
"""
from __future__ import annotations

import argparse
import sys

import nbformat

from aitranscribe.core.params import stage_spec
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.registry import STAGES

HEADER = "# Parameters (papermill overrides them; the defaults are the CI profile, params/ci.yaml)"


def cell_source(params: dict) -> str:
    """The parameters cell of a stage: one ``name = default  # help`` line per parameter; a section of
    sub-parameters is written as a dict with one commented line per entry."""
    lines = [HEADER]
    for name, p in params.items():
        if p.spec is None:
            lines.append(f"{name} = {p.default!r}  # {p.help}")
            continue
        lines.append(f"{name} = {{  # {p.help}")
        lines += [f"    {key!r}: {sub.default!r},  # {sub.help}" for key, sub in p.spec.items()]
        lines.append("}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report notebooks whose cell differs")
    args = parser.parse_args(argv)
    differ = []
    for s in STAGES:
        path = REPO_ROOT / "notebooks" / f"{s.notebook}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        wanted = cell_source(stage_spec(s.load().PARAMS))
        if cell.source != wanted:
            differ.append(path.name)
            if not args.check:
                cell.source = wanted
                nbformat.write(nb, str(path))
    print(("differ: " if args.check else "rewritten: ") + (", ".join(differ) or "none"))
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
