"""The in-memory hand-off between a submitting thread and the controller never strands a job.

The controller's safety net (re-reading runnable jobs every heartbeat while it has room) is turned
off here, so that a job the hand-off misses stays runnable and the test fails instead of waiting.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client import Client
from tessera.config import Settings
from tessera.controller.core import Controller
from tessera.executors.factory import build
from tessera.executors.hardware import detect
from tessera.jobfile import to_spec
from tessera.models.states import TERMINAL, JobState
from tessera.store import Candidate, Store
from tessera.submit import submit as submit_specs
from tests.conftest import wait_for
from tests.fixtures import square as fixtures_square


@pytest.fixture
def controller(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    """A controller on one CPU, driven by the test (no loop thread), without the safety net."""
    monkeypatch.setattr(Controller, "refill_on_beat", False)
    settings = Settings.load(cpus=1)
    store = Store(settings.db_url)
    ctl = Controller(settings, store, build(settings, detect(settings)))
    try:
        yield ctl
    finally:
        ctl.close()
        store.close()


def _run_until(ctl: Controller, job_id: int, what: str) -> JobState:
    def ended() -> JobState | None:
        ctl.step(0.05)
        state = ctl.store.job(job_id).state
        return state if state in TERMINAL else None

    state = wait_for(ended, timeout=60, what=what)
    assert isinstance(state, JobState)
    return state


def test_a_stale_offer_does_not_take_the_room_of_a_job_behind_it(controller: Controller) -> None:
    """A job's offer may reach the controller after a store read already found, claimed and
    finished it (its submit committed before that read). Such an offer must not hold the free
    CPU in the next decision while the job behind it waits with nothing left to wake it."""
    ctl = controller
    spec = to_spec({"command": ["true"]})
    first: list[Candidate] = []
    (a,) = submit_specs(ctl.store, [spec], ctl.total, accepted=first)
    assert _run_until(ctl, a, "the first job to end") is JobState.SUCCEEDED  # read from the store
    second: list[Candidate] = []
    (b,) = submit_specs(ctl.store, [spec], ctl.total, accepted=second)
    ctl.offer([(first[0], spec), (second[0], spec)])  # the first one's offer arrives late
    assert _run_until(ctl, b, "the second job to end") is JobState.SUCCEEDED
    assert [x.state for x in ctl.store.attempts(a)] == ["succeeded"]  # the stale offer ran nothing


def test_a_placed_job_that_cannot_be_claimed_leaves_its_room_to_the_next(controller: Controller) -> None:
    """A job cancelled between the controller's read and its claim: the claim fails, and the
    capacity the decision gave it goes to the next job at once."""
    ctl = controller
    spec = to_spec({"command": ["true"]})
    got: list[Candidate] = []
    a, b = (submit_specs(ctl.store, [spec], ctl.total, accepted=got)[0] for _ in range(2))
    ctl.offer([(c, spec) for c in got])
    ctl._refill = False  # the cache holds exactly what was offered: no store read
    ctl._exhausted = True
    ctl._poked.clear()
    ctl.store.request_cancel([a])  # committed, but the controller has not looked at cancels yet
    ctl._next_cancel_check = float("inf")
    assert _run_until(ctl, b, "the job behind the cancelled one to end") is JobState.SUCCEEDED


def test_a_job_submitted_by_another_process_wakes_an_embedded_controller(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI in another process writes the job to the store and pokes the home's socket: the
    controller embedded in this process must hear that poke (it is the only one it gets)."""
    monkeypatch.setattr(Controller, "refill_on_beat", False)
    with Client(home=str(home), cpus=1) as c:
        assert c.embedded
        c.submit_spec({"command": ["true"]}).wait(60)  # the controller is idle afterwards
        out = subprocess.run([sys.executable, "-m", "tessera.cli.main", "submit", "--json", "--", "true"],
                             capture_output=True, text=True, timeout=120, check=True)
        job_id = int(json.loads(out.stdout)["id"])
        wait_for(lambda: c.store.job(job_id).state in TERMINAL, timeout=60, what="the CLI's job to end")
        assert c.store.job(job_id).state is JobState.SUCCEEDED


def test_threads_submitting_mixed_jobs_with_dependencies_and_cancels_all_end(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several threads submit commands (some fail, one cannot start), functions with retries and
    dependent jobs, and cancel some, into one embedded controller on two CPUs: every job ends."""
    monkeypatch.setattr(Controller, "refill_on_beat", False)
    with Client(home=str(home), cpus=2) as c:
        ids: list[int] = []
        lock = threading.Lock()

        def work(seed: int) -> None:
            rnd = random.Random(seed)
            for i in range(12):
                k = rnd.random()
                with lock:
                    dep = rnd.choice(ids) if ids else None
                if k < 0.3:
                    h = c.submit_spec({"command": ["sh", "-c", rnd.choice(["true", "exit 3"])]})
                elif k < 0.4:
                    h = c.submit_spec({"command": ["/nonexistent/program"]})
                elif k < 0.8 or dep is None:
                    h = c.submit(fixtures_square, i, retries=1)
                else:
                    h = c.submit_spec({"command": ["true"], "dependency": f"afterany:{dep}"})
                if rnd.random() < 0.1:
                    h.cancel()
                with lock:
                    ids.append(h.id)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: all(c.store.job(i).state in TERMINAL for i in ids), timeout=120,
                 what="every job to end")
