"""An executor per queue: one controller, queue ``gpu`` on the session's real Ray cluster and every
other queue on this machine (``queue_executors="gpu=ray"``). Jobs run where their queue says, each
executor's capacity is kept apart, and cancel, timeout and a lost Ray worker behave on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.client import Client
from tessera.errors import InfeasibleError
from tessera.models.states import JobState, Reason
from tests.conftest import wait_for

S = JobState
WHERE = "tests.conformance.jobs:where"


@pytest.fixture
def routed(ray_cluster: Any, home: Path) -> Iterator[Client]:
    with Client(home=str(home), executor="local", cpus=1, gpus=0, queue_executors="gpu=ray") as c:
        c.store.create_queue("gpu")
        assert c._controller is not None and c._controller.executor.name == "routed"
        yield c


def _executors(c: Client) -> dict[str, dict[str, Any]]:
    assert c._controller is not None
    return {e["name"]: e for e in c._controller.status()["executors"]}  # type: ignore[attr-defined]


def test_each_queue_runs_on_its_executor(routed: Client) -> None:
    ex = _executors(routed)
    assert ex["local"]["queues"] == ["*"] and ex["ray"]["queues"] == ["gpu"]
    assert ex["local"]["total"]["cpus"] == 1 and ex["ray"]["total"]["cpus"] >= 2  # kept apart, not summed
    on_ray = [routed.submit_spec({"function": WHERE, "queue": "gpu"}) for _ in range(3)]
    here = [routed.submit_spec({"function": WHERE}) for _ in range(3)]
    assert [h.result(120) for h in on_ray] == ["ray"] * 3
    assert [h.result(120) for h in here] == ["local"] * 3
    assert all(routed.store.attempts(h.id)[-1].usage.get("node") for h in on_ray)  # a Ray node id
    assert not any(routed.store.attempts(h.id)[-1].usage.get("node") for h in here)
    # each attempt names the executor that ran it, not the router
    assert {routed.store.attempts(h.id)[-1].executor for h in on_ray} == {"ray"}
    assert {routed.store.attempts(h.id)[-1].executor for h in here} == {"local"}
    with pytest.raises(InfeasibleError, match="executor of queue 'default'"):  # local has no GPU: refused
        routed.submit_spec({"command": ["true"], "gpus": 1})
    gpu = routed.submit_spec({"command": ["sh", "-c", "echo $CUDA_VISIBLE_DEVICES"], "queue": "gpu", "gpus": 1})
    assert gpu.wait(120).state is S.SUCCEEDED and gpu.logs().strip() in ("0", "1")  # Ray's own GPU ids


def test_capacity_is_packed_per_executor(routed: Client) -> None:
    """The local executor has 1 CPU: of two 1-CPU local commands one runs and one waits, while both
    1-CPU commands of the Ray queue run at once on the cluster's 2 CPUs; each lane's free resources show it."""
    local = [routed.submit_spec({"command": ["sleep", "3"], "cpus": 1}) for _ in range(2)]
    ray = [routed.submit_spec({"command": ["sleep", "3"], "cpus": 1, "queue": "gpu"}) for _ in range(2)]

    def both_ray_running() -> bool:
        return all(h.job.state is S.RUNNING for h in ray)

    wait_for(both_ray_running, 120, "both Ray jobs to run")
    states = sorted(h.job.state.value for h in local)
    ex = _executors(routed)
    assert states == ["runnable", "running"], states
    assert ex["ray"]["free"]["cpus"] == ex["ray"]["total"]["cpus"] - 2 and ex["local"]["free"]["cpus"] == 0
    assert ex["ray"]["running"] == 2 and ex["local"]["running"] == 1
    assert all(h.wait(120).state is S.SUCCEEDED for h in [*local, *ray])


@pytest.mark.parametrize("queue", ["default", "gpu"])
def test_cancel_and_timeout_on_both(routed: Client, queue: str, tmp_path: Path) -> None:
    timed = routed.submit_spec({"command": ["sleep", "120"], "timeout_s": 1, "queue": queue})
    job = timed.wait(90)
    assert (job.state, job.reason) == (S.TIMED_OUT, Reason.TIMEOUT)
    pidfile = tmp_path / "pid"
    h = routed.submit_spec({"function": "tests.fixtures:write_pid_and_sleep", "args": [str(pidfile)], "queue": queue})
    wait_for(pidfile.exists, 60, "the job to start")
    h.cancel()
    job = h.wait(60)
    assert (job.state, job.reason) == (S.CANCELLED, Reason.CANCELLED_BY_USER)
    assert routed.submit_spec({"function": WHERE, "queue": queue}).result(60) == ("ray" if queue == "gpu" else "local")


def test_lost_ray_worker_is_requeued(routed: Client) -> None:
    h = routed.submit_spec({"function": "tests.conformance.jobs:count_with_checkpoint", "args": [5, 3], "queue": "gpu"})
    assert h.result(120) == {"step": 5, "resumed_from": 3, "attempt": 2}
    first = routed.store.attempts(h.id)[0]
    assert (first.state, first.reason) == ("lost", Reason.WORKER_LOST.value)
    assert h.job.infra_retries_used == 1


def _tessera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli.main", *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=180)


def test_up_with_a_queue_on_ray(ray_cluster: Any, home: Path) -> None:
    for bad, says in ((["--queue-executor", "gpu=nope"], "unknown executor 'nope'"),
                      (["--queue-executor", "gpu"], "is not QUEUE=EXECUTOR"),
                      (["--queue-executor", "GPU=ray"], "not a queue name")):
        got = _tessera("up", "--executor", "local", *bad)
        assert got.returncode == 2 and says in got.stderr and "To fix" in got.stderr, got.stderr
    assert "not running" in _tessera("status").stdout.lower()  # nothing was started
    assert _tessera("queue", "create", "gpu").returncode == 0
    up = _tessera("up", "--executor", "local", "--queue-executor", "gpu=ray", "--ray-address", ray_cluster.address)
    assert up.returncode == 0, up.stderr
    try:
        ids = {}
        for queue in ("default", "gpu"):
            sub = _tessera("submit", "--json", "--queue", queue, "--", "sh", "-c", "echo $TESSERA_NODE")
            assert sub.returncode == 0, sub.stderr
            ids[queue] = json.loads(sub.stdout)["id"]
        refused = _tessera("submit", "--gpus", "1", "--", "true")  # the default queue runs here, with no GPU
        assert refused.returncode == 2 and "executor of queue 'default'" in refused.stderr, refused.stderr
        for job in ids.values():
            assert _tessera("wait", job, "--timeout-s", "120").returncode == 0
        assert _tessera("logs", ids["default"]).stdout == "\n"  # only Ray tasks set TESSERA_NODE
        assert _tessera("logs", ids["gpu"]).stdout.strip()
        assert "queues gpu" in _tessera("status").stdout
        status = json.loads(_tessera("status", "--json").stdout)
        ex = {e["name"]: e for e in status["executors"]}
        assert ex["local"]["queues"] == ["*"] and ex["ray"]["queues"] == ["gpu"]
        assert ex["ray"]["total"]["gpus"] == 2 and {"free", "total"} <= ex["local"].keys()
    finally:
        assert _tessera("down").returncode == 0
