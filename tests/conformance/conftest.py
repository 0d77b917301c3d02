"""One real local Ray cluster per test session (loopback, token authentication), and a client per
test on either executor: the same tests run on ``local`` and on ``ray``.

The cluster is ``ray.cluster_utils.Cluster``: a real GCS and raylet started as processes of this
session on 127.0.0.1, which ``shutdown`` stops (and only those). Ray resolves 127.0.0.1 to the
machine's address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; ``tests.raycluster`` sets that
and the token before Ray is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.client import Client
from tests import raycluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A head node with 2 CPUs and 2 logical GPUs; yields the ``Cluster`` (its ``address``)."""
    if not raycluster.HAVE_RAY:
        pytest.skip("ray is not installed")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "num_gpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": True,
        "dashboard_port": None})
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return str(request.param)


@pytest.fixture
def client(executor: str, home: Path) -> Iterator[Client]:
    """An embedded client on the executor under test. Local declares 2 logical GPUs; the Ray
    cluster has 2 logical GPUs of its own (the client reads its capacity from Ray)."""
    opts: dict[str, Any] = {"cpus": 2, "gpus": 2} if executor == "local" else {}
    with Client(home=str(home), executor=executor, **opts) as c:
        assert c.embedded and c._controller is not None and c._controller.executor.name == executor
        yield c
