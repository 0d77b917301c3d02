"""The ``spot_attempts`` table: what each classed attempt cost and, when preempted, what it lost.

Also the figures ``tessera show`` and ``tessera spot report`` print: work lost per preemption
(seconds and dollars), recovery time (from a preempted attempt's end to its job's next attempt),
and the cost saved against running the same attempts on demand, all in the cost ledger's dollars
(``spot.pricing``: the same figures as ``tessera cost``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from tessera.spot.pricing import reprice
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated


@dataclass(frozen=True, slots=True)
class Row:
    """One classed attempt as it ended."""

    attempt_id: int
    job_id: int
    capacity: str
    cpus: float
    ran_s: float
    usd: float
    on_demand_usd: float
    preempted: bool = False
    notice_at: float | None = None
    ended_at: float | None = None
    checkpoint_at: float | None = None
    lost_s: float | None = None
    lost_usd: float | None = None
    fallback: str | None = None


def record(store: Store, rows: Sequence[Row]) -> None:
    """Insert rows (an attempt already recorded is skipped: a restarted controller may see it again)."""
    if not rows:
        return
    with translated("recording spot attempts"), store._write() as conn:
        have = set(conn.execute(select(t.spot_attempts.c.attempt_id).where(
            t.spot_attempts.c.attempt_id.in_([r.attempt_id for r in rows]))).scalars())
        fresh = [asdict(r) for r in rows if r.attempt_id not in have]
        if fresh:
            conn.execute(t.spot_attempts.insert(), fresh)


def preemption_counts(store: Store) -> dict[int, int]:
    """Preemptions per job for jobs that have not ended (a new controller starts from these)."""
    sa, j = t.spot_attempts.c, t.jobs.c
    with translated("reading spot attempts"), store._read() as conn:
        q = (select(sa.job_id, func.count()).join(t.jobs, j.id == sa.job_id)
             .where(sa.preempted.is_(True), j.ended_at.is_(None)).group_by(sa.job_id))
        return {int(a): int(b) for a, b in conn.execute(q).all()}


def rows(store: Store, job_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    sa = t.spot_attempts.c
    q = select(t.spot_attempts).order_by(sa.attempt_id)
    if job_ids is not None:
        q = q.where(sa.job_id.in_(list(job_ids)))
    with translated("reading spot attempts"), store._read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _next_starts(store: Store, job_ids: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
    """Per job, its attempts' (id, claim time), in order."""
    a = t.attempts.c
    out: dict[int, list[tuple[int, float]]] = {}
    if not job_ids:
        return out
    with translated("reading spot attempts"), store._read() as conn:
        for jid, aid, at in conn.execute(select(a.job_id, a.id, a.started_at).where(a.job_id.in_(list(job_ids)))
                                         .order_by(a.id)):
            out.setdefault(int(jid), []).append((int(aid), float(at)))
    return out


def summary(store: Store, job_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Totals over the recorded attempts (of ``job_ids``, or all)."""
    rs = reprice(store, rows(store, job_ids))
    pre = [r for r in rs if r["preempted"]]
    starts = _next_starts(store, sorted({r["job_id"] for r in pre}))
    recovery = []
    for r in pre:
        later = [at for aid, at in starts.get(r["job_id"], []) if aid > r["attempt_id"]]
        if later and r["ended_at"] is not None:
            recovery.append(max(0.0, later[0] - r["ended_at"]))
    usd = sum(r["usd"] for r in rs)
    od = sum(r["on_demand_usd"] for r in rs)
    lost = [r["lost_s"] or 0.0 for r in pre]

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {
        "attempts": len(rs), "spot_attempts": sum(1 for r in rs if r["capacity"] == "spot"),
        "preemptions": len(pre), "fallbacks": sum(1 for r in rs if r["fallback"]),
        "ran_s": sum(r["ran_s"] for r in rs),
        "lost_s_total": sum(lost), "lost_s_mean": mean(lost), "lost_s_max": max(lost) if lost else None,
        "lost_usd_total": sum(r["lost_usd"] or 0.0 for r in pre),
        "recovery_s_mean": mean(recovery), "recovery_s_max": max(recovery) if recovery else None,
        "usd": usd, "on_demand_usd": od, "saved_usd": od - usd,
        "cost_vs_on_demand": (usd / od) if od else None,
    }
