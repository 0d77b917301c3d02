"""The controller and the local executor with real processes, through the SDK's embedded controller."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from tessera.client import Client, JobHandle, RemoteTraceback
from tessera.errors import InfeasibleError, JobFailedError
from tessera.models.states import TRANSITIONS, JobState, Reason
from tessera.store import Store
from tessera.store import schema as t
from tests import fixtures
from tests.conftest import wait_for

PY = sys.executable
S = JobState


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(home=str(home), cpus=2) as c:
        assert c.embedded
        yield c


def result_rows(store: Store, job_id: int) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.results).where(t.results.c.job_id == job_id)).scalar_one()


def legal_history(store: Store, job_id: int) -> list[str]:
    evs = store.events(job_id)
    for a, b in zip(evs, evs[1:], strict=False):
        assert b.src == a.dst and S(b.dst) in TRANSITIONS[S(b.src)], f"job {job_id}: {a} then {b}"
    return [e.dst for e in evs]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def cmd(c: Client, *argv: str, **kw: object) -> JobHandle:
    return c.submit_spec({"command": list(argv), **kw})


# ---------------------------------------------------------------- commands and functions


def test_command_exit_codes(client: Client) -> None:
    ok = cmd(client, "sh", "-c", "echo out; echo err >&2")
    bad = cmd(client, "sh", "-c", "exit 3")
    sig = cmd(client, "sh", "-c", "kill -KILL $$")
    missing = cmd(client, "/nonexistent/program")
    jobs = client.wait([ok, bad, sig, missing], timeout=60)
    assert [j.state for j in jobs] == [S.SUCCEEDED, S.FAILED, S.FAILED, S.FAILED]
    assert jobs[0].exit_code == 0 and ok.logs() == "out\n" and ok.logs("stderr") == "err\n"
    assert jobs[1].exit_code == 3 and jobs[1].reason is Reason.EXIT_CODE
    assert jobs[2].reason is Reason.SIGNAL and jobs[2].exit_code == 128 + signal.SIGKILL
    assert jobs[3].reason is Reason.LAUNCH_FAILED
    for j in jobs:
        assert result_rows(client.store, j.id) == 1
        assert legal_history(client.store, j.id)[-1] == j.state.value
    assert legal_history(client.store, ok.id) == ["submitted", "pending", "runnable", "starting", "running", "succeeded"]
    with pytest.raises(JobFailedError, match="exit_code"):
        bad.result()


def test_command_environment_and_cwd(client: Client, tmp_path: Path) -> None:
    h = cmd(client, "sh", "-c", 'echo "$GREETING $TESSERA_JOB_ID $(pwd)"', env={"GREETING": "hi"}, cwd=str(tmp_path))
    assert h.wait(60).state is S.SUCCEEDED
    assert h.logs() == f"hi {h.id} {tmp_path}\n"


def test_function_job_by_name(client: Client) -> None:
    h = client.submit_spec({"function": "tests.fixtures:add", "args": [2], "kwargs": {"b": 5}})
    assert h.result(60) == 7


def test_sdk_function_result(client: Client) -> None:
    assert client.submit(fixtures.square, 12).result(60) == 144
    assert client.submit(lambda: {"a": [1, 2]}).result(60) == {"a": [1, 2]}
    assert client.submit(lambda: {1, 2}).result(60) == {1, 2}  # not JSON: travels pickled


def test_exception_is_raised_in_the_caller(client: Client) -> None:
    h = client.submit(fixtures.boom, "bad input")
    with pytest.raises(ValueError, match="bad input") as err:
        h.result(60)
    cause = err.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "ValueError: bad input" in cause.tb and "fixtures.py" in cause.tb
    job = h.job
    assert job.state is S.FAILED and job.reason is Reason.EXCEPTION


def test_map_keeps_order(client: Client) -> None:
    items = list(range(30))
    assert client.map(fixtures.square, items, timeout=120) == [i * i for i in items]


def test_map_with_a_failing_item_raises(client: Client) -> None:
    def f(x: int) -> int:
        if x == 3:
            raise KeyError(x)
        return x

    with pytest.raises(KeyError):
        client.map(f, range(5), timeout=120)


def test_array_cap_is_never_exceeded(client: Client) -> None:
    h = cmd(client, "sleep", "0.2", array="0-7%2")
    parent = h.wait(120)
    assert parent.state is S.SUCCEEDED and parent.counts["done"] == 8
    elements = client.store.jobs(array_id=h.id)
    assert sorted(e.array_index for e in elements) == list(range(8))
    spans = []
    for e in elements:
        (a,) = client.store.attempts(e.id)
        assert a.ended_at is not None
        spans.append((a.started_at, a.ended_at))
    # at no instant do more than 2 attempts hold the array (ends sort before starts at equal times)
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    level = peak = 0
    for _, d in edges:
        level += d
        peak = max(peak, level)
    assert peak <= 2
    for e in elements:
        assert e.state is S.SUCCEEDED and result_rows(client.store, e.id) == 1


def test_array_elements_see_their_index(client: Client) -> None:
    h = cmd(client, "sh", "-c", "echo $TESSERA_ARRAY_INDEX", array="3,5,9")
    assert h.wait(60).state is S.SUCCEEDED
    for e in client.store.jobs(array_id=h.id):
        assert JobHandle(client, e.id, e.ref).logs() == f"{e.array_index}\n"


# ---------------------------------------------------------------- dependencies and retries


def test_dependency_chain(client: Client) -> None:
    ok = cmd(client, "true")
    bad = cmd(client, "false")
    after_ok = cmd(client, "true", dependency=f"afterok:{ok.id}")
    after_any = cmd(client, "true", dependency=f"afterany:{bad.id}")
    after_notok = cmd(client, "true", dependency=f"afternotok:{bad.id}")
    never_ok = cmd(client, "true", dependency=f"afterok:{bad.id}")
    never_notok = cmd(client, "true", dependency=f"afternotok:{ok.id}")
    chained = cmd(client, "true", dependency=f"afterok:{never_ok.id}")
    jobs = client.wait([ok, bad, after_ok, after_any, after_notok, never_ok, never_notok, chained], timeout=120)
    got = {j.id: j for j in jobs}
    for h in (ok, after_ok, after_any, after_notok):
        assert got[h.id].state is S.SUCCEEDED
    for h in (never_ok, never_notok, chained):
        j = got[h.id]
        assert j.state is S.CANCELLED and j.reason is Reason.DEPENDENCY_NEVER, j
        assert client.store.attempts(j.id) == []
        assert legal_history(client.store, j.id) == ["submitted", "pending", "cancelled"]
    # a dependent never starts before what it depends on has ended
    assert client.store.attempts(after_ok.id)[0].started_at >= got[ok.id].ended_at  # type: ignore[operator]


def test_dependency_on_a_running_job_waits(client: Client, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    first = cmd(client, PY, "-c", f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)")
    second = cmd(client, "true", dependency=f"afterok:{first.id}")
    wait_for(lambda: first.state is S.RUNNING, what="the first job to run")
    assert second.job.state is S.PENDING and second.job.reason is Reason.DEPENDENCY
    gate.write_text("go")
    assert second.wait(60).state is S.SUCCEEDED


def test_retry_then_success(client: Client, tmp_path: Path) -> None:
    h = client.submit(fixtures.fail_once_then_succeed, str(tmp_path), retries=1)
    assert h.result(60) == "ok"
    job = h.job
    assert job.attempts == 2 and job.retries_used == 1 and job.state is S.SUCCEEDED
    atts = client.store.attempts(h.id)
    assert [a.state for a in atts] == ["failed", "succeeded"] and [a.number for a in atts] == [1, 2]
    assert result_rows(client.store, h.id) == 1
    assert legal_history(client.store, h.id).count("starting") == 2


def test_retries_exhausted(client: Client) -> None:
    h = cmd(client, "sh", "-c", "exit 7", retry={"attempts": 3})
    job = h.wait(60)
    assert job.state is S.FAILED and job.attempts == 3 and job.exit_code == 7
    assert result_rows(client.store, h.id) == 1


def test_retry_rule_exit_stops_retrying(client: Client) -> None:
    h = cmd(client, "sh", "-c", "exit 2", retry={"attempts": 5, "rules": [
        {"action": "retry", "on_exit_code": "1"}, {"action": "exit", "on_exit_code": "*"}]})
    job = h.wait(60)
    assert job.state is S.FAILED and job.attempts == 1


# ---------------------------------------------------------------- timeouts, memory, cancel


@pytest.mark.parametrize("kind", ["command", "function"])
def test_timeout_kills_child_and_setsid_grandchild(client: Client, tmp_path: Path, kind: str) -> None:
    pid_file = tmp_path / "grandchild.pid"
    if kind == "command":
        h = cmd(client, PY, "-m", "tests.fixtures", "setsid", str(pid_file), timeout_s=4)
    else:
        h = client.submit(fixtures.spawn_setsid_grandchild, str(pid_file), timeout_s=4)
    job = h.wait(90)
    assert job.state is S.TIMED_OUT and job.reason is Reason.TIMEOUT
    assert pid_file.exists(), "the grandchild did not start before the timeout"
    pid = int(pid_file.read_text())
    wait_for(lambda: gone(pid), 30, f"setsid grandchild {pid} to be killed")
    assert result_rows(client.store, h.id) == 1


def test_memory_limit_command(client: Client) -> None:
    h = cmd(client, PY, "-m", "tests.fixtures", "allocate", "1000", "0", resources={"memory_mb": 300})
    job = h.wait(60)
    assert job.state is S.FAILED and job.reason is Reason.OOM


def test_memory_limit_function_spares_its_neighbour(client: Client) -> None:
    hog = client.submit(fixtures.allocate, 800, 30, memory_mb=300)
    neighbour = client.submit(fixtures.sleep_for, 1.0)
    jobs = client.wait([hog, neighbour], timeout=90)
    assert jobs[0].state is S.FAILED and jobs[0].reason is Reason.OOM
    assert jobs[1].state is S.SUCCEEDED
    assert neighbour.result() == 1.0
    # the worker that ran the hog is replaced: functions still run
    assert client.submit(fixtures.square, 3).result(60) == 9


def test_cancel_running_and_waiting(home: Path, tmp_path: Path) -> None:
    with Client(home=str(home), cpus=1) as c:
        pid_file = tmp_path / "pid"
        running = cmd(c, PY, "-m", "tests.fixtures", "pid-sleep", str(pid_file), "300")
        waiting = cmd(c, "true")
        held = cmd(c, "true", dependency=f"afterok:{running.id}")
        wait_for(lambda: pid_file.exists() and running.state is S.RUNNING, what="the job to run")
        pid = int(pid_file.read_text())
        wait_for(lambda: waiting.job.reason is Reason.RESOURCES, what="the waiting job's reason")  # written lazily
        assert waiting.job.state is S.RUNNABLE
        c.cancel([running, waiting])
        jobs = c.wait([running, waiting, held], timeout=60)
        assert [j.state for j in jobs] == [S.CANCELLED] * 3
        assert jobs[0].reason is Reason.CANCELLED_BY_USER and jobs[1].reason is Reason.CANCELLED_BY_USER
        assert jobs[2].reason is Reason.DEPENDENCY_NEVER
        wait_for(lambda: gone(pid), 30, "the cancelled job's process to end")
        assert c.store.attempts(waiting.id) == []
        for j in jobs:
            assert result_rows(c.store, j.id) <= 1
        assert legal_history(c.store, running.id)[-2:] == ["running", "cancelled"]


def test_cancel_a_running_function(client: Client) -> None:
    h = client.submit(fixtures.sleep_for, 300)
    wait_for(lambda: h.state is S.RUNNING, what="the function to run")
    h.cancel()
    assert h.wait(60).state is S.CANCELLED
    assert client.submit(fixtures.square, 4).result(60) == 16


def test_cancel_an_array(client: Client) -> None:
    h = cmd(client, "sleep", "300", array="0-5%1")
    wait_for(lambda: client.store.element_counts(h.id).get("running"), what="an element to run")
    h.cancel()
    parent = h.wait(60)
    assert parent.state is S.CANCELLED
    assert client.store.element_counts(h.id) == {"cancelled": 6}


# ---------------------------------------------------------------- GPUs


def test_logical_gpus(home: Path) -> None:
    with Client(home=str(home), cpus=4, gpus=2) as c:
        code = "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(0.5)"
        hs = [cmd(c, PY, "-c", code, resources={"gpus": g}) for g in (1, 1, 2, 0)]
        hs.append(c.submit(fixtures.env_value, "CUDA_VISIBLE_DEVICES", gpus=1))
        jobs = c.wait(hs, timeout=120)
        assert all(j.state is S.SUCCEEDED for j in jobs)
        spans = []
        for h, g in zip(hs[:4], (1, 1, 2, 0), strict=True):
            (a,) = c.store.attempts(h.id)
            assert len(a.placement["gpus"]) == g
            assert h.logs().strip() == ",".join(map(str, a.placement["gpus"]))
            spans.append((a.started_at, a.ended_at, set(a.placement["gpus"])))
        (a,) = c.store.attempts(hs[4].id)
        assert hs[4].result() == ",".join(map(str, a.placement["gpus"])) and len(a.placement["gpus"]) == 1
        for i, (s1, e1, g1) in enumerate(spans):
            for s2, e2, g2 in spans[i + 1:]:
                if s1 < e2 and s2 < e1:
                    assert not (g1 & g2), "two overlapping attempts share a GPU"
        before = c.store.max_job_id()
        with pytest.raises(InfeasibleError, match="3 GPUs") as err:
            cmd(c, "true", resources={"gpus": 3})
        assert "To fix:" in str(err.value)
        assert c.store.max_job_id() == before


# ---------------------------------------------------------------- losing a worker


def test_worker_killed_mid_job_is_requeued_and_committed_once(client: Client, tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    h = client.submit(fixtures.write_pid_and_sleep, str(pid_file), 1.0)
    wait_for(pid_file.exists, what="the job to start")
    first_pid = int(pid_file.read_text())
    pid_file.unlink()
    os.kill(first_pid, signal.SIGKILL)
    job = h.wait(90)
    assert job.state is S.SUCCEEDED
    assert job.attempts == 2 and job.infra_retries_used == 1 and job.retries_used == 0
    atts = client.store.attempts(h.id)
    assert atts[0].state == "lost" and atts[0].reason == Reason.WORKER_LOST.value
    assert atts[1].state == "succeeded"
    assert int(pid_file.read_text()) != first_pid
    assert result_rows(client.store, h.id) == 1
    assert "runnable" in legal_history(client.store, h.id)[4:]


def test_closing_the_client_requeues_running_work(home: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with Client(home=str(home), cpus=1) as c:
        h = cmd(c, PY, "-m", "tests.fixtures", "pid-sleep", str(pid_file), "300")
        wait_for(pid_file.exists, what="the job to run")
        pid = int(pid_file.read_text())
    store = Store(f"sqlite:///{home / 'tessera.db'}")
    try:
        job = store.job(h.id)
        assert job.state is S.RUNNABLE and job.reason is Reason.REQUEUED
        assert job.infra_retries_used == 1
        wait_for(lambda: gone(pid), 30, "the job's process to be killed")
    finally:
        store.close()
