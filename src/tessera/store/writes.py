"""The controller's writes: claim attempts, move jobs, commit outcomes (fenced), leases, cancels."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from tessera.models.job import Attempt
from tessera.models.states import TERMINAL, JobState, Reason
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.records import Claim, End, Move

_ACTIVE = (JobState.STARTING.value, JobState.RUNNING.value)


def _value(reason: Reason | None) -> str | None:
    return reason.value if reason else None


class StoreWrites:
    """Mixed into ``Store``; every method is one transaction."""

    def _write(self) -> contextlib.AbstractContextManager[Connection]:  # provided by Store
        raise NotImplementedError

    # ------------------------------------------------------------ attempts

    def start(self, claims: Sequence[Claim], owner: str, lease_s: float, now: float | None = None) -> list[Attempt]:
        """Claim runnable jobs: one attempt each, state ``starting``, a fresh lease token."""
        now = time.time() if now is None else now
        if not claims:
            return []
        by_id = {c.job_id: c for c in claims}
        with translated("starting attempts"), self._write() as conn:
            c = t.jobs.c
            rows = conn.execute(
                select(c.id, c.attempts, c.array_id).where(
                    and_(c.id.in_(list(by_id)), c.state == JobState.RUNNABLE.value, c.cancel_requested.is_(False))
                ).with_for_update()
            ).all()
            if not rows:
                return []
            ins = [
                {"job_id": r.id, "number": r.attempts + 1, "executor": by_id[r.id].executor, "owner": owner,
                 "state": JobState.STARTING.value, "placement": json.dumps(by_id[r.id].placement),
                 "started_at": now}
                for r in rows
            ]
            got = conn.execute(
                t.attempts.insert().returning(t.attempts.c.id, t.attempts.c.job_id, sort_by_parameter_order=True),
                ins,
            ).all()
            tokens = {job_id: aid for aid, job_id in got}
            conn.execute(
                update(t.jobs).where(c.id == bindparam("_id")).values(
                    state=JobState.STARTING.value, reason=None, reason_detail=None,
                    attempts=c.attempts + 1, lease_token=bindparam("_tok"), lease_owner=owner,
                    lease_expires_at=now + lease_s, started_at=func_coalesce(c.started_at, now),
                ),
                [{"_id": r.id, "_tok": tokens[r.id]} for r in rows],
            )
            evs = [{"job_id": r.id, "at": now, "src": "runnable", "dst": "starting", "reason": None,
                    "detail": f"attempt {r.attempts + 1} on {by_id[r.id].executor}"} for r in rows]
            parents = {r.array_id for r in rows if r.array_id is not None}
            if parents:
                fresh = conn.execute(
                    select(c.id).where(and_(c.id.in_(parents), c.state == JobState.RUNNABLE.value))
                ).scalars().all()
                if fresh:
                    conn.execute(update(t.jobs).where(c.id.in_(fresh)).values(
                        state=JobState.RUNNING.value, reason=None, started_at=now))
                    for p in fresh:
                        evs.append({"job_id": p, "at": now, "src": "runnable", "dst": "starting", "reason": None, "detail": "first element starting"})
                        evs.append({"job_id": p, "at": now, "src": "starting", "dst": "running", "reason": None, "detail": None})
            conn.execute(t.events.insert(), evs)
            return [
                Attempt(id=tokens[r.id], job_id=r.id, number=r.attempts + 1, token=tokens[r.id],
                        executor=by_id[r.id].executor, state="starting", placement=by_id[r.id].placement,
                        started_at=now)
                for r in rows
            ]

    def running(self, updates: Sequence[tuple[int, int, float, int | None, str | None, str | None]]) -> None:
        """Record launched attempts: (job_id, token, at, pid, stdout_path, stderr_path); starting→running."""
        if not updates:
            return
        with translated("recording running attempts"), self._write() as conn:
            c = t.jobs.c
            live = set(conn.execute(select(c.id).where(and_(
                c.id.in_([u[0] for u in updates]), c.state == JobState.STARTING.value,
                c.lease_token.in_([u[1] for u in updates])))).scalars())
            ups = [u for u in updates if u[0] in live]
            if not ups:
                return
            conn.execute(update(t.jobs).where(c.id == bindparam("_id")).values(state=JobState.RUNNING.value),
                         [{"_id": u[0]} for u in ups])
            conn.execute(
                update(t.attempts).where(t.attempts.c.id == bindparam("_aid")).values(
                    state=JobState.RUNNING.value, pid=bindparam("_pid"),
                    stdout_path=bindparam("_out"), stderr_path=bindparam("_err")),
                [{"_aid": u[1], "_pid": u[3], "_out": u[4], "_err": u[5]} for u in ups],
            )
            conn.execute(t.events.insert(), [
                {"job_id": u[0], "at": u[2], "src": "starting", "dst": "running", "reason": None,
                 "detail": f"pid {u[3]}" if u[3] else None} for u in ups])

    def finish(self, ends: Sequence[End]) -> list[int]:
        """Commit attempt outcomes whose token still owns the job; returns the job ids committed.

        An outcome whose token no longer owns the job (the attempt was requeued or the job
        cancelled meanwhile) only closes its attempt row as ``fenced``.
        """
        if not ends:
            return []
        now = time.time()
        with translated("committing attempt outcomes"), self._write() as conn:
            c = t.jobs.c
            cur = {r.id: r for r in conn.execute(
                select(c.id, c.state, c.lease_token, c.array_id).where(c.id.in_([e.job_id for e in ends]))
                .with_for_update())}
            ok: list[End] = []
            fenced: list[End] = []
            owned: set[int] = set()  # one outcome per job, even if a batch repeats one
            for e in ends:
                r = cur.get(e.job_id)
                mine = r is not None and r.lease_token == e.attempt_id and r.state in _ACTIVE and e.job_id not in owned
                (ok if mine else fenced).append(e)
                if mine:
                    owned.add(e.job_id)
            if fenced:
                conn.execute(
                    update(t.attempts).where(and_(t.attempts.c.id == bindparam("_aid"),
                                                  or_(t.attempts.c.state == _ACTIVE[0], t.attempts.c.state == _ACTIVE[1])))
                    .values(state="fenced", ended_at=bindparam("_at"), reason=bindparam("_why")),
                    [{"_aid": e.attempt_id, "_at": e.ended_at or now, "_why": _value(e.attempt_reason or e.reason)} for e in fenced],
                )
            if not ok:
                return []
            conn.execute(
                update(t.attempts).where(t.attempts.c.id == bindparam("_aid")).values(
                    state=bindparam("_st"), ended_at=bindparam("_at"), exit_code=bindparam("_code"),
                    reason=bindparam("_why"), usage=bindparam("_usage"), stdout_path=bindparam("_out"),
                    stderr_path=bindparam("_err")),
                [{"_aid": e.attempt_id, "_st": e.attempt_state, "_at": e.ended_at or now, "_code": e.exit_code,
                  "_why": _value(e.attempt_reason or e.reason), "_usage": json.dumps(e.usage) if e.usage else None,
                  "_out": e.stdout_path, "_err": e.stderr_path}
                 for e in ok],
            )
            conn.execute(
                update(t.jobs).where(c.id == bindparam("_id")).values(
                    state=bindparam("_dst"), reason=bindparam("_why"), reason_detail=bindparam("_detail"),
                    exit_code=bindparam("_code"), ended_at=bindparam("_end"), lease_token=None, lease_owner=None,
                    lease_expires_at=None, not_before_at=bindparam("_nb"),
                    retries_used=c.retries_used + bindparam("_ri"),
                    infra_retries_used=c.infra_retries_used + bindparam("_ii")),
                [{"_id": e.job_id, "_dst": e.job_dst.value, "_why": e.reason.value if e.reason else None,
                  "_detail": e.detail, "_code": e.exit_code,
                  "_end": (e.ended_at or now) if e.job_dst in TERMINAL else None,
                  "_nb": e.not_before_at, "_ri": e.retries_inc, "_ii": e.infra_inc} for e in ok],
            )
            evs = []
            for e in ok:
                src = cur[e.job_id].state
                if src == JobState.STARTING.value and e.ran_at is not None:
                    evs.append({"job_id": e.job_id, "at": e.ran_at, "src": "starting", "dst": "running",
                                "reason": None, "detail": None})
                    src = JobState.RUNNING.value
                evs.append({"job_id": e.job_id, "at": e.ended_at or now, "src": src, "dst": e.job_dst.value,
                            "reason": e.reason.value if e.reason else None, "detail": e.detail})
            conn.execute(t.events.insert(), evs)
            done = [e for e in ok if e.job_dst in TERMINAL]
            if done:
                conn.execute(t.results.insert(), [
                    {"job_id": e.job_id, "attempt_id": e.attempt_id, "encoding": e.result_encoding,
                     "data": e.result, "error": e.error, "committed_at": now} for e in done])
                self._count_elements(conn, [(cur[e.job_id].array_id, e.job_dst) for e in done], now)
            return [e.job_id for e in ok]

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
            self._count_elements(conn, ends, now)
            return [m.job_id for m in ok]

    def set_reasons(self, reasons: Iterable[tuple[int, Reason, str | None]]) -> None:
        """Update why waiting jobs wait (no event: the state does not change)."""
        rows = [{"_id": i, "_why": r.value, "_detail": d} for i, r, d in reasons]
        if not rows:
            return
        with translated("recording reasons"), self._write() as conn:
            c = t.jobs.c
            conn.execute(
                update(t.jobs).where(and_(c.id == bindparam("_id"), c.state == JobState.RUNNABLE.value))
                .values(reason=bindparam("_why"), reason_detail=bindparam("_detail")), rows)

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

    def _count_elements(self, conn: Connection, ends: Iterable[tuple[int | None, JobState]], now: float) -> None:
        """Roll element endings up into their arrays; an array ends when all its elements have."""
        per: dict[int, list[int]] = {}
        for parent, dst in ends:
            if parent is None:
                continue
            d = per.setdefault(parent, [0, 0, 0])
            d[0] += 1
            d[1] += dst is not JobState.SUCCEEDED
            d[2] += dst is JobState.CANCELLED
        if not per:
            return
        c = t.jobs.c
        conn.execute(
            update(t.jobs).where(c.id == bindparam("_id")).values(
                array_done=c.array_done + bindparam("_d"), array_failed=c.array_failed + bindparam("_f"),
                array_cancelled=c.array_cancelled + bindparam("_c")),
            [{"_id": p, "_d": d[0], "_f": d[1], "_c": d[2]} for p, d in per.items()],
        )
        rows = conn.execute(select(c.id, c.state, c.array_size, c.array_done, c.array_failed, c.array_cancelled)
                            .where(c.id.in_(list(per)))).all()
        evs = []
        for r in rows:
            if r.array_done < r.array_size or r.state in {s.value for s in TERMINAL}:
                continue
            if r.array_cancelled == r.array_size:
                dst = JobState.CANCELLED
            elif r.array_failed:
                dst = JobState.FAILED
            else:
                dst = JobState.SUCCEEDED
            conn.execute(update(t.jobs).where(c.id == r.id).values(
                state=dst.value, ended_at=now,
                reason=None if dst is JobState.SUCCEEDED else Reason.EXIT_CODE.value if dst is JobState.FAILED else Reason.CANCELLED_BY_USER.value,
                reason_detail=None if not r.array_failed else f"{r.array_failed} of {r.array_size} elements did not succeed"))
            src = r.state
            if src == JobState.RUNNABLE.value and dst is not JobState.CANCELLED:
                evs += [{"job_id": r.id, "at": now, "src": "runnable", "dst": "starting", "reason": None, "detail": None},
                        {"job_id": r.id, "at": now, "src": "starting", "dst": "running", "reason": None, "detail": None}]
                src = "running"
            evs.append({"job_id": r.id, "at": now, "src": src, "dst": dst.value, "reason": None,
                        "detail": f"{r.array_size - r.array_failed} of {r.array_size} elements succeeded"})
        if evs:
            conn.execute(t.events.insert(), evs)

    # ------------------------------------------------------------ cancel, leases, controllers

    def request_cancel(self, job_ids: Sequence[int]) -> int:
        """Flag jobs (and the elements of arrays among them) for cancellation; returns how many."""
        with translated("requesting cancellation"), self._write() as conn:
            c = t.jobs.c
            res = conn.execute(update(t.jobs).where(and_(
                or_(c.id.in_(list(job_ids)), c.array_id.in_(list(job_ids))),
                c.state.not_in([s.value for s in TERMINAL]))).values(cancel_requested=True))
            return res.rowcount or 0

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


def func_coalesce(col: Any, value: float) -> Any:
    from sqlalchemy import func

    return func.coalesce(col, value)
