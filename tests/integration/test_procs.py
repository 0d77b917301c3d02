"""Process clean-up finds an attempt's processes by their marker, and only that store's attempt's."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from tessera.executors import procs
from tests.conftest import wait_for


def _sleeper(key: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, procs.MARKER: key, "TESSERA_ATTEMPT_ID": "1"}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env, start_new_session=True)


def test_reap_and_sweep_spare_another_stores_attempt_with_the_same_id() -> None:
    since = time.time()
    ours_key = procs.attempt_key(procs.store_scope("sqlite:///a.db"), 1)
    theirs_key = procs.attempt_key(procs.store_scope("sqlite:///b.db"), 1)
    assert ours_key != theirs_key
    ours, ours2, theirs = _sleeper(ours_key), _sleeper(ours_key), _sleeper(theirs_key)
    try:
        wait_for(lambda: len(procs.marked(ours_key, since)) == 2, 30, "the marked processes to show up")
        assert {p.pid for p in procs.marked(ours_key, since)} == {ours.pid, ours2.pid}
        assert procs.reap(None, ours_key, since) >= 1
        ours.wait(30)
        assert procs.sweep({ours_key: since}) <= 1
        ours2.wait(30)
        assert theirs.poll() is None and psutil.pid_exists(theirs.pid)
    finally:
        for p in (ours, ours2, theirs):
            p.kill()
            p.wait()
