"""The controller's writes: claim attempts, move jobs, commit outcomes (fenced), leases, cancels."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from tessera.models.job import Attempt
from tessera.models.states import TERMINAL, JobState, Reason
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.hot import _TERMINAL_VALUES, Sql, Tx
from tessera.store.records import Move

_ACTIVE = (JobState.STARTING.value, JobState.RUNNING.value)
_CANCEL = ("UPDATE jobs SET cancel_requested = ? WHERE (id IN (@) OR array_id IN (@)) "
           f"AND state NOT IN ({','.join('?' * len(_TERMINAL_VALUES))})")
_CANCEL_CHUNK = 5000  # ids per statement (each appears twice): under SQLite's limit on variables


def _value(reason: Reason | None) -> str | None:
    return reason.value if reason else None


class StoreWrites:
    """Mixed into ``Store``; every method is one transaction."""

    engine: Any  # provided by Store

    sql: Sql  # provided by Store

    def _count_elements(self, tx: Tx, ends: Iterable[tuple[int | None, JobState]], now: float,
                        ended: list[int] | None = None) -> None:
        raise NotImplementedError  # provided by HotWrites

    def _write(self) -> contextlib.AbstractContextManager[Connection]:  # provided by Store
        raise NotImplementedError

    def _tx(self, action: str) -> contextlib.AbstractContextManager[Tx]:  # provided by Store
        raise NotImplementedError

    # ------------------------------------------------------------ moves

    def move(self, moves: Sequence[Move], now: float | None = None) -> list[int]:
        """Move jobs whose state is still one of each move's ``srcs``; returns the ids moved."""
        if not moves:
            return []
        now = time.time() if now is None else now
        with translated("moving jobs"), self._write() as conn:
            c = t.jobs.c
            cur = {r.id: r for r in conn.execute(
                select(c.id, c.state, c.array_id, c.is_array).where(c.id.in_([m.job_id for m in moves]))
                .with_for_update())}
            ok: list[Move] = []
            seen: set[int] = set()
            for m in moves:  # the first move of a job wins: a job listed twice must not move (or count) twice
                if m.job_id in cur and m.job_id not in seen and cur[m.job_id].state in {s.value for s in m.srcs}:
                    ok.append(m)
                    seen.add(m.job_id)
            if not ok:
                return []
            conn.execute(
                update(t.jobs).where(c.id == bindparam("_id")).values(
                    state=bindparam("_dst"), reason=bindparam("_why"), reason_detail=bindparam("_detail"),
                    not_before_at=bindparam("_nb"), ended_at=bindparam("_end"), lease_token=None,
                    lease_owner=None),
                [{"_id": m.job_id, "_dst": m.dst.value, "_why": m.reason.value if m.reason else None,
                  "_detail": m.detail, "_nb": m.not_before_at, "_end": now if m.dst in TERMINAL else None}
                 for m in ok],
            )
            conn.execute(t.events.insert(), [
                {"job_id": m.job_id, "at": now, "src": cur[m.job_id].state, "dst": m.dst.value,
                 "reason": m.reason.value if m.reason else None, "detail": m.detail} for m in ok])
            ends = [(cur[m.job_id].array_id, m.dst) for m in ok if m.dst in TERMINAL and cur[m.job_id].array_id]
            self._count_elements(Tx.on(conn, self.sql), ends, now)
            return [m.job_id for m in ok]

    def release_elements(self, parent_id: int, now: float | None = None) -> int:
        """Make an array's dependency-held elements runnable (those without deps of their own)."""
        now = time.time() if now is None else now
        with translated("releasing array elements"), self._write() as conn:
            c = t.jobs.c
            own = select(t.deps.c.job_id)
            ids = conn.execute(select(c.id).where(and_(
                c.array_id == parent_id, c.state == JobState.PENDING.value, c.reason == Reason.DEPENDENCY.value,
                c.id.not_in(own)))).scalars().all()
            if ids:
                conn.execute(update(t.jobs).where(c.id.in_(ids)).values(state=JobState.RUNNABLE.value, reason=None))
                conn.execute(t.events.insert(), [
                    {"job_id": i, "at": now, "src": "pending", "dst": "runnable", "reason": None,
                     "detail": f"array {parent_id} dependencies satisfied"} for i in ids])
            return len(ids)

    # ------------------------------------------------------------ cancel, leases, controllers

    def request_cancel(self, job_ids: Sequence[int], then: Callable[[Tx, int], object] | None = None) -> int:
        """Flag jobs (and the elements of arrays among them) for cancellation; returns how many.
        ``then`` is called with the transaction and that count before it commits, so a caller may
        write in it (the server's audit entry: the request and its entry commit together)."""
        ids = list(dict.fromkeys(job_ids))
        n = 0
        with self._tx("requesting cancellation") as tx:
            for at in range(0, len(ids), _CANCEL_CHUNK):
                part = ids[at:at + _CANCEL_CHUNK]
                n += tx.changed(_CANCEL, (True, *part, *part, *_TERMINAL_VALUES), len(part))
            if then is not None:
                then(tx, n)
        return n

    def renew_leases(self, owner: str, lease_s: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with translated("renewing leases"), self._write() as conn:
            conn.execute(update(t.jobs).where(t.jobs.c.lease_owner == owner).values(lease_expires_at=now + lease_s))

    def expired_attempts(self, now: float, exclude_owner: str | None = None) -> list[Attempt]:
        """Open attempts whose lease ran out (or whose owner is not ``exclude_owner`` and is gone)."""
        from tessera.store.records import attempt_from_row

        with translated("reading expired leases"), self._write() as conn:
            c = t.jobs.c
            q = (select(t.attempts).join(t.jobs, and_(t.jobs.c.id == t.attempts.c.job_id, c.lease_token == t.attempts.c.id))
                 .where(c.state.in_(_ACTIVE)))
            if exclude_owner is not None:
                q = q.where(or_(c.lease_expires_at < now, c.lease_owner != exclude_owner))
            else:
                q = q.where(c.lease_expires_at < now)
            return [attempt_from_row(r) for r in conn.execute(q)]

    def register_controller(self, cid: str, pid: int, host: str, now: float) -> None:
        with translated("registering the controller"), self._write() as conn:
            conn.execute(t.controllers.insert().values(id=cid, pid=pid, host=host, started_at=now, heartbeat_at=now))

    def controller_beat(self, cid: str, status: dict[str, Any], stopped: bool = False) -> None:
        now = time.time()
        with translated("recording controller status"), self._write() as conn:
            vals: dict[str, Any] = {"heartbeat_at": now, "status": json.dumps(status)}
            if stopped:
                vals["stopped_at"] = now
            conn.execute(update(t.controllers).where(t.controllers.c.id == cid).values(**vals))

    def latest_controller(self) -> dict[str, Any] | None:
        with translated("reading controller status"), self.engine.connect() as conn:
            r = conn.execute(select(t.controllers).order_by(t.controllers.c.started_at.desc()).limit(1)).first()
            if r is None:
                return None
            d = dict(r._mapping)
            d["status"] = json.loads(d["status"]) if d["status"] else {}
            return d

    # ------------------------------------------------------------ profiles

    def add_profiles(self, rows: Sequence[dict[str, Any]]) -> None:
        keys = {"fingerprint", "kernel", "size", "device", "cold_s", "warm_s", "gflops", "gbps", "measured_at"}
        rows = [{**r, "measured_at": _epoch(r.get("measured_at"))} for r in rows]
        with translated("saving profiles"), self._write() as conn:
            conn.execute(t.profiles.insert(), [
                {**{k: r.get(k) for k in keys}, "extra": json.dumps({k: v for k, v in r.items() if k not in keys})}
                for r in rows])

    def profiles(self, fingerprint: str | None = None) -> list[dict[str, Any]]:
        q = select(t.profiles).order_by(t.profiles.c.kernel, t.profiles.c.device, t.profiles.c.size)
        if fingerprint:
            q = q.where(t.profiles.c.fingerprint == fingerprint)
        with translated("reading profiles"), self.engine.connect() as conn:
            out = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                d.update(json.loads(d.pop("extra") or "{}"))
                out.append(d)
            return out


def _epoch(value: Any) -> float:
    """A timestamp as UTC epoch seconds (profiles may carry ISO 8601 text)."""
    if value is None:
        return time.time()
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    return datetime.fromisoformat(str(value)).timestamp()
