"""JupyterLab of the kit's environment asks nothing of the internet: no "official Jupyter news", no update check.

    python -m aitranscribe.core.jupyter_offline            # into this interpreter's environment (sys.prefix)
    python -m aitranscribe.core.jupyter_offline --prefix P # into the environment at P (a venv or a conda env)

Three files of the environment, each merged with what is already there (other settings are kept):

* ``share/jupyter/lab/settings/overrides.json``: the defaults of ``@jupyterlab/apputils-extension:notification``
  become ``fetchNews: "false"`` (Never) and ``checkForUpdates: false``, so JupyterLab neither asks nor fetches;
* ``etc/jupyter/labconfig/page_config.json``: the ``@jupyterlab/apputils-extension:announcements`` plugin (the one
  that asks for news and update notices) is disabled;
* ``etc/jupyter/jupyter_server_config.d/aitranscribe-offline.json``: the server itself has no news feed
  (``LabApp.news_url = None``) and never checks for updates (``jupyterlab.NeverCheckForUpdate``), whatever a user
  later sets in the browser.

``run_all.sh`` runs this at every set-up; in a conda environment run it once after ``pip install -e .``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .files import atomic_write_json

NOTIFICATION = "@jupyterlab/apputils-extension:notification"
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
OVERRIDES = {NOTIFICATION: {"fetchNews": "false", "checkForUpdates": False}}
PAGE_CONFIG = {"disabledExtensions": {ANNOUNCEMENTS: True}}
SERVER_CONFIG = {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}


def paths(prefix) -> dict[str, Path]:
    """The three files below environment ``prefix``: ``overrides``, ``page_config``, ``server_config``."""
    prefix = Path(prefix)
    return {"overrides": prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json",
            "page_config": prefix / "etc" / "jupyter" / "labconfig" / "page_config.json",
            "server_config": prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "aitranscribe-offline.json"}


def _merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path) -> dict:
    if not path.is_file() or not path.read_text().strip():
        return {}
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc}); fix or remove it, then run this again") from None
    return value if isinstance(value, dict) else {}


def install(prefix=None) -> list[Path]:
    """Write the three settings into environment ``prefix`` (default: this interpreter's ``sys.prefix``), merged
    with the files' current content; returns the files written. Running it again changes nothing."""
    written = []
    for name, settings in (("overrides", OVERRIDES), ("page_config", PAGE_CONFIG), ("server_config", SERVER_CONFIG)):
        path = paths(prefix or sys.prefix)[name]
        current = _read(path)
        if name == "page_config" and isinstance(current.get("disabledExtensions"), list):
            current["disabledExtensions"] = {k: True for k in current["disabledExtensions"]}  # the older list form
        wanted = _merged(current, settings)
        if wanted != current or not path.is_file():
            atomic_write_json(path, wanted)
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=sys.prefix, help="environment to configure (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in install(args.prefix):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
