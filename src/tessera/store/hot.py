"""The store's hot path in driver-level SQL: claim attempts, record them running, commit outcomes.

These run for every attempt, so they skip SQLAlchemy's expression layer: prebuilt statements,
the dialect's placeholders, ``executemany`` for batches. Semantics are those of the docstrings;
the fencing rule (a token must still own the job) is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from tessera.models.job import Attempt, Job
from tessera.models.spec import JobSpec
from tessera.models.states import TERMINAL, JobState, Reason
from tessera.store.records import Claim, End

_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
_ACTIVE = ("starting", "running")


def _v(reason: Reason | None) -> str | None:
    return reason.value if reason else None


class Sql:
    """Statements in the dialect's placeholder style, with ``IN`` lists of any length."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.lock = " FOR UPDATE" if self.pg else ""
        self._cache: dict[tuple[str, int], str] = {}

    def __call__(self, sql: str, n: int = 0) -> str:
        key = (sql, n)
        out = self._cache.get(key)
        if out is None:
            out = sql.replace("(@)", "(" + ",".join("?" * n) + ")") if n else sql
            if self.pg:
                out = out.replace("?", "%s")
            self._cache[key] = out
        return out


EVENT = "INSERT INTO events (job_id, at, src, dst, reason, detail) VALUES (?,?,?,?,?,?)"


class Tx:
    """One write transaction on the driver's own cursor (sqlite3 or psycopg), no SQLAlchemy layer.

    Statements are written with ``?`` placeholders and ``(@)`` for an ``IN`` list of ``n`` items.
    """

    __slots__ = ("cur", "q")

    def __init__(self, cur: Any, q: Sql) -> None:
        self.cur = cur
        self.q = q

    @classmethod
    def on(cls, conn: Connection, q: Sql) -> Tx:
        """Driver-level statements inside a transaction begun through SQLAlchemy on ``conn``."""
        return cls(conn.connection.driver_connection.cursor(), q)  # type: ignore[union-attr]

    def all(self, sql: str, params: Sequence[Any] = (), n: int = 0) -> list[tuple[Any, ...]]:
        self.cur.execute(self.q(sql, n), params)
        return list(self.cur.fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.cur.execute(self.q(sql), params)
        row = self.cur.fetchone()
        return None if row is None else tuple(row)

    def run(self, sql: str, params: Sequence[Any] = (), n: int = 0) -> None:
        self.cur.execute(self.q(sql, n), params)

    def changed(self, sql: str, params: Sequence[Any] = (), n: int = 0) -> int:
        """Run an UPDATE or DELETE; how many rows it changed."""
        self.cur.execute(self.q(sql, n), params)
        return int(self.cur.rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(self.q(sql), rows)


class HotWrites:
    """Mixed into ``Store``: the per-attempt transactions."""

    sql: Sql

    def _tx(self, action: str) -> contextlib.AbstractContextManager[Tx]:  # provided by Store
        raise NotImplementedError

    def _launch_rows(self, tx: Tx, job_ids: Sequence[int]) -> dict[int, Any]:
        raise NotImplementedError  # provided by Store

    def start(self, claims: Sequence[Claim], owner: str, lease_s: float, now: float | None = None,
              launch: dict[int, Any] | None = None,
              known: Mapping[int, tuple[JobSpec, bytes | None]] | None = None) -> list[Attempt]:
        """Claim runnable jobs: one attempt each, state ``starting``, the attempt id as lease token.

        ``launch``, when given, is filled with what launching each claimed job needs, as
        ``{job_id: (Job, payload, array payload)}``, read in the same transaction; ``known`` gives
        the spec and payload of single jobs the caller already holds (just submitted), which are
        then not read back.
        """
        now = time.time() if now is None else now
        if not claims:
            return []
        with self._tx("starting attempts") as tx:
            return self.claim(tx, claims, owner, lease_s, now, launch, known)

    def claim(self, tx: Tx, claims: Sequence[Claim], owner: str, lease_s: float, now: float,
              launch: dict[int, Any] | None = None,
              known: Mapping[int, tuple[JobSpec, bytes | None]] | None = None) -> list[Attempt]:
        """``start`` inside a transaction the caller holds (``Store.submit`` claims this way)."""
        by_id = {c.job_id: c for c in claims}
        ids = list(by_id)
        # by id, then filtered here: a condition on ``state`` in SQL lets SQLite walk ``jobs_queue_order``
        # over every runnable job instead (tests/integration/test_store_indexes.py checks the plans)
        rows = [r[:5] for r in tx.all(
            "SELECT id, attempts, array_id, retries_used, infra_retries_used, state, cancel_requested FROM jobs "
            "WHERE id IN (@)" + self.sql.lock, tuple(ids), len(ids)) if r[5] == "runnable" and not r[6]]
        if not rows:
            return []
        values = ",".join(["(?,?,?,?,?,?,?)"] * len(rows))
        params: list[Any] = []
        for jid, attempts, *_ in rows:
            cl = by_id[jid]
            params += [jid, attempts + 1, cl.executor, owner, "starting", json.dumps(cl.placement), now]
        got = tx.all("INSERT INTO attempts (job_id, number, executor, owner, state, placement, started_at) VALUES "
                     + values + " RETURNING id, job_id", tuple(params))
        tokens = {job_id: aid for aid, job_id in got}
        tx.many("UPDATE jobs SET state = 'starting', reason = NULL, reason_detail = NULL, attempts = attempts + 1, "
                "lease_token = ?, lease_owner = ?, lease_expires_at = ?, started_at = COALESCE(started_at, ?) "
                "WHERE id = ?", [(tokens[r[0]], owner, now + lease_s, now, r[0]) for r in rows])
        evs: list[tuple[Any, ...]] = [
            (r[0], now, "runnable", "starting", None, f"attempt {r[1] + 1} on {by_id[r[0]].executor}") for r in rows]
        parents = sorted({r[2] for r in rows if r[2] is not None})
        if parents:
            fresh = [p for p, state in tx.all("SELECT id, state FROM jobs WHERE id IN (@)" + self.sql.lock,
                                              tuple(parents), len(parents)) if state == "runnable"]
            if fresh:
                tx.many("UPDATE jobs SET state = 'running', reason = NULL, started_at = ? WHERE id = ?",
                        [(now, p) for p in fresh])
                for p in fresh:
                    evs += [(p, now, "runnable", "starting", None, "first element starting"),
                            (p, now, "starting", "running", None, None)]
        tx.many(EVENT, evs)
        if launch is not None:
            known = known or {}
            unknown = [r[0] for r in rows if r[0] not in known or r[2] is not None]
            if unknown:
                launch.update(self._launch_rows(tx, unknown))
            for jid, _n, arr, retries, infra in rows:
                if jid in known and arr is None:
                    spec, payload = known[jid]
                    launch[jid] = (Job(id=jid, spec=spec, state=JobState.STARTING, retries_used=retries,
                                       infra_retries_used=infra), payload, None)
        return [
            Attempt(id=tokens[jid], job_id=jid, number=n + 1, token=tokens[jid], executor=by_id[jid].executor,
                    state="starting", placement=by_id[jid].placement, started_at=now)
            for jid, n, *_ in rows
        ]

    def set_reasons(self, reasons: Iterable[tuple[int, Reason, str | None]]) -> None:
        """Update why runnable jobs wait (no event: the state does not change); jobs no longer
        runnable are left alone."""
        rows = [(r.value, d, i) for i, r, d in reasons]
        if not rows:
            return
        with self._tx("recording reasons") as tx:
            tx.many("UPDATE jobs SET reason = ?, reason_detail = ? WHERE id = ? AND state = 'runnable'", rows)

    def running(self, updates: Sequence[tuple[int, int, float, int | None, str | None, str | None]]) -> None:
        """Record launched attempts: (job_id, token, at, pid, stdout_path, stderr_path); starting→running."""
        if not updates:
            return
        with self._tx("recording running attempts") as tx:
            ids = [u[0] for u in updates]
            live = {(jid, tok) for jid, tok in tx.all(
                "SELECT id, lease_token FROM jobs WHERE id IN (@) AND state = 'starting'" + self.sql.lock,
                tuple(ids), len(ids))}
            ups = [u for u in updates if (u[0], u[1]) in live]
            if not ups:
                return
            tx.many("UPDATE jobs SET state = 'running' WHERE id = ?", [(u[0],) for u in ups])
            tx.many("UPDATE attempts SET state = 'running', pid = ?, stdout_path = ?, stderr_path = ? WHERE id = ?",
                    [(u[3], u[4], u[5], u[1]) for u in ups])
            tx.many(EVENT, [(u[0], u[2], "starting", "running", None, f"pid {u[3]}" if u[3] else None) for u in ups])

    def finish(self, ends: Sequence[End], ended_arrays: list[int] | None = None) -> list[int]:
        """Commit attempt outcomes whose token still owns the job; returns the job ids committed.

        An outcome whose token no longer owns the job (the attempt was requeued or the job
        cancelled meanwhile) only closes its attempt row as ``fenced``; the first outcome of a
        job in a batch wins.
        """
        if not ends:
            return []
        now = time.time()
        with self._tx("committing attempt outcomes") as tx:
            ids = sorted({e.job_id for e in ends})
            cur = {r[0]: r for r in tx.all(
                "SELECT id, state, lease_token, array_id FROM jobs WHERE id IN (@)" + self.sql.lock,
                tuple(ids), len(ids))}
            ok: list[End] = []
            fenced: list[End] = []
            owned: set[int] = set()
            for e in ends:
                r = cur.get(e.job_id)
                mine = r is not None and r[2] == e.attempt_id and r[1] in _ACTIVE and e.job_id not in owned
                (ok if mine else fenced).append(e)
                if mine:
                    owned.add(e.job_id)
            if fenced:
                tx.many(
                    "UPDATE attempts SET state = 'fenced', ended_at = ?, reason = ? "
                    "WHERE id = ? AND state IN ('starting', 'running')",
                    [(e.ended_at or now, _v(e.attempt_reason or e.reason), e.attempt_id) for e in fenced])
            if not ok:
                return []
            tx.many(
                "UPDATE attempts SET state = ?, ended_at = ?, exit_code = ?, reason = ?, usage = ?, "
                "stdout_path = ?, stderr_path = ? WHERE id = ?",
                [(e.attempt_state, e.ended_at or now, e.exit_code, _v(e.attempt_reason or e.reason),
                  json.dumps(e.usage) if e.usage else None, e.stdout_path, e.stderr_path, e.attempt_id)
                 for e in ok])
            tx.many(
                "UPDATE jobs SET state = ?, reason = ?, reason_detail = ?, exit_code = ?, ended_at = ?, "
                "lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL, not_before_at = ?, "
                "retries_used = retries_used + ?, infra_retries_used = infra_retries_used + ? WHERE id = ?",
                [(e.job_dst.value, _v(e.reason), e.detail, e.exit_code,
                  (e.ended_at or now) if e.job_dst in TERMINAL else None, e.not_before_at, e.retries_inc,
                  e.infra_inc, e.job_id) for e in ok])
            evs: list[tuple[Any, ...]] = []
            for e in ok:
                src = cur[e.job_id][1]
                if src == "starting" and e.ran_at is not None:
                    evs.append((e.job_id, e.ran_at, "starting", "running", None, None))
                    src = "running"
                evs.append((e.job_id, e.ended_at or now, src, e.job_dst.value, _v(e.reason), e.detail))
            tx.many(EVENT, evs)
            done = [e for e in ok if e.job_dst in TERMINAL]
            if done:
                tx.many("INSERT INTO results (job_id, attempt_id, encoding, data, error, committed_at) "
                        "VALUES (?,?,?,?,?,?)",
                        [(e.job_id, e.attempt_id, e.result_encoding, e.result, e.error, now) for e in done])
                self._count_elements(tx, [(cur[e.job_id][3], e.job_dst) for e in done], now, ended_arrays)
            return [e.job_id for e in ok]

    def _count_elements(self, tx: Tx, ends: Iterable[tuple[int | None, JobState]], now: float,
                        ended: list[int] | None = None) -> None:
        """Roll element endings up into their arrays; an array ends when all its elements have
        (its id is then appended to ``ended``)."""
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
        tx.many("UPDATE jobs SET array_done = array_done + ?, array_failed = array_failed + ?, "
                "array_cancelled = array_cancelled + ? WHERE id = ?", [(d[0], d[1], d[2], p) for p, d in per.items()])
        rows = tx.all("SELECT id, state, array_size, array_done, array_failed, array_cancelled FROM jobs "
                      "WHERE id IN (@)", tuple(per), len(per))
        evs: list[tuple[Any, ...]] = []
        for pid, state, size, done, failed, cancelled in rows:
            if done < size or state in _TERMINAL_VALUES:
                continue
            if cancelled == size or (cancelled and failed == cancelled):
                # cancelled, or cancelled after some elements succeeded (none failed): a cancel
                dst, why = JobState.CANCELLED, Reason.CANCELLED_BY_USER
            elif failed:
                dst, why = JobState.FAILED, Reason.EXIT_CODE
            else:
                dst, why = JobState.SUCCEEDED, None
            detail = f"{failed} of {size} elements did not succeed" if failed else None
            if ended is not None:
                ended.append(pid)
            tx.run("UPDATE jobs SET state = ?, ended_at = ?, reason = ?, reason_detail = ? WHERE id = ?",
                   (dst.value, now, _v(why), detail, pid))
            src = state
            if src == "runnable" and dst is not JobState.CANCELLED:
                evs += [(pid, now, "runnable", "starting", None, None), (pid, now, "starting", "running", None, None)]
                src = "running"
            evs.append((pid, now, src, dst.value, None, f"{size - failed} of {size} elements succeeded"))
        tx.many(EVENT, evs)
