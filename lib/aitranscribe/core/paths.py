"""Where things live: the repository root, the data root of a profile, the reports of a profile."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def resolve(path) -> Path:
    """A path as given, made absolute against the repository root when relative."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def profile_data_dir(params) -> Path:
    """``<data_root>/<profile>``: every stage of one profile writes below it; delete it to start over."""
    return resolve(params["data_root"]) / params["profile"]


def graph_cache_dir(params) -> Path:
    """``<data_root>/.graph-cache``: decoding graphs by the hash of their inputs, shared by the profiles under one
    data root (:func:`aitranscribe.decoding.graph.build_graph`); safe to delete."""
    return resolve(params["data_root"]) / ".graph-cache"


def profile_reports_dir(params) -> Path:
    """``<reports_dir>/<profile>``: executed notebooks, HTML and metrics.json of one profile."""
    return resolve(params["reports_dir"]) / params["profile"]
