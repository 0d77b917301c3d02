"""Processes sharing one SQLite store take turns at ``store.engine.WriterLock`` (an ``flock`` beside
the database), so a writer waits for the one before it instead of sleeping in SQLite's busy handler;
and the reads a client of another process's controller makes per job are short.

Real processes and signals: a holder killed with SIGKILL frees the turn.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tessera.errors import StoreError
from tessera.models.spec import make_spec
from tessera.models.states import JobState, Reason
from tessera.store import Claim, End, Move, NewJob, Store
from tessera.store.engine import WriterLock
from tessera.store.sql import PARSED_TEXT_MAX
from tests.conftest import wait_for

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def _submit_in_thread(store: Store) -> tuple[threading.Thread, list[int]]:
    ids: list[int] = []
    th = threading.Thread(target=lambda: ids.extend(store.submit([NewJob(make_spec(command=["true"]))])),
                          daemon=True)
    th.start()
    return th, ids


def test_a_write_waits_for_the_turn_another_process_holds(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store(f"sqlite:///{db}")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{db}-writer"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        th, ids = _submit_in_thread(store)
        th.join(0.5)
        assert th.is_alive() and not ids  # it waits at the lock, not in SQLite (which would go ahead)
        os.kill(holder.pid, signal.SIGKILL)  # the kernel lets go of a dead holder's lock
        th.join(60)
        assert not th.is_alive() and len(ids) == 1
        assert store.job(ids[0]).state is JobState.RUNNABLE
    finally:
        holder.kill()
        holder.wait()
        store.close()


@pytest.mark.parametrize("path", ["driver", "sqlalchemy"])
def test_the_turn_is_held_for_each_write_and_given_back(tmp_path: Path, path: str) -> None:
    """Both write paths take it: the hot path's driver-level transactions and SQLAlchemy's."""
    db = tmp_path / "t.db"
    store = Store(f"sqlite:///{db}")
    names = iter(["q1", "q2"])

    def write() -> None:
        if path == "driver":
            store.submit([NewJob(make_spec(command=["true"]))])
        else:
            store.create_queue(next(names))

    try:
        write()
        fd = os.open(f"{db}-writer", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free between writes: taken at once
            done = threading.Event()
            th = threading.Thread(target=lambda: (write(), done.set()), daemon=True)
            th.start()
            th.join(0.5)
            assert not done.is_set()  # it waits at the lock
            fcntl.flock(fd, fcntl.LOCK_UN)
            th.join(60)
            assert done.is_set()
        finally:
            os.close(fd)
    finally:
        store.close()


def _free(path: str) -> bool:
    """Whether another open of the lock file can take the turn at once."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_holder_that_never_lets_go_gets_a_writer_an_error_naming_it(tmp_path: Path) -> None:
    """A stopped holder (SIGSTOP, a debugger) must not hang the others for ever: after the wait
    limit a write fails with a ``StoreError`` naming the holder's pid, having stored nothing; the
    thread left blocked in ``flock`` serves the next write once the holder is gone, and gives
    the turn back after it."""
    db = tmp_path / "t.db"
    store = Store(f"sqlite:///{db}")
    assert store._xlock is not None
    store._xlock.wait_s = 0.3  # 60 s by default, as SQLite's busy timeout
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{db}-writer"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        os.kill(holder.pid, signal.SIGSTOP)
        before = store.counts()
        for _ in range(2):  # the second write waits on the thread the first one left blocked
            with pytest.raises(StoreError, match=f"pid {holder.pid}") as e:
                store.submit([NewJob(make_spec(command=["true"]))])
            assert "let it go on or end it" in str(e.value)
        assert store.counts() == before
        assert [t.name for t in threading.enumerate()].count("tessera-writer-lock") == 1
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        store._xlock.wait_s = 60
        (jid,) = store.submit([NewJob(make_spec(command=["true"]))])
        assert store.job(jid).state is JobState.RUNNABLE
        assert _free(f"{db}-writer")  # given back after the write
    finally:
        holder.kill()
        holder.wait()
        store.close()


def test_a_turn_that_comes_after_its_writer_gave_up_is_given_back(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    lock = WriterLock(str(db), wait_s=0.2)
    other = os.open(f"{db}-writer", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(StoreError), lock.held():
            pass
        fcntl.flock(other, fcntl.LOCK_UN)  # the blocked thread gets it, for nobody: it lets go
        wait_for(lambda: _free(f"{db}-writer"), 30, "the turn given back")
        with lock.held():
            assert not _free(f"{db}-writer")
        assert _free(f"{db}-writer")
    finally:
        os.close(other)
        lock.close()


def test_without_a_lock_file_writes_are_guarded_by_sqlite_alone(tmp_path: Path) -> None:
    lock = WriterLock(str(tmp_path / "no-such-folder" / "t.db"))  # cannot be made: no lock, no error
    with lock.held():
        pass
    lock.close()


def _end(store: Store, job_id: int, result: bytes) -> None:
    (att,) = store.start([Claim(job_id, "local", {"cpus": 1})], "ctl", 60)
    store.finish([End(att.id, job_id, "succeeded", JobState.SUCCEEDED, exit_code=0, result_encoding="json",
                      result=result)])


def test_outcomes_are_read_in_one_go_small_ones_only(store: Store) -> None:
    small, big, waiting, cancelled = store.submit([NewJob(make_spec(command=["true"])) for _ in range(4)])
    _end(store, small, b"42")
    _end(store, big, b"[" + b"1," * 5000 + b"1]")
    store.move([Move(cancelled, JobState.CANCELLED, frozenset({JobState.RUNNABLE}), Reason.CANCELLED_BY_USER)])
    got = store.outcomes([small, big, waiting, cancelled, 10**9], max_bytes=1000)
    assert got[small] == (JobState.SUCCEEDED, "json", b"42", None)
    assert big not in got and waiting not in got  # too large for a waiter to hold; not ended
    assert got[cancelled][0] is JobState.CANCELLED  # ended without a result row
    assert store.finished(big)[:3] == (JobState.SUCCEEDED, "json", b"[" + b"1," * 5000 + b"1]")  # type: ignore[index]
    assert store.outcomes([], 1000) == {}


def test_jobs_stored_alike_share_one_parsed_spec(store: Store) -> None:
    spec = make_spec(command=["echo", "same"])
    a, b = store.submit([NewJob(spec), NewJob(spec)])
    long = make_spec(command=["echo", "x" * PARSED_TEXT_MAX])
    c, d = store.submit([NewJob(long), NewJob(long)])
    store._specs.clear()
    store._parsed.clear()
    ja, jb, jc, jd = (store.job(i) for i in (a, b, c, d))
    assert ja.spec is jb.spec and ja.spec.command == ("echo", "same")
    assert jc.spec == jd.spec and jc.spec is not jd.spec  # a long text is parsed each time, not kept
    assert all(len(text) <= PARSED_TEXT_MAX for _kind, text in store._parsed)
