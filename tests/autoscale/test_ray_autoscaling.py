"""The policy driving a real Ray autoscaler: Ray's fake multi-node provider starts and stops real
raylet processes on this machine as the autoscaler asks, so nodes really join and leave.

``ray.cluster_utils.AutoscalingCluster`` would run ``ray stop --force`` (stopping every Ray on the
machine) and needs a file this Ray wheel lacks, so the head is started here the same way, with
its own temporary directory, port and token, and stopped by killing only its own processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import raycluster  # sets Ray's environment before Ray is imported
from tests.conftest import wait_for

pytestmark = pytest.mark.skipif(not raycluster.HAVE_RAY, reason="ray is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def autoscaling_cluster() -> Iterator[str]:
    """A head with no CPUs and two worker types the autoscaler may start: ``cpu`` (1 CPU) and
    ``gpu`` (1 CPU, 1 logical GPU), at most one of each, idle ones removed after 3 s."""
    import ray

    previous = ray.get_runtime_context().gcs_address if ray.is_initialized() else None
    if previous is not None:  # the conformance suite's cluster: leave it now, come back at the end
        ray.shutdown()
    tmp = Path(tempfile.mkdtemp(prefix="tsr-as-", dir="/tmp"))
    port = _free_port()
    config = {
        "cluster_name": "tessera-test", "max_workers": 2, "upscaling_speed": 1.0, "idle_timeout_minutes": 0.05,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": f"127.0.0.1:{port}"},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            "cpu": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 1},
            "gpu": {"resources": {"CPU": 1, "GPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 1},
        },
        "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "file_mounts": {},
        "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [],
        "rsync_filter": [], "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }
    cfg = tmp / "autoscaling.json"
    cfg.write_text(json.dumps(config))
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    ray_bin = str(Path(sys.executable).parent / "ray")
    subprocess.run([ray_bin, "start", "--head", f"--autoscaling-config={cfg}", f"--port={port}",
                    "--node-ip-address=127.0.0.1", "--num-cpus=0", f"--temp-dir={tmp}", "--include-dashboard=false",
                    "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=180)
    try:
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False, logging_level="WARNING")
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        raycluster.kill_matching(str(tmp))
        if previous is not None:
            ray.init(address=previous, log_to_driver=False, logging_level="WARNING")


def _alive(resource: str) -> int:
    import ray

    return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get(resource, 0) > 0)


def test_pending_gpu_demand_adds_a_gpu_node_and_idle_nodes_go_away(autoscaling_cluster: str) -> None:
    from tessera.autoscale.apply import RayCluster
    from tessera.autoscale.policy import AutoscaleConfig, Observation, PolicyState, Shape, decide
    from tessera.executors.ray import RayExecutor

    executor = RayExecutor(autoscaling_cluster)  # reuses this process's connection
    assert executor.capacity().gpus == () and _alive("GPU") == 0
    cfg = AutoscaleConfig(scale_in_after_s=0, min_workers=0, max_workers=4)
    sink = RayCluster()
    # One job waits for a GPU: below the depth threshold, but GPU demand scales out all the same.
    waiting = (Shape(1.0, gpus=1),)
    d, state = decide(Observation(time.time(), waiting, (), 0, 0, 0), PolicyState(), cfg)
    assert d.action == "scale_out"
    assert sink.apply(d) == "requested 1 bundles from Ray (1 GPUs)"
    wait_for(lambda: _alive("GPU") == 1, 240, "the autoscaler to start a GPU node")
    wait_for(lambda: len(executor.capacity().gpus) == 1, 60, "the executor to see the new GPU")
    assert _alive("CPU") == 1  # the GPU node only: no CPU node was asked for
    # Nothing waits, nothing runs: utilisation is 0, and scale-in withdraws the request.
    d, state = decide(Observation(time.time(), (), (), 1, 1, 0), state, cfg)
    d, state = decide(Observation(time.time() + 1, (), (), 1, 1, 0), state, cfg)
    assert d.action == "scale_in" and d.bundles == ()
    assert sink.apply(d).startswith("requested 0 bundles")
    wait_for(lambda: _alive("GPU") == 0, 240, "the idle GPU node to be removed")
    wait_for(lambda: executor.capacity().gpus == (), 60, "the executor to see the GPU gone")
