"""Connecting to the database: URL rules, SQLite pragmas, write transactions, driver-error translation."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
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


class Checkpointer:
    """Copies SQLite's write-ahead log into the database from a thread of its own, so that the
    commits on the hot path never pay for a checkpoint (two fsyncs every thousand pages or so).

    The writers of the store that runs one set ``wal_autocheckpoint=0``; checkpoints are PASSIVE
    (they never block a writer or a reader). Durability is unchanged: a commit is in the log.
    """

    def __init__(self, path: str, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self._conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tessera-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as e:  # busy or disk trouble: the next round tries again
                logger.debug("checkpoint skipped: %s", e)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._conn.close()
