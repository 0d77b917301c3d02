"""Ray only: a spot node lost mid-run. Its attempt is preempted (the spot path: requeued at no cost
to any retry budget) and resumes from its checkpoint on a node that is still there. The spot node
is a real raylet added to the session's cluster, then killed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tessera.client import Client
from tessera.models.states import JobState
from tests.conftest import wait_for


@pytest.fixture
def ray_client(ray_cluster: Any, home: Path) -> Any:
    with Client(home=str(home), executor="ray") as c:
        yield c


def test_spot_node_lost_mid_run_requeues_and_resumes(ray_cluster: Any, ray_client: Client, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tessera.executors.ray")
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from tessera.executors.ray import is_spot

    spot = ray_cluster.add_node(num_cpus=1, resources={"tessera-spot": 1})
    try:
        wait_for(lambda: any(n["Alive"] and is_spot(n) for n in ray.nodes()), 120, "the spot node to join")
        # Fill the head's two CPUs with plain Ray tasks, so that the job can only start on the spot node.
        head = ray_cluster.head_node.node_id

        @ray.remote(num_cpus=1)
        def hold(seconds: float) -> None:
            import time

            time.sleep(seconds)

        strategy = NodeAffinitySchedulingStrategy(head, soft=False)
        blockers = [hold.options(scheduling_strategy=strategy).remote(600) for _ in range(2)]
        h = ray_client.submit_spec({"function": "tests.conformance.jobs:count_slowly",
                                    "args": [str(tmp_path / "progress"), 6, 0.5]})
        ckpt = tmp_path / "progress"
        wait_for(lambda: ckpt.exists() and json.loads(ckpt.read_text())["step"] >= 2, 120, "two checkpoints")
        ray_cluster.remove_node(spot, allow_graceful=False)
        spot = None
        wait_for(lambda: h.job.attempts >= 2 or h.job.state.value in ("succeeded", "failed"), 120,
                 "the lost attempt to be requeued")
        for b in blockers:
            ray.cancel(b, force=True)
        got = h.result(180)
        assert got["resumed_from"] >= 2 and got["step"] == 6 and got["attempt"] == 2
        job = h.job
        assert (job.state, job.retries_used, job.infra_retries_used) == (JobState.SUCCEEDED, 0, 0)
        first = ray_client.store.attempts(h.id)[0]
        assert (first.state, first.reason) == ("preempted", "preempted")
        assert "preempted" in [e.dst for e in ray_client.store.events(h.id)]
        # The executor found the node through Ray's state API, and saw its spot marker.
        assert f"attempt {first.id} of job {h.id} lost with its spot node" in caplog.text
    finally:
        if spot is not None:
            ray_cluster.remove_node(spot)
