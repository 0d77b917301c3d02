"""The audit log: every mutation, append-only and hash-chained, like a small CloudTrail.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON (its
id, time, actor, action, project, target and detail), so editing, removing or reordering any
entry breaks every hash after it; ``verify`` finds the first break. The database refuses UPDATE
and DELETE on the table (triggers), and appends are serialised (SQLite's write lock; an
exclusive table lock on PostgreSQL), so the chain has no forks.

Appends run on the store's driver-level transaction (``store.hot.Tx``), so a submission's audit
entry is written in the transaction that stores its jobs (``server/intake.py``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.hot import Tx

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: float
    actor: str
    action: str
    project: str | None
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action, "project": self.project,
                "target": self.target, "detail": self.detail, "prev_hash": self.prev_hash, "hash": self.hash}


def chain_hash(prev_hash: str, id_: int, at: float, actor: str, action: str, project: str | None,
               target: str | None, detail: dict[str, Any]) -> str:
    """The hash of one entry given the one before it (pure)."""
    body = json.dumps([id_, repr(at), actor, action, project, target, detail], sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


Item = tuple[str, str, str | None, str | None, dict[str, Any] | None]  # actor, action, project, target, detail
_INSERT = "INSERT INTO audit (id, at, actor, action, project, target, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)"


def append_all(tx: Tx, items: list[Item], now: float | None = None) -> list[Entry]:
    """Append entries, in order, inside the caller's driver-level write transaction."""
    if not items:
        return []
    if tx.q.pg:
        tx.run("LOCK TABLE audit IN EXCLUSIVE MODE")
    last = tx.one("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
    prev, id_ = (str(last[1]), int(last[0]) + 1) if last else (GENESIS, 1)
    at = time.time() if now is None else now
    out: list[Entry] = []
    rows: list[tuple[Any, ...]] = []
    for actor, action, project, target, detail in items:
        d = json.loads(json.dumps(detail or {}, default=str))  # store exactly what was hashed
        h = chain_hash(prev, id_, at, actor, action, project, target, d)
        out.append(Entry(id_, at, actor, action, project, target, d, prev, h))
        rows.append((id_, at, actor, action, project, target, json.dumps(d, sort_keys=True), prev, h))
        prev, id_ = h, id_ + 1
    tx.many(_INSERT, rows)
    return out


def record(store: Store, actor: str, action: str, project: str | None = None, target: str | None = None,
           detail: dict[str, Any] | None = None) -> Entry:
    """Append one entry in its own transaction."""
    with store._tx("writing the audit log") as tx:
        return append_all(tx, [(actor, action, project, target, detail)])[0]


class GroupWriter:
    """Appends from many threads, committed together: whoever takes the commit lock writes every
    entry queued so far in one transaction (group commit), and each caller returns only once its
    own entry is committed, so an acknowledged mutation is always audited."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def record(self, actor: str, action: str, project: str | None = None, target: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
        self.record_many([(actor, action, project, target, detail)])

    def record_many(self, entries: list[Item]) -> None:
        items = [_Pending(e) for e in entries]
        with self._queue_lock:
            self._queue.extend(items)
        with self._commit_lock:
            if not all(i.done for i in items):
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    with self.store._tx("writing the audit log") as tx:
                        append_all(tx, [p.entry for p in batch])
                except Exception as e:  # noqa: BLE001 - handed to every caller of the batch
                    for p in batch:
                        p.error = e
                for p in batch:
                    p.done = True
        for i in items:
            if i.error is not None:
                raise i.error


@dataclass
class _Pending:
    entry: Item
    done: bool = False
    error: BaseException | None = None


def _entry(r: Any) -> Entry:
    return Entry(r.id, r.at, r.actor, r.action, r.project, r.target, json.loads(r.detail), r.prev_hash, r.hash)


def entries(store: Store, project: str | None = None, after: int = 0, limit: int = 100) -> list[Entry]:
    """Entries in order, optionally of one project, with ids above ``after``."""
    q = select(t.audit).where(t.audit.c.id > after).order_by(t.audit.c.id).limit(limit)
    if project is not None:
        q = q.where(t.audit.c.project == project)
    with translated("reading the audit log"), store._read() as conn:
        return [_entry(r) for r in conn.execute(q)]


def _all(store: Store, batch: int = 5000) -> Iterator[Entry]:
    after = 0
    while True:
        chunk = entries(store, after=after, limit=batch)
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].id


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    broken_at: int | None = None
    why: str | None = None


def verify(store: Store) -> Verdict:
    """Recompute the chain; the first entry whose link or hash does not match breaks it."""
    prev, expected_id, n = GENESIS, 1, 0
    for e in _all(store):
        if e.id != expected_id:
            return Verdict(False, n, e.id, f"entry {expected_id} is missing (next is {e.id})")
        if e.prev_hash != prev:
            return Verdict(False, n, e.id, f"entry {e.id} does not link to the entry before it")
        if chain_hash(prev, e.id, e.at, e.actor, e.action, e.project, e.target, e.detail) != e.hash:
            return Verdict(False, n, e.id, f"entry {e.id} was changed after it was written")
        prev, expected_id, n = e.hash, e.id + 1, n + 1
    return Verdict(True, n)
