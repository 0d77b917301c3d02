"""The controller's write-ahead log stays bounded under steady writes (``store.engine.Checkpointer``).

PASSIVE checkpoints alone never catch up with a log that is written to all the time, and SQLite
starts a log over only once one has: the log grew for as long as jobs came (682 MiB over 20,000
one-by-one submissions, ``benchmarks/store.py``), and the file stayed that large afterwards.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tessera.models.spec import make_spec
from tessera.store import NewJob, Store

LIMIT = 256 << 10


def _store(tmp_path: Path) -> tuple[Store, str]:
    """A store whose checkpoints the test runs itself (``Checkpointer.step``), as the thread would."""
    path = tmp_path / "store.db"
    store = Store(f"sqlite:///{path}")
    store.checkpoint_in_background(every_s=None, limit=LIMIT)
    return store, f"{path}-wal"


def _fill(store: Store, n: int) -> None:
    for _ in range(n):  # one commit each, as one-by-one submissions are
        store.submit([NewJob(make_spec(command=["true"], name="x" * 100))])


def test_a_long_log_is_checkpointed_to_the_end_and_started_over(tmp_path: Path) -> None:
    store, wal = _store(tmp_path)
    ck = store._checkpointer
    assert ck is not None
    try:
        _fill(store, 200)
        assert os.path.getsize(wal) > LIMIT
        size = os.path.getsize(wal)
        ck.step()
        assert ck.restarts == 1
        _fill(store, 100)  # the next commits write from the start of the log: the file does not grow
        assert os.path.getsize(wal) == size
        assert len(store.jobs(limit=1000)) == 300  # every commit is there
    finally:
        store.close()


def test_steady_writes_do_not_grow_the_log_without_end(tmp_path: Path) -> None:
    store, wal = _store(tmp_path)
    ck = store._checkpointer
    assert ck is not None
    done = threading.Event()
    writer = threading.Thread(target=lambda: (_fill(store, 1500), done.set()))
    writer.start()
    try:
        while not done.is_set():
            ck.step()  # checkpoints race the writer, as the controller's thread does
        writer.join()
        assert ck.restarts >= 1
        # some 30 MiB went through the log; started over, it holds a little more than LIMIT (what
        # the writer adds between two rounds)
        assert os.path.getsize(wal) < 32 * LIMIT
        assert len(store.jobs(limit=2000)) == 1500
    finally:
        store.close()


def test_a_controller_store_bounds_its_log(tmp_path: Path) -> None:
    store, _wal = _store(tmp_path)
    try:
        ck = store._checkpointer
        assert ck is not None and ck.limit == LIMIT
        assert ck._hold() is store._wlock  # its RESTART takes the turn of this process's writers
    finally:
        store.close()
