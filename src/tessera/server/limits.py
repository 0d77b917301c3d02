"""Rate limits shared by every process of a server (``tessera server --workers N``).

The same token buckets as ``security.RateLimiter`` (``rate`` a second, bursts up to ``burst``),
kept in a small SQLite file in the home (``ratelimits.db``) instead of one process's memory, so
N worker processes together allow what one would. It is a separate file from the job store on
purpose: a request's debit must never wait behind a submission's write lock, and a rate limit is
not state worth an fsync (``synchronous=OFF``: a crash forgets the buckets, which only refills
them). Each debit is one short ``BEGIN IMMEDIATE`` transaction, so two processes never spend the
same token.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from tessera.server.security import Refill, refill

SCHEMA = "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL)"
PRUNE_EVERY = 10_000  # debits between removals of buckets idle long enough to be full again


class SharedLimiter:
    """A token bucket per key, in a SQLite file that several processes open."""

    def __init__(self, path: Path, rate: float, burst: float) -> None:
        self.path, self.rate, self.burst = path, rate, burst
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(SCHEMA)
        self._debits = 0

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one request; returns 0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.time() if now is None else now  # wall clock: the processes share it
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute("SELECT tokens, at FROM buckets WHERE key = ?", (key,)).fetchone()
                got: Refill = refill(None if row is None else (row[0], row[1]), now, self.rate, self.burst)
                c.execute("INSERT INTO buckets (key, tokens, at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                          "SET tokens = excluded.tokens, at = excluded.at", (key, got.tokens, got.at))
                self._debits += 1
                if self._debits % PRUNE_EVERY == 0:
                    c.execute("DELETE FROM buckets WHERE at < ?", (now - self.burst / self.rate - 60,))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return got.wait

    def close(self) -> None:
        with self._lock:
            self._conn.close()
