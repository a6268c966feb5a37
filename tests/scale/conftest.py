"""A real Ray cluster on this machine, started once per test session, and the CI profile's data to run it on."""
import os
from pathlib import Path

import pytest

# before ray is first imported: no usage statistics, and a cluster on this machine stays on 127.0.0.1
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from support.ray_nodes import NODE  # noqa: E402


@pytest.fixture(scope="session")
def ray_cluster():
    """Two nodes of one CPU each (``ray.cluster_utils.Cluster``: a head and a worker node, so a node can be removed
    mid-run), the test process its driver; shut down at the end of the session. Yields the cluster."""
    import ray
    from ray.cluster_utils import Cluster

    from aitranscribe.scale import executor

    cluster = Cluster(initialize_head=True, head_node_args=NODE)
    cluster.add_node(**NODE)
    ray.init(address=cluster.address, configure_logging=False, log_to_driver=False, namespace="aitranscribe")
    try:
        yield cluster
    finally:
        executor.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def ci_records():
    """The CI profile's stage records through 06 (its pipeline is run here unless an earlier test already did)."""
    from aitranscribe import pipeline
    from aitranscribe.core.paths import REPO_ROOT
    from aitranscribe.core.stage import load_stage

    if not (REPO_ROOT / "data" / "ci" / "stages" / "inference.json").is_file():
        pipeline.run_profile(str(REPO_ROOT / "params" / "ci.yaml"), None, "06")
    p = {"profile": "ci", "data_root": "data"}
    records = {k: load_stage(p, k) for k in ("audio_prep", "features", "text", "train", "inference")}
    assert Path(records["inference"]["dir"]).is_dir()
    return records
