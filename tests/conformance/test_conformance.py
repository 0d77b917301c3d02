"""The same jobs on every executor (``local`` and ``ray``): each test runs once per executor and
expects the same states, results, logs, attempts and reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tessera.client import Client, JobHandle
from tessera.errors import InfeasibleError
from tessera.models.states import JobState, Reason
from tests.conformance import jobs
from tests.conftest import wait_for

PY = sys.executable
S = JobState


def cmd(c: Client, *argv: str, **kw: object) -> JobHandle:
    return c.submit_spec({"command": list(argv), **kw})


def log(c: Client, h: JobHandle, stream: str = "stdout") -> str:
    return h.logs(stream)


def test_commands_exit_codes_and_logs(client: Client) -> None:
    ok = cmd(client, "sh", "-c", "echo out-$TESSERA_JOB_ID; echo err >&2")
    bad = cmd(client, "sh", "-c", "exit 3")
    missing = cmd(client, "/nonexistent/program")
    assert ok.wait(60).state is S.SUCCEEDED
    assert log(client, ok) == f"out-{ok.id}\n" and log(client, ok, "stderr") == "err\n"
    b = bad.wait(60)
    assert (b.state, b.exit_code, b.reason) == (S.FAILED, 3, Reason.EXIT_CODE)
    m = missing.wait(60)
    assert m.state is S.FAILED and m.reason in (Reason.LAUNCH_FAILED, Reason.EXIT_CODE)


def test_functions_results_and_exceptions(client: Client) -> None:
    assert client.submit_spec({"function": "tests.fixtures:square", "args": [7]}).result(60) == 49
    assert client.submit(lambda a, b: {"sum": a + b}, 2, 3).result(60) == {"sum": 5}
    with pytest.raises(ValueError, match="nope"):
        client.submit_spec({"function": "tests.fixtures:boom", "args": ["nope"]}).result(60)
    printed = client.submit(lambda: print("hello from a job"))
    printed.result(60)
    assert log(client, printed) == "hello from a job\n"
    env = client.submit_spec({"function": "tests.conformance.jobs:attempt_env"})
    got = env.result(60)
    assert got["TESSERA_JOB_ID"] == str(env.id) and got["TESSERA_ATTEMPT_NUMBER"] == "1"


def test_arrays(client: Client) -> None:
    assert client.map(lambda x: x * x, range(8), timeout=120) == [x * x for x in range(8)]
    arr = client.submit_spec({"command": ["sh", "-c", "echo $TESSERA_ARRAY_INDEX"], "array": "0-3%2"})
    job = arr.wait(120)
    assert job.state is S.SUCCEEDED
    for i in range(4):
        el = client.store.job(f"{arr.id}_{i}")
        assert el.state is S.SUCCEEDED
        assert Path(client.store.attempts(el.id)[-1].stdout_path).read_text() == f"{i}\n"


def test_dependencies(client: Client) -> None:
    first = cmd(client, "sh", "-c", "exit 1")
    after_ok = cmd(client, "true", dependency=f"afterok:{first.id}")
    after_not_ok = cmd(client, "true", dependency=f"afternotok:{first.id}")
    assert first.wait(60).state is S.FAILED
    a = after_ok.wait(60)
    assert (a.state, a.reason) == (S.CANCELLED, Reason.DEPENDENCY_NEVER)
    assert after_not_ok.wait(60).state is S.SUCCEEDED


def test_retries(client: Client, tmp_path: Path) -> None:
    h = client.submit_spec({"function": "tests.fixtures:fail_once_then_succeed", "args": [str(tmp_path)],
                            "retries": 1})
    assert h.result(60) == "ok"
    job = h.job
    assert (job.attempts, job.retries_used) == (2, 1)
    assert [a.state for a in client.store.attempts(h.id)] == ["failed", "succeeded"]


def test_timeouts(client: Client) -> None:
    py = client.submit_spec({"function": "tests.fixtures:sleep_for", "args": [120], "timeout_s": 1})
    sh = cmd(client, "sleep", "120", timeout_s=1)
    for h in (py, sh):
        job = h.wait(90)
        assert (job.state, job.reason) == (S.TIMED_OUT, Reason.TIMEOUT)
    # the slots are free again: a short job runs after them
    assert client.submit_spec({"function": "tests.fixtures:square", "args": [3]}).result(60) == 9


def test_cancel_running(client: Client, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    h = client.submit_spec({"function": "tests.fixtures:write_pid_and_sleep", "args": [str(pidfile)]})
    wait_for(pidfile.exists, 60, "the job to start")
    h.cancel()
    job = h.wait(60)
    assert (job.state, job.reason) == (S.CANCELLED, Reason.CANCELLED_BY_USER)


def test_logical_gpus(client: Client) -> None:
    """Two one-GPU jobs at once get one distinct GPU each; a two-GPU job gets both."""
    ones = [client.submit_spec({"function": "tests.conformance.jobs:gpu_ids", "args": [1.0], "gpus": 1})
            for _ in range(2)]
    got = [h.result(60) for h in ones]
    assert all(len(g) == 1 for g in got) and {g[0] for g in got} == {"0", "1"}
    both = client.submit_spec({"function": "tests.conformance.jobs:gpu_ids", "gpus": 2})
    assert sorted(both.result(60)) == ["0", "1"]
    none = client.submit_spec({"function": "tests.conformance.jobs:gpu_ids"})
    assert none.result(60) == []


def test_lost_worker_resumes_from_checkpoint(client: Client) -> None:
    """The first attempt's process dies at step 3 of 5: the attempt is lost, requeued on the
    infrastructure budget, and the second attempt resumes from the checkpoint it left
    (``tessera.context().checkpoint``/``restore``)."""
    h = client.submit_spec({"function": "tests.conformance.jobs:count_with_checkpoint", "args": [5, 3]})
    assert h.result(120) == {"step": 5, "resumed_from": 3, "attempt": 2}
    job = h.job
    assert (job.attempts, job.retries_used, job.infra_retries_used) == (2, 0, 1)
    first = client.store.attempts(h.id)[0]
    assert (first.state, first.reason) == ("lost", Reason.WORKER_LOST.value)
    # the job succeeded: its checkpoints are dropped (the worker reports the folder it saw)
    assert not (client.settings.home / "checkpoints" / str(h.id)).exists()


def test_infeasible_job_is_refused(client: Client) -> None:
    with pytest.raises(InfeasibleError, match="asks for 4096 CPUs"):
        client.submit_spec({"command": ["true"], "cpus": 4096})


def test_attempt_environment_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a job does to os.environ does not leak into the next job on the same worker process."""
    import os

    from tessera.executors.worker import _environ_apply, _environ_snapshot

    monkeypatch.setenv("TESSERA_TEST_KEEP", "1")
    monkeypatch.setenv("TESSERA_TEST_CHANGED", "before")
    saved = _environ_snapshot()
    os.environ["TESSERA_TEST_ADDED"] = "x"
    os.environ["TESSERA_TEST_CHANGED"] = "after"
    del os.environ["TESSERA_TEST_KEEP"]
    _environ_apply(saved)
    assert _environ_snapshot() == saved


def test_coalesced_array_keeps_each_elements_attempt_log_result_and_retry(client: Client, executor: str,
                                                                          tmp_path: Path) -> None:
    """``--coalesce 8``: elements run several per worker round trip (on Ray: per Ray task), and each
    keeps its own attempt, environment, log, result and retry budget."""
    h = client.map_async(jobs.element, range(64), kwargs={"marker_dir": str(tmp_path)}, retries=1,
                         placement={"coalesce": 8})
    got = client.array_results(h, timeout=180)
    assert [g["i"] for g in got] == list(range(64)) and {g["chunk"] for g in got} == {"8"}
    assert len({g["attempt"] for g in got}) == 64  # one attempt each
    if executor == "ray":  # elements really shared Ray tasks (64 tasks without coalescing)
        assert len({g["task"] for g in got}) <= 64 // 2
    five = client.store.job(f"{h.id}_5")
    assert [a.state for a in client.store.attempts(five.id)] == ["failed", "succeeded"]
    assert five.retries_used == 1
    for i in (0, 5, 37, 63):
        el = client.store.job(f"{h.id}_{i}")
        assert JobHandle(client, el.id, el.ref).logs() == f"element {i}\n"
        if i != 5:
            assert el.retries_used == 0 and [a.state for a in client.store.attempts(el.id)] == ["succeeded"]


def test_coalesced_array_loses_no_element_when_its_worker_dies_mid_chunk(client: Client, tmp_path: Path) -> None:
    """Element 21 kills its own worker process (local: the warm worker; Ray: the Ray worker running
    its chunk) on its first attempt: it and its chunk's unfinished elements are requeued (the one
    holding the slot as lost, on the infrastructure budget; the others unstarted, at no cost), and
    every element succeeds exactly once, charging no retry but element 5's own failure."""
    h = client.map_async(jobs.element, range(48), kwargs={"marker_dir": str(tmp_path), "die_at": 21}, retries=1,
                         placement={"coalesce": 8})
    got = client.array_results(h, timeout=180)
    assert [g["i"] for g in got] == list(range(48))
    ids = [row[0] for row in client.store.array_results(h.id)]
    attempts = {jid: client.store.attempts(jid) for jid in ids}
    assert all([a.state for a in a_s].count("succeeded") == 1 for a_s in attempts.values())  # committed once
    died = client.store.job(f"{h.id}_21")
    assert died.state is S.SUCCEEDED and attempts[died.id][0].state in ("lost", "unstarted")
    assert sum(client.store.job(jid).retries_used for jid in ids) == 1  # element 5's failure only


def test_cancel_one_element_of_a_coalesced_array(client: Client, tmp_path: Path) -> None:
    """Cancelling one element of a running coalesced array cancels that element only."""
    h = client.map_async(jobs.element, range(300), kwargs={"marker_dir": str(tmp_path), "seconds": 0.01},
                         retries=1, placement={"coalesce": 8})
    wait_for(lambda: client.store.job(h.id).counts.get("done", 0) >= 10, 120, "some elements to succeed")
    last = client.store.job(f"{h.id}_299")
    JobHandle(client, last.id, last.ref).cancel()
    wait_for(lambda: client.store.job(h.id).state.terminal, 180, "the array to end")
    states = {row[0]: row[2] for row in client.store.array_results(h.id)}
    assert states.pop(last.id) == "cancelled"
    assert set(states.values()) == {"succeeded"} and len(states) == 299
    assert all([a.state for a in client.store.attempts(jid)].count("succeeded") == 1 for jid in states)


def test_timeout_of_one_element_of_a_coalesced_array(client: Client, tmp_path: Path) -> None:
    """Element 6 of a coalesced array runs past its timeout: it alone times out (Ray runs elements
    with a timeout one per task; the local worker holding it is killed and its queue requeued)."""
    h = client.map_async(jobs.element, range(12), kwargs={"marker_dir": str(tmp_path), "die_at": -1,
                                                          "seconds": 0.0, "slow_at": 6},
                         retries=1, timeout_s=3, placement={"coalesce": 4})
    wait_for(lambda: client.store.job(h.id).state.terminal, 180, "the array to end")
    states = {row[1]: row[2] for row in client.store.array_results(h.id)}
    assert states.pop(6) == "timed_out"
    assert set(states.values()) == {"succeeded"}
    slow = client.store.job(f"{h.id}_6")
    assert (slow.reason, slow.retries_used) == (Reason.TIMEOUT, 1)  # timed out twice: its own budget


def test_map_over_functions_that_captured_large_arrays(client: Client) -> None:
    """A function holding 2 MB (beyond what travels inline on Ray): sent to each worker once
    (locally) or fetched once per Ray worker; a second array with another capture gets its own."""
    import functools

    import numpy as np

    first = np.arange(250_000, dtype=np.float64)
    second = -first
    assert client.map(functools.partial(jobs.pick, first), range(0, 250_000, 5_000), timeout=180) == [
        float(i) for i in range(0, 250_000, 5_000)]
    assert client.map(functools.partial(jobs.pick, second), range(0, 250_000, 5_000), timeout=180) == [
        -float(i) for i in range(0, 250_000, 5_000)]
