"""The ``samples`` table: utilisation readings per attempt, and verdicts computed from them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from tessera.models.job import Attempt
from tessera.monitor.classify import Held, Sample, Verdict, classify, summarise
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.sql import bulk_insert

COLUMNS = ("attempt_id", "job_id", "at", "cpu_pct", "rss_mb", "read_mb", "write_mb", "gpu_pct", "gpu_mem_mb")


def write(store: Store, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append readings, each a tuple in ``COLUMNS`` order, in one transaction."""
    if not rows:
        return
    with translated("writing utilisation samples"), store._write() as conn:
        bulk_insert(conn, t.samples, COLUMNS, list(rows))


def prune(store: Store, before: float) -> int:
    """Delete readings older than ``before``; returns how many went."""
    with translated("pruning utilisation samples"), store._write() as conn:
        return int(conn.execute(t.samples.delete().where(t.samples.c.at < before)).rowcount or 0)


def of_attempt(store: Store, attempt_id: int) -> list[Sample]:
    c = t.samples.c
    q = (select(c.at, c.cpu_pct, c.rss_mb, c.read_mb, c.write_mb, c.gpu_pct, c.gpu_mem_mb)
         .where(c.attempt_id == attempt_id).order_by(c.at))
    with translated("reading utilisation samples"), store._read() as conn:
        return [Sample(*r) for r in conn.execute(q)]


def open_attempts(store: Store, host: str) -> list[tuple[int, int, int, list[int]]]:
    """Running attempts of controllers on ``host``: (attempt id, job id, pid, GPU ids)."""
    c = t.attempts.c
    q = select(c.id, c.job_id, c.pid, c.owner, c.placement).where(
        c.state.in_(["starting", "running"]), c.pid.is_not(None))
    with translated("reading running attempts"), store._read() as conn:
        rows = conn.execute(q).all()
    return [(r.id, r.job_id, r.pid, list(json.loads(r.placement or "{}").get("gpus") or []))
            for r in rows if r.owner.startswith(f"{host}-")]


def held(a: Attempt) -> Held:
    p = a.placement
    return Held(float(p.get("cpus") or 1.0), p.get("memory_mb"), len(p.get("gpus") or ()))


def verdict(a: Attempt, samples: Sequence[Sample]) -> Verdict | None:
    """The verdict on an ended attempt (None while it runs, or if it never started)."""
    if a.ended_at is None or a.state in ("starting", "running", "unstarted"):
        return None
    h = held(a)
    return classify(summarise(samples, h, a.usage, a.ended_at - a.started_at), h)
