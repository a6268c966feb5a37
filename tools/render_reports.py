"""Render executed stage notebooks to HTML again with the current report rules, without running anything.

    .venv/bin/python tools/render_reports.py                 # every reports/<profile>/ holding executed notebooks
    .venv/bin/python tools/render_reports.py reports/demo    # only these profiles' directories

Each notebook keeps the ``share_safe`` it ran with (papermill's record of its parameters). Use it after merging a
branch whose run re-executed a profile, or after a change of ``aitranscribe.core.reports.render_html``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.reports import rerender


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path, help="profile report directories (default: all under reports/)")
    args = parser.parse_args(argv)
    dirs = args.dirs or sorted({p.parent for p in (REPO_ROOT / "reports").glob("*/[0-9][0-9]_*.ipynb")})
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        print(f"not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    for d in dirs:
        written = rerender(d)
        print(f"{d}: {len(written)} HTML report(s) rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
