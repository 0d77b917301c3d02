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
from tests.conformance import jobs
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
        # The executor learns where a lost task ran from Ray's state API, which hears of a task's node
        # from task events the node flushes about every second (later under load): once it knows, the
        # node is killed. (Killed before, the loss would count as a plain one: requeued on the
        # infrastructure budget, not the spot path. That is the documented fallback, not this test.)
        wait_for(lambda: _runs_on(spot.node_id), 120, "Ray's state API to place the attempt on the spot node")
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


def _runs_on(node_id: str) -> bool:
    """Whether Ray's state API reports a tessera attempt running on ``node_id``."""
    from ray.util.state import list_tasks

    try:
        tasks = list_tasks(filters=[("name", "=", "tessera_attempt"), ("state", "=", "RUNNING")], timeout=10)
    except Exception:  # noqa: BLE001 - the state API not ready yet: ask again
        return False
    return any(getattr(t, "node_id", None) == node_id for t in tasks)


def test_node_lost_mid_chunk_requeues_the_chunks_elements(ray_cluster: Any, ray_client: Client,
                                                          tmp_path: Path) -> None:
    """A coalesced array (4 elements per Ray task) runs on a worker node only (the head's CPUs are
    held by plain Ray tasks); the node is killed while a chunk is half done. The chunk's elements
    are requeued and every element succeeds exactly once, on the head."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray_cluster.add_node(num_cpus=1)
    wait_for(lambda: ray.cluster_resources().get("CPU", 0) >= 3, 120, "the worker node to join")

    @ray.remote(num_cpus=1)
    def hold(seconds: float) -> None:
        import time

        time.sleep(seconds)

    strategy = NodeAffinitySchedulingStrategy(ray_cluster.head_node.node_id, soft=False)
    blockers = [hold.options(scheduling_strategy=strategy).remote(600) for _ in range(2)]
    starts = tmp_path / "starts"
    starts.mkdir()
    try:
        h = ray_client.map_async(jobs.on_node, range(16), kwargs={"where": str(starts), "seconds": 0.5},
                                 placement={"coalesce": 4})
        # at most 3 elements run alone (one per CPU the controller sees); the 5th start on the node is
        # the second element of a chunk, with more than a second of that chunk left to run
        wait_for(lambda: sum(1 for f in starts.iterdir() if f.read_text() == node.node_id) >= 5, 120,
                 "a chunk to be half done on the worker node")
        ray_cluster.remove_node(node, allow_graceful=False)
        node = None
    finally:
        for b in blockers:
            ray.cancel(b, force=True)
        if node is not None:
            ray_cluster.remove_node(node)
    assert ray_client.array_results(h, timeout=180) == list(range(16))
    ids = [row[0] for row in ray_client.store.array_results(h.id)]
    states = {jid: [a.state for a in ray_client.store.attempts(jid)] for jid in ids}
    assert all(s.count("succeeded") == 1 for s in states.values())  # none lost, none committed twice
    requeued = [s for s in states.values() if len(s) > 1]
    assert requeued and all(set(s[:-1]) <= {"lost", "unstarted"} for s in requeued)
    assert sum(ray_client.store.job(jid).retries_used for jid in ids) == 0  # a lost node costs no retry


def test_an_element_cancelled_before_its_chunk_reaches_ray_never_runs(ray_cluster: Any, tmp_path: Path) -> None:
    """The Ray executor itself: three coalesced elements (chunks of 4) wait in a forming chunk until
    the next poll; one is cancelled meanwhile. It ends cancelled and the other two run."""
    import time

    import cloudpickle

    from tessera.executors.base import Launch
    from tessera.executors.ray import RayExecutor
    from tessera.models.states import Reason
    from tessera.scheduler.decide import Placement
    from tests.fixtures import square

    ex = RayExecutor(scope="chunk-test")
    payload = cloudpickle.dumps({"fn": square, "args": (), "kwargs": {}})
    for i in range(3):
        ex.launch(Launch(attempt_id=i + 1, job_id=100 + i, ref=f"1_{i}", kind="pickle",
                         placement=Placement(100 + i, 1.0, None, ()), array_payload=payload, array_id=1,
                         array_index=i + 2, env={"TESSERA_COALESCE": "4"}, stdout_path=str(tmp_path / f"{i}.out"),
                         stderr_path=str(tmp_path / f"{i}.err"), scratch_dir=str(tmp_path / f"s{i}")), queued=True)
    ex.kill(2, Reason.CANCELLED_BY_USER)
    out = {}
    deadline = time.monotonic() + 120
    while len(out) < 3 and time.monotonic() < deadline:
        out.update({o.attempt_id: o for o in ex.poll(0.5)[1]})
    ex.close(1.0)
    assert (out[2].status, out[2].reason) == ("cancelled", Reason.CANCELLED_BY_USER)
    assert [(out[a].status, out[a].result) for a in (1, 3)] == [("succeeded", b"4"), ("succeeded", b"16")]
