"""Kill -9 a worker mid-job, and the controller at random moments: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

import tessera
from tessera.config import Settings
from tessera.controller import daemon
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.models.states import TERMINAL
from tessera.store import Store
from tessera.submit import submit
from tests.chaos.conftest import check_contract, leaked, scale
from tests.conftest import wait_for


@pytest.mark.timeout(scale(300, 3600))
def test_worker_kill_9_requeues_within_lease_and_resumes_from_checkpoint(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_CPUS", "2")
    n = scale(20, 100)
    bound = 0.0
    with tessera.Client() as c:
        s = c.settings
        bound = s.lease_s + s.heartbeat_s
        ids: list[int] = []
        worst = -1.0
        for i in range(0, n, 2):  # two at a time, one per slot
            pair = []
            for k in (i, i + 1):
                marker = str(tmp_path / f"m{k}")
                pair.append((c.submit_spec({"function": "tests.chaos.jobs:steps", "args": [30, 0.04, marker]}),
                             marker))
            for h, marker in pair:
                wait_for(lambda m=marker: os.path.exists(f"{m}.1") and int(Path(f"{m}.1").read_text() or 0) >= 5, 60,
                         "the job to get 5 steps in")
                pid = wait_for(lambda h=h: next((a.pid for a in c.store.attempts(h.id) if a.pid), None), 30,
                               "the attempt's pid")
                killed_at = time.time()
                assert int(pid) > 1  # type: ignore[call-overload]
                os.kill(int(pid), signal.SIGKILL)  # type: ignore[call-overload]
                requeued = wait_for(lambda h=h: next((e.at for e in c.store.events(h.id)
                                                      if e.dst == "runnable" and e.src in ("starting", "running")),
                                                     None), bound, "the job to be requeued")
                worst = max(worst, float(requeued) - killed_at)  # type: ignore[arg-type]
            for h, _marker in pair:
                state = h.result(timeout=120)
                job = h.job
                assert state["i"] == 30 and job.infra_retries_used == 1 and job.retries_used == 0
                assert state["starts"][-1][1] >= 5, state  # resumed from its checkpoint, not from zero
                ids.append(h.id)
        check_contract(c.store, ids)
    assert worst <= bound
    print(f"worker kill -9 x{n}: all requeued, worst {worst:.3f} s after the kill (bound {bound:g} s)")


def _workload(tmp_path: Path, n: int, rng: random.Random) -> list[object]:
    specs = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            specs.append(to_spec({"command": [sys.executable, "-c", "pass"]}))
        elif r < 0.2:
            specs.append(to_spec({"function": "tests.chaos.jobs:steps", "args": [5, 0.02]}))
        else:
            specs.append(to_spec({"function": "tests.fixtures:sleep_for", "args": [rng.choice([0.0, 0.01, 0.03])]}))
    return specs


def _controller(s: Settings) -> int:
    """Start the controller; its real pid (never -1 or 0: os.kill would signal far more than it)."""
    daemon.ensure_running(s)
    daemon.poke(s)
    pid = wait_for(lambda: (daemon.running_pid(s) or 0) > 0 and daemon.running_pid(s), 30, "the controller's pid")
    assert isinstance(pid, int) and pid > 1
    return pid


@pytest.mark.timeout(scale(300, 3600))
def test_controller_kill_9_at_random_moments(background: Settings, tmp_path: Path) -> None:
    s = background
    rounds = scale(3, 50)
    rng = random.Random(11)
    store = Store(s.db_url)
    kills = 0
    try:
        for _ in range(rounds):
            ids = submit(store, _workload(tmp_path, 200, rng), detect(s))
            pid = _controller(s)
            for _k in range(rng.choice([1, 2])):
                time.sleep(rng.uniform(0.05, 1.5))
                if all(j.state in TERMINAL for j in store.jobs(ids=ids, limit=1000)):
                    break
                os.kill(pid, signal.SIGKILL)
                kills += 1
                wait_for(lambda: daemon.running_pid(s) is None, 30, "the killed controller to let go of its lock")
                pid = _controller(s)
            wait_for(lambda ids=ids: all(j.state in TERMINAL for j in store.jobs(ids=ids, limit=1000)), 240,
                     "every job to end")
            check_contract(store, ids)
        daemon.stop(s)
        assert kills >= rounds
        wait_for(lambda: not leaked(s), 30, "no process of any attempt to be left")
    finally:
        store.close()
    print(f"controller kill -9: {rounds} rounds of 200 jobs, {kills} kills, 0 lost, 0 duplicated, 0 leaked")
