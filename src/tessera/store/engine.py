"""Connecting to the database: URL rules, SQLite pragmas, write transactions, driver-error translation."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc

from tessera.errors import StoreError

logger = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` (psycopg 3) and plain SQLite paths."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def make_engine(url: str) -> Engine:
    """An engine with tessera's durability settings (SQLite: WAL, synchronous=NORMAL, IMMEDIATE writes)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        sync = os.environ.get("TESSERA_DB_SYNC", "normal").upper()
        if sync not in ("NORMAL", "FULL", "OFF"):
            sync = "NORMAL"

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")  # a log started over is trimmed to this
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("tessera_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    try:
        return create_engine(url)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as e:
        raise StoreError(
            f"cannot use database URL {url.split('@')[-1]!r}: {e}",
            "set TESSERA_DB to a postgresql://user:pass@host/db URL (install tessera[postgres]) "
            "or unset it to use SQLite under TESSERA_HOME",
        ) from None


def _driver_error(e: BaseException) -> bool:
    """An error of SQLAlchemy or, on the driver-level hot path, of sqlite3 or psycopg themselves."""
    if isinstance(e, exc.SQLAlchemyError | sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(e, psycopg.Error)


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn driver errors into ``StoreError`` at the store's boundary."""
    try:
        yield
    except Exception as e:
        if not _driver_error(e):
            raise
        orig = getattr(e, "orig", None) or e
        raise StoreError(
            f"the store failed while {action}: {type(orig).__name__}: {str(orig).splitlines()[0][:300]}",
            "check that the database is reachable and not full; `tessera status` shows the store URL",
        ) from e


WAL_LIMIT = 64 << 20  # bytes of write-ahead log a controller lets build up (``Checkpointer``)


class Checkpointer:
    """Copies SQLite's write-ahead log into the database from a thread of its own, so that the
    commits on the hot path never pay for a checkpoint (two fsyncs every thousand pages or so).

    The writers of the store that runs one set ``wal_autocheckpoint=0``; the regular checkpoints
    are PASSIVE (they never block a writer or a reader). Under steady writes a PASSIVE checkpoint
    never catches up with the end of the log, and SQLite starts the log over only once one has:
    the log would grow for as long as the writes go on (682 MiB over 20,000 one-by-one jobs,
    ``benchmarks/store.py``). So when it passes ``limit`` bytes, the thread takes the writers'
    turn (``hold``: the store's write lock, for the writers of this process; SQLite's own lock
    holds off the others) and runs a RESTART checkpoint, which finishes the copy; the next commit
    writes from the start of the log again, over the same file (TRUNCATE would empty it, for every
    later write to grow it again), and ``journal_size_limit`` trims a file that grew past
    ``WAL_LIMIT`` back to it.
    Durability is unchanged: a commit is in the log until the database has it. ``every_s`` None:
    no thread, the caller runs ``step``.
    """

    def __init__(self, path: str, every_s: float | None = 0.2,
                 hold: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
                 limit: int = WAL_LIMIT) -> None:
        self.limit = limit
        self.restarts = 0
        self._wal = path + "-wal"
        self._hold = hold or contextlib.nullcontext
        self._conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if every_s is not None:
            self._thread = threading.Thread(target=self._run, args=(every_s,), name="tessera-checkpoint", daemon=True)
            self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.step()
            except sqlite3.Error as e:  # busy or disk trouble: the next round tries again
                logger.debug("checkpoint skipped: %s", e)

    def step(self) -> None:
        """One round: a PASSIVE checkpoint, then a RESTART if the log is still longer than ``limit``."""
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        try:
            size = os.path.getsize(self._wal)
        except OSError:
            return
        if size > self.limit:
            with self._hold():  # most of the log was copied just now, outside the turn: this is short
                busy, _log, _done = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            self.restarts += not busy

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._conn.close()


WRITE_WAIT_S = 60.0  # how long a writer waits for its turn, as for SQLite's own lock (busy_timeout)
SPIN_S = 200e-6  # a contended writer first retries this long (one transaction's time), yielding the CPU


class WriterLock:
    """The turn at writing among the processes sharing one SQLite file: an ``flock`` on a file
    beside it (``tessera.db-writer``), taken for each write transaction.

    SQLite's own lock makes a second writer retry in its busy handler, which sleeps 1, 2, 5, 10…
    ms between tries: a client of a background controller that wrote while the controller did
    waited a millisecond or more for a transaction of a hundred microseconds. A blocked ``flock``
    instead wakes as soon as the holder lets go. SQLite's lock stays the guard (a writer that does
    not take this lock, such as an older tessera, is still kept out by it); the kernel drops the
    ``flock`` of a process that dies. Threads of one process take turns at the store's own lock
    first, so one thread per process waits here.

    A holder that neither goes on nor dies (stopped with Ctrl-Z or SIGSTOP, held in a debugger)
    must not keep the others waiting for ever: a writer gives up after ``wait_s`` with a
    ``StoreError`` naming it. Linux has no ``flock`` with a time limit, so a writer that still
    finds the turn taken after ``SPIN_S`` of retries asks a thread of the lock's (``_Waiter``,
    started at the first such wait) to block in ``flock`` for it, and waits for that thread with a
    time limit.
    """

    def __init__(self, db_path: str, wait_s: float = WRITE_WAIT_S) -> None:
        self.path = db_path + "-writer"
        self.wait_s = wait_s
        self._waiter: _Waiter | None = None
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:  # a read-only folder: SQLite's own lock alone
            logger.debug("no writer lock beside %s: %s", db_path, e)
            self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fd = self._fd
        if fd is None:
            yield
            return
        self._take(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _take(self, fd: int) -> None:
        waiter = self._waiter
        if waiter is None or not waiter.blocked:  # (else it will get the turn: a flock of ours would too)
            end = 0.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    now = time.perf_counter()
                    end = end or now + SPIN_S
                    if now >= end:
                        break
                    os.sched_yield()
        if waiter is None:
            waiter = self._waiter = _Waiter(fd)
        if waiter.take(self.wait_s):
            return
        holders = ", ".join(map(str, lock_holders(self.path))) or "unknown"
        raise StoreError(
            f"another process has held the store's write lock ({self.path}) for over {self.wait_s:g} s "
            f"(pid {holders})",
            "if that tessera process is stopped (Ctrl-Z, a debugger), let it go on or end it; then try again",
        )

    def close(self) -> None:
        if self._fd is not None:
            if self._waiter is not None:
                self._waiter.close()  # its thread closes the file, once out of flock
            else:
                os.close(self._fd)
            self._fd = None


class _Waiter:
    """A thread that blocks in ``flock`` for this process's writers, who wait for it with a limit.

    Requests are numbered. A writer that gave up leaves the thread blocked; when the turn comes, it
    goes to the writer waiting then, if any, or back at once. While the thread is blocked, the next
    writer asks it rather than call ``flock`` itself: two flocks on one file description would both
    succeed, and the thread giving the turn back would end the writer's too.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._cv = threading.Condition()
        self._asked = 0  # requests made (one at a time: one thread per process writes)
        self._given = 0  # requests answered: with the turn, or by giving it back
        self._gave_up = 0  # the last request whose writer stopped waiting
        self.blocked = False  # in flock now
        self._closing = False
        threading.Thread(target=self._run, name="tessera-writer-lock", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._asked > self._given or self._closing)
                if self._closing:
                    break
                self.blocked = True
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            with self._cv:
                self.blocked = False
                if self._closing:
                    break
                n = self._asked
                if n <= self._gave_up:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)  # nobody waits for it any more
                self._given = n
                self._cv.notify_all()
        os.close(self._fd)

    def take(self, timeout: float) -> bool:
        """Whether the turn came within ``timeout`` seconds (then the caller holds it)."""
        with self._cv:
            self._asked += 1
            n = self._asked
            self._cv.notify_all()
            if self._cv.wait_for(lambda: self._given >= n, timeout):
                return True
            self._gave_up = n
            return False

    def close(self) -> None:
        """The lock is closing: the thread closes the file, now if it waits for a request, or once
        it is out of ``flock``."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()


def lock_holders(path: str) -> list[int]:
    """The pids holding an ``flock`` on ``path``, from Linux's ``/proc/locks``; empty where unknown."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            rows = f.read().splitlines()
    except OSError:
        return []
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for row in rows:
        parts = row.split()  # "1: FLOCK ADVISORY WRITE 1234 00:2a:5678 0 EOF"; a waiter's has "->" after "1:"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == inode:
            pids.append(int(parts[4]))
    return pids
