"""A worker that died but whose death the executor has not yet seen: an attempt sent to it never
started, so it is requeued at no cost (found by the soak: it used to fail the job as launch_failed)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from tessera.executors.base import Launch
from tessera.executors.local import LocalExecutor
from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity, Placement
from tests.conftest import wait_for


def test_launch_to_a_dead_worker_is_unstarted_not_failed(tmp_path: Path) -> None:
    ex = LocalExecutor(Capacity(1, 1024), workers=1, kill_grace_s=1)
    try:
        w = ex._workers[0]
        os.kill(w.proc.pid, signal.SIGKILL)
        wait_for(lambda: psutil.Process(w.proc.pid).status() == psutil.STATUS_ZOMBIE, 30, "the worker to die")
        la = Launch(attempt_id=1, job_id=1, ref="1", kind="function", placement=Placement(1, 1, None, ()),
                    function="tests.fixtures:noop", stdout_path=str(tmp_path / "o"), stderr_path=str(tmp_path / "e"),
                    scratch_dir=str(tmp_path / "s"))
        ex.launch(la)  # sent down a pipe whose reader is gone
        outcomes = []
        wait_for(lambda: outcomes.extend(ex.poll(0.1)[1]) or any(o.attempt_id == 1 for o in outcomes), 30,
                 "the attempt's outcome")
        (o,) = [o for o in outcomes if o.attempt_id == 1]
        assert o.status in ("unstarted", "lost") and o.reason is Reason.WORKER_LOST, o
    finally:
        ex.close(1)
