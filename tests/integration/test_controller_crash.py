"""The background controller: killed with SIGKILL mid-run and restarted, no job is lost or committed twice."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tessera.config import Settings
from tessera.controller import daemon
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.models.states import TERMINAL, JobState
from tessera.store import Store
from tessera.store import schema as t
from tessera.submit import submit
from tests.conftest import wait_for


@pytest.fixture
def background(home: Path) -> Iterator[Settings]:
    s = Settings.load()
    yield s
    daemon.stop(s)


def test_kill_9_controller_and_restart(background: Settings) -> None:
    s = background
    store = Store(s.db_url)
    try:
        specs = [to_spec({"function": "tests.fixtures:sleep_for", "args": [0.02]}) for _ in range(150)]
        specs += [to_spec({"command": [sys.executable, "-c", "pass"]}) for _ in range(50)]
        ids = submit(store, specs, detect(s))
        first = daemon.ensure_running(s)
        daemon.poke(s)
        wait_for(lambda: store.counts().get("succeeded", 0) >= 20, 120, "some jobs to finish")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: daemon.running_pid(s) is None, 30, "the killed controller to let go of its lock")
        done_before = store.counts().get("succeeded", 0)
        assert done_before < len(ids), "every job ended before the kill: nothing was tested"
        second = daemon.ensure_running(s)
        assert second != first
        daemon.poke(s)
        wait_for(lambda: all(j.state in TERMINAL for j in store.jobs(ids=ids, limit=1000)), 180,
                 "every job to end after the restart")
        jobs = store.jobs(ids=ids, limit=1000)
        assert len(jobs) == 200
        assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 200
        with store.engine.connect() as conn:
            per_job = dict(conn.execute(select(t.results.c.job_id, func.count()).group_by(t.results.c.job_id)).all())
        assert per_job == {i: 1 for i in ids}
        requeued = [j for j in jobs if j.infra_retries_used]
        for j in requeued:
            assert j.attempts >= 2
            assert any(a.reason == "controller_lost" for a in store.attempts(j.id))
        # every attempt of every job is closed
        assert store.attempts(open_only=True) == []
    finally:
        store.close()


def test_down_requeues_and_up_resumes(background: Settings, tmp_path: Path) -> None:
    s = background
    store = Store(s.db_url)
    try:
        pid_file = tmp_path / "pid"
        (jid,) = submit(store, [to_spec({"command": [sys.executable, "-m", "tests.fixtures", "pid-sleep",
                                                     str(pid_file), "1"]})], detect(s))
        daemon.ensure_running(s)
        daemon.poke(s)
        wait_for(pid_file.exists, 60, "the job to start")
        pid_file.unlink()
        assert daemon.stop(s) is not None
        job = store.job(jid)
        assert job.state is JobState.RUNNABLE and job.infra_retries_used == 1
        daemon.ensure_running(s)
        wait_for(lambda: store.job(jid).state in TERMINAL, 60, "the requeued job to end")
        assert store.job(jid).state is JobState.SUCCEEDED and store.job(jid).attempts == 2
    finally:
        store.close()


def test_one_controller_per_home(background: Settings) -> None:
    pid = daemon.ensure_running(background)
    assert daemon.ensure_running(background) == pid
    assert daemon.serve(background) == 1  # the lock is held: a second controller refuses to start
