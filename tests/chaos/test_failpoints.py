"""Each named crash point is hit (the process SIGKILLs itself there) and survived: after a restart
every job ends as it should, with one committed result and no attempt left open."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tessera import failpoints
from tessera.config import Settings
from tessera.controller import daemon
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.models.states import TERMINAL, JobState
from tessera.store import Store
from tessera.submit import submit
from tests.chaos.conftest import check_contract, leaked
from tests.conftest import wait_for

CONTROLLER_SIDE = {"after_claim", "after_finish_before_commit", "after_commit_before_ack", "mid_requeue", "mid_cancel"}


def _specs(name: str, tmp_path: Path) -> list[object]:
    if name == "mid_cancel":  # long jobs, cancelled while running and while waiting
        return [to_spec({"command": [sys.executable, "-c", "import time; time.sleep(60)"]}) for _ in range(4)]
    if name in ("mid_checkpoint_write", "mid_requeue"):
        return [to_spec({"function": "tests.chaos.jobs:steps", "args": [40, 0.05]}) for _ in range(2)]
    return [to_spec({"function": "tests.fixtures:sleep_for", "args": [0.01]}) for _ in range(30)]


@pytest.mark.parametrize("name", failpoints.NAMES)
def test_failpoint_is_hit_and_survived(name: str, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_FAILPOINTS", name)
    monkeypatch.setenv("TESSERA_CPUS", "2")
    if name == "mid_requeue":
        trace = tmp_path / "trace"
        trace.write_text("".join(f"{t * 0.7:.1f}\n" for t in range(1, 30)))
        monkeypatch.setenv("TESSERA_SPOT_SLOTS", "2")
        monkeypatch.setenv("TESSERA_PREEMPTION_TRACE", str(trace))
        monkeypatch.setenv("TESSERA_NOTICE_S", "0.1")
    s = Settings.load()
    store = Store(s.db_url)
    try:
        # the controller first: with jobs already waiting it could claim one and die at the
        # failpoint before `ensure_running` sees it up, which would read as a failed start
        first = daemon.ensure_running(s)
        ids = submit(store, _specs(name, tmp_path), detect(s))
        daemon.poke(s)
        if name == "mid_cancel":
            wait_for(lambda: sum(j.state is JobState.RUNNING for j in store.jobs(ids=ids, limit=10)) >= 2, 60,
                     "two jobs to be running")
            store.request_cancel(ids)
            daemon.poke(s)
        wait_for(lambda: failpoints.fired(str(s.home)) == [name], 120, f"failpoint {name} to fire")
        if name in CONTROLLER_SIDE:
            wait_for(lambda: daemon.running_pid(s) is None, 30, "the controller to die at the failpoint")
            time.sleep(0.2)
            second = daemon.ensure_running(s)  # inherits TESSERA_FAILPOINTS; the point fired already in this home
            assert second != first
            daemon.poke(s)
        wait_for(lambda: all(j.state in TERMINAL for j in store.jobs(ids=ids, limit=100)), 180, "every job to end")
        check_contract(store, ids, JobState.CANCELLED if name == "mid_cancel" else JobState.SUCCEEDED)
        hits = (s.home / "failpoints" / "hits.log").read_text().split()
        assert hits[0] == name
        if name == "mid_requeue":
            assert any(e.dst == "preempted" for i in ids for e in store.events(i))
        if name == "mid_checkpoint_write":
            assert all(store.job(i).infra_retries_used <= 1 for i in ids)
        daemon.stop(s)
        wait_for(lambda: not leaked(s), 30, "no process of any attempt to be left")
    finally:
        daemon.stop(s)
        store.close()
