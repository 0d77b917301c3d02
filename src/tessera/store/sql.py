"""``Store``: the durable state of jobs, attempts, events and results on SQLite or PostgreSQL.

Every write is one transaction. Job moves are fenced by the state they leave; attempt outcomes are
fenced by the lease token (the attempt id) that must still own the job, and ``results`` has the job
id as its primary key, so no job ever has two committed results.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select, true, update

from tessera.errors import NotFoundError, SpecError
from tessera.models.job import Attempt, Event, Job, parse_ref
from tessera.models.spec import JobSpec
from tessera.models.states import TERMINAL, JobState, Reason
from tessera.store import schema as t
from tessera.store.engine import WAL_LIMIT, Checkpointer, WriterLock, make_engine, translated
from tessera.store.hot import EVENT, HotWrites, Sql, Tx
from tessera.store.records import (
    Candidate,
    Finished,
    NewJob,
    attempt_from_row,
    event_from_row,
    job_from_row,
)
from tessera.store.writes import StoreWrites

_TERMINAL = [s.value for s in TERMINAL]
_INSERT_JOB = (
    "INSERT INTO jobs (name, kind, spec, payload, queue, queue_priority, priority, project, cpus, memory_mb, gpus, "
    "timeout_s, state, reason, submitted_at, is_array, array_size, array_max_running, array_max_failures, "
    "array_done, array_failed, array_cancelled, attempts, retries_used, infra_retries_used, cancel_requested) "
    "VALUES (?,?,?,?,?,(SELECT priority FROM queues WHERE name = ?),?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "RETURNING id, queue_priority")
_INSERT_PAYLOAD = "INSERT INTO payloads (job_id, data) VALUES (?,?)"
# jobs with their payloads, in the row or in ``payloads`` (``schema.PAYLOAD_INLINE_MAX``)
_WITH_PAYLOAD = "jobs j LEFT JOIN payloads p ON p.job_id = j.id"
_PAYLOAD = f"SELECT COALESCE(j.payload, p.data), j.array_id FROM {_WITH_PAYLOAD} WHERE j.id = ?"  # and its array
_EVENTS = {n: EVENT + ",(?,?,?,?,?,?)" * (n - 1) for n in (2, 3)}  # a job's creation events in one statement
PARSED_TEXT_MAX = 4096  # longer stored specs (large JSON arguments) are parsed each time, not kept
_ACTIVE = [JobState.STARTING.value, JobState.RUNNING.value]


def _bytes(data: Any) -> bytes | None:
    """A BLOB as bytes (psycopg returns ``memoryview``)."""
    return None if data is None else bytes(data)


def _file_bytes(path: str) -> int:
    """The bytes of a SQLite database and its write-ahead log on disk."""
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _split(payload: bytes | None) -> tuple[bytes | None, bytes | None]:
    """(what a job's row holds, what goes to ``payloads``): a payload larger than
    ``PAYLOAD_INLINE_MAX`` goes out of the row, so that its job's state changes never rewrite it."""
    if payload is not None and len(payload) > t.PAYLOAD_INLINE_MAX:
        return None, payload
    return payload, None


class Store(HotWrites, StoreWrites):
    """The durable store. Thread-safe; each call is its own transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self.sql = Sql(self.dialect)
        self._specs: dict[int, JobSpec] = {}  # by job (or array) id
        self._parsed: dict[tuple[str, str], JobSpec] = {}  # by stored text (``_parse_spec``)
        self._array_payloads: dict[int, bytes | None] = {}
        # SQLite has one writer at a time: threads of this process take turns here rather than in
        # SQLite's busy handler (which sleeps in steps of milliseconds), on one kept connection.
        self._wlock = threading.RLock()
        self._wconn: Connection | None = None
        self._wdepth = 0
        self._checkpointer: Checkpointer | None = None
        self._queues: set[str] = set()  # queue names seen (queues are never deleted)
        path = self.engine.url.database if self.dialect == "sqlite" else None
        self._file = path if path and path != ":memory:" else None  # a SQLite database on disk
        # ... and the processes sharing the file take turns at ``WriterLock``, one transaction each
        self._xlock = WriterLock(self._file) if self._file else None
        with translated("migrating the schema"), self._write() as conn:
            t.migrate(conn)
            if conn.execute(select(t.queues.c.name).where(t.queues.c.name == "default")).first() is None:
                conn.execute(t.queues.insert().values(name="default", priority=0, created_at=time.time()))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._wlock:
            if self._wconn is not None:
                self._wconn.close()
                self._wconn = None
            if self._xlock is not None:
                self._xlock.close()
        self.engine.dispose()

    def checkpoint_in_background(self, every_s: float | None = 0.2, limit: int = WAL_LIMIT) -> None:
        """SQLite: move WAL checkpoints off this store's commits into a thread (``Checkpointer``,
        which also keeps the log under ``limit`` bytes). For a long-lived process on the hot path
        (a controller); a no-op on PostgreSQL."""
        if self.dialect != "sqlite" or self._checkpointer is not None:
            return
        path = self.engine.url.database
        if not path or path == ":memory:":
            return
        self._checkpointer = Checkpointer(path, every_s, hold=lambda: self._wlock, limit=limit)
        with self._wlock:
            if self._wconn is not None:  # the next write connection is made without automatic checkpoints
                self._wconn.close()
                self._wconn = None

    def _connect_writer(self) -> Connection:
        conn = self.engine.connect().execution_options(tessera_write=True)
        if self._checkpointer is not None:
            conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        return conn

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Keep this process's turn at writing across several transactions and the Python between them.

        The embedded controller takes it for each of its steps. Threads of one process share the GIL:
        a thread that released it for a SQLite call must win it back, so a submit transaction begun
        by another thread would otherwise stretch while the controller runs Python, and the write
        lock with it. Taking turns step by step keeps each transaction short. On PostgreSQL nothing
        is held (its writers do not share a connection).
        """
        if self.dialect == "postgresql":
            yield
            return
        with self._wlock:
            yield

    def vacuum(self) -> tuple[int, int] | None:
        """Give back the room that deletions (``tessera prune``) left in the database.

        SQLite: ``VACUUM`` rewrites the file without its free pages, then a TRUNCATE checkpoint
        empties the write-ahead log (which the rewrite filled with the whole database). It holds the
        turn at writing throughout, so every writer, a running controller's too, waits about as
        long as copying the file takes; readers go on. Returns the bytes of the database and its log
        before and after (the log stays if a reader was in the middle of a read). PostgreSQL:
        ``VACUUM (ANALYZE)`` makes the room reusable by later rows without returning it to the
        filesystem and without blocking anyone (``VACUUM FULL`` would, on every table); returns None.
        """
        if self.dialect == "postgresql":
            with translated("vacuuming the store"), \
                    self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE)")
            return None
        path = self._file
        if path is None:
            return None
        before = _file_bytes(path)
        with translated("vacuuming the store"), self._wlock, self._held():
            raw = self.engine.raw_connection()
            try:
                driver: Any = raw.driver_connection  # autocommit (``make_engine``): VACUUM needs no transaction
                driver.execute("VACUUM")
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.close()
        return before, _file_bytes(path)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        if self.dialect == "postgresql":  # row locks: concurrent writers are fine
            with self.engine.connect().execution_options(tessera_write=True) as conn, conn.begin():
                conn.exec_driver_sql("SET LOCAL lock_timeout = '60s'")
                yield conn
            return
        with self._wlock:
            if self._wdepth:  # a write inside a write of this thread: the same transaction
                assert self._wconn is not None
                yield self._wconn
                return
            if self._wconn is None or self._wconn.invalidated or self._wconn.closed:
                self._wconn = self._connect_writer()
            conn = self._wconn
            self._wdepth += 1
            try:
                with self._held(), conn.begin():
                    yield conn
            except BaseException:
                self._wconn = None  # do not reuse a connection that failed mid-transaction
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            finally:
                self._wdepth -= 1

    @contextlib.contextmanager
    def _tx(self, action: str) -> Iterator[Tx]:
        """A write transaction at the driver level, for the hot path (submit, claim, commit)."""
        with translated(action):
            if self.dialect == "postgresql":
                with self._write() as conn:
                    yield Tx.on(conn, self.sql)
                return
            with self._wlock:
                assert not self._wdepth, "no driver-level transaction inside another write"
                if self._wconn is None or self._wconn.invalidated or self._wconn.closed:
                    self._wconn = self._connect_writer()
                raw: Any = self._wconn.connection.driver_connection
                cur = raw.cursor()
                self._wdepth += 1
                try:
                    with self._held():
                        cur.execute("BEGIN IMMEDIATE")
                        try:
                            yield Tx(cur, self.sql)
                            raw.commit()
                        except BaseException:
                            with contextlib.suppress(Exception):
                                raw.rollback()
                            raise
                finally:
                    self._wdepth -= 1
                    cur.close()

    def _held(self) -> contextlib.AbstractContextManager[None]:
        return self._xlock.held() if self._xlock is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def _hot_read(self) -> Iterator[Any]:
        """A driver-level cursor for a small read on the hot path: a pooled connection without
        SQLAlchemy's ``Connection`` and transaction, which cost more than the read. On SQLite the
        connection is in autocommit mode, so each statement reads its own snapshot."""
        if self.dialect != "sqlite":
            with self._read() as conn:
                yield conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            return
        raw = self.engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                yield cur
            finally:
                cur.close()
        finally:
            raw.close()  # back to the pool

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # ---------------------------------------------------------------- queues

    def queues(self) -> dict[str, int]:
        with translated("listing queues"), self._read() as conn:
            return {r.name: r.priority for r in conn.execute(select(t.queues))}

    def create_queue(self, name: str, priority: int = 0) -> None:
        from tessera.models.spec import _QUEUE

        if not _QUEUE.match(name) or not -1_000_000 <= priority <= 1_000_000:
            raise SpecError(
                f"queue name {name!r} or priority {priority} is not valid",
                "use 1-63 lower-case letters, digits, '_' or '-', and a priority in ±1,000,000",
            )
        with translated("creating a queue"), self._write() as conn:
            if conn.execute(select(t.queues.c.name).where(t.queues.c.name == name)).first():
                conn.execute(update(t.queues).where(t.queues.c.name == name).values(priority=priority))
            else:
                conn.execute(t.queues.insert().values(name=name, priority=priority, created_at=time.time()))

    # ---------------------------------------------------------------- submit

    def submit(self, items: Sequence[NewJob], now: float | None = None,
               accepted: list[Candidate] | None = None,
               admit: Callable[[Tx, list[Candidate]], None] | None = None,
               then: Callable[[Tx, list[int]], None] | None = None) -> list[int]:
        """Insert jobs (and array elements) in one transaction; returns the top-level job ids.

        ``accepted``, when given, receives the scheduling view (``Candidate``) of each inserted job
        that is runnable at once (no dependency, not an array), so an embedded controller can take
        it without reading it back; ``admit`` is called with them inside the transaction, last, so
        that such a controller may claim them in it (``Controller.admitting``). ``then`` is called
        with the transaction and the ids before that, so a caller may write (or refuse) in the same
        transaction (the server's audit entries).
        """
        now = time.time() if now is None else now
        if accepted is None and admit is not None:
            accepted = []
        with self._tx("submitting jobs") as tx:
            if any(item.spec.queue not in self._queues for item in items):
                self._queues = {name for (name,) in tx.all("SELECT name FROM queues")}  # never deleted
            ids: list[int] = []
            for item in items:
                spec = item.spec
                if spec.queue not in self._queues:
                    raise SpecError(
                        f"unknown queue {spec.queue!r}",
                        f"use one of {', '.join(sorted(self._queues))}, "
                        f"or create it with `tessera queue create {spec.queue}`",
                    )
                dep_rows = [(kind, self._resolve(tx, ref, ids)) for kind, ref in item.deps]
                state = JobState.PENDING if dep_rows or item.hold else JobState.RUNNABLE
                why = Reason.BUDGET.value if item.hold else Reason.DEPENDENCY.value if dep_rows else None
                r, arr = spec.resources, spec.array
                inline, big = _split(spec.payload)
                row = (spec.name, spec.kind, item.spec_json or spec.model_dump_json(exclude={"payload"}), inline,
                       spec.queue,
                       spec.queue, spec.priority, spec.project, r.cpus, r.memory_mb, r.gpus, spec.timeout_s,
                       state.value, why, now, arr is not None, arr.size if arr else None,
                       arr.max_running if arr else None, arr.max_failures if arr else None, 0, 0, 0, 0, 0, 0, False)
                got = tx.one(_INSERT_JOB, row)
                assert got is not None
                job_id, queue_priority = got
                ids.append(job_id)
                if big is not None:
                    tx.run(_INSERT_PAYLOAD, (job_id, big))
                if accepted is not None and state is JobState.RUNNABLE and arr is None:
                    accepted.append(Candidate(job_id, queue_priority, spec.priority, r.cpus, r.memory_mb, r.gpus,
                                              spec.timeout_s, None, spec.kind, spec.queue))
                evs = [(job_id, now, None, "submitted", None, None), (job_id, now, "submitted", "pending", why, None)]
                if state is JobState.RUNNABLE:
                    evs.append((job_id, now, "pending", "runnable", None, None))
                tx.run(_EVENTS[len(evs)], [v for ev in evs for v in ev])  # one statement, not one per row
                corr = [target for kind, target in dep_rows if kind == "aftercorr"]
                tx.many("INSERT INTO deps (job_id, kind, on_job_id) VALUES (?,?,?)",
                        [(job_id, k, o) for k, o in dep_rows if k != "aftercorr"])
                if arr is not None:
                    self._insert_elements(tx, job_id, item, state, corr, now, queue_priority)
                elif corr:
                    raise SpecError(
                        "aftercorr pairs array elements by index, but this job is not an array",
                        "use afterok for a single job, or give this job an --array",
                    )
            if then is not None:
                then(tx, ids)
            if admit is not None and accepted:
                admit(tx, accepted)
            return ids

    @staticmethod
    def _resolve(tx: Tx, ref: int | tuple[str, int], batch_ids: list[int]) -> int:
        if isinstance(ref, tuple):
            return batch_ids[ref[1]]
        if tx.one("SELECT id FROM jobs WHERE id = ?", (ref,)) is None:
            raise SpecError(
                f"dependency on job {ref}, which does not exist",
                "depend only on job ids that `tessera ls` shows",
            )
        return ref

    @staticmethod
    def _insert_elements(tx: Tx, parent: int, item: NewJob, state: JobState, corr: list[int], now: float,
                         queue_priority: int) -> None:
        spec = item.spec
        assert spec.array is not None
        payloads = item.element_payloads
        if payloads is not None and len(payloads) != spec.array.size:
            raise SpecError("element payloads do not match the array size", "pass one item per element")
        r = spec.resources
        why = Reason.DEPENDENCY.value if state is JobState.PENDING else None
        const = (spec.kind, spec.queue, queue_priority, spec.priority, spec.project, r.cpus, r.memory_mb, r.gpus,
                 spec.timeout_s, now, parent, state.value, why)
        values: list[tuple[Any, ...]]
        indices = spec.array.indices
        split = [_split(p) for p in payloads] if payloads is not None else [(None, None)] * len(indices)
        values = [(*const, index, inline) for index, (inline, _) in zip(indices, split, strict=True)]
        big = {index: out for index, (_, out) in zip(indices, split, strict=True) if out is not None}
        tx.many("INSERT INTO jobs (kind, queue, queue_priority, priority, project, cpus, memory_mb, gpus, timeout_s, "
                "submitted_at, array_id, state, reason, array_index, payload) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
        elements = tx.all("SELECT id, array_index FROM jobs WHERE array_id = ?", (parent,))
        if big:
            tx.many(_INSERT_PAYLOAD, [(eid, big[index]) for eid, index in elements if index in big])
        detail = f"element of array {parent}"
        tx.many("INSERT INTO events (job_id, at, dst, reason, detail) VALUES (?,?,?,?,?)",
                [(e[0], now, state.value, why, detail) for e in elements])
        for target in corr:
            theirs = dict(tx.all("SELECT array_index, id FROM jobs WHERE array_id = ?", (target,)))
            if not theirs:
                raise SpecError(f"aftercorr:{target} names a job that is not an array", "use afterok for it")
            missing = [index for _id, index in elements if index not in theirs]
            if missing:
                raise SpecError(
                    f"aftercorr:{target}: indices {missing[:5]} have no counterpart in array {target}",
                    "give both arrays the same indices, or use afterok",
                )
            tx.many("INSERT INTO deps (job_id, kind, on_job_id) VALUES (?,?,?)",
                    [(eid, "afterok", theirs[index]) for eid, index in elements])
            if state is JobState.RUNNABLE:
                tx.run("UPDATE jobs SET state = ?, reason = ? WHERE array_id = ?",
                       (JobState.PENDING.value, Reason.DEPENDENCY.value, parent))

    # ---------------------------------------------------------------- reads

    def spec_of(self, conn: Connection, row: Any) -> JobSpec:
        m = row._mapping
        key = m["array_id"] if m["array_id"] is not None else m["id"]
        return self._spec(key, m["kind"], m["spec"],
                          lambda k: conn.execute(select(t.jobs.c.spec).where(t.jobs.c.id == k)).scalar_one())

    def _spec(self, key: int, kind: str, text: str | None, text_of: Callable[[int], str]) -> JobSpec:
        """The spec of job (or array) ``key`` from its stored ``text``; an array element stores none,
        and ``text_of`` reads its array's. Kept by id, for the next read of the same job or array."""
        spec = self._specs.get(key)
        if spec is None:
            spec = self._parse_spec(kind, text if text is not None else text_of(key))
            if len(self._specs) > 4096:
                self._specs.clear()
            self._specs[key] = spec
        return spec

    def _parse_spec(self, kind: str, text: str) -> JobSpec:
        """A stored spec, parsed once per distinct text: jobs submitted alike (a loop of SDK submits,
        one command submitted again) share one ``JobSpec`` (frozen). Long texts are not kept."""
        spec = self._parsed.get((kind, text))
        if spec is None:
            spec = JobSpec.model_validate_json(text) if kind != "pickle" else _pickle_spec(text)
            if len(text) <= PARSED_TEXT_MAX:
                if len(self._parsed) >= 1024:
                    self._parsed.clear()
                self._parsed[(kind, text)] = spec
        return spec

    def job(self, ref: str | int) -> Job:
        """A job by id (``12``) or array element (``12_3``)."""
        job_id, index = parse_ref(ref)
        with translated("reading a job"), self._read() as conn:
            if index is None:
                row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
            else:
                row = conn.execute(
                    select(t.jobs).where(and_(t.jobs.c.array_id == job_id, t.jobs.c.array_index == index))
                ).first()
            if row is None:
                raise NotFoundError(f"no job {ref}", "list jobs with `tessera ls`")
            return job_from_row(row, self.spec_of(conn, row))

    def jobs(
        self,
        states: Iterable[JobState] | None = None,
        ids: Iterable[int] | None = None,
        limit: int = 1000,
        elements: bool = False,
        array_id: int | None = None,
    ) -> list[Job]:
        q = select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)
        if states is not None:
            q = q.where(t.jobs.c.state.in_([s.value for s in states]))
        if ids is not None:
            q = q.where(t.jobs.c.id.in_(list(ids)))
        if array_id is not None:
            q = q.where(t.jobs.c.array_id == array_id)
        elif not elements and ids is None:
            q = q.where(t.jobs.c.array_id.is_(None))
        with translated("listing jobs"), self._read() as conn:
            return [job_from_row(r, self.spec_of(conn, r)) for r in conn.execute(q)]

    def payload(self, job_id: int) -> bytes | None:
        """The job's own payload, or its array's."""
        with translated("reading a payload"), self._read() as conn:
            row = conn.exec_driver_sql(self.sql(_PAYLOAD), (job_id,)).first()
            if row is not None and row[0] is None and row[1] is not None:
                row = conn.exec_driver_sql(self.sql(_PAYLOAD), (row[1],)).first()
            return None if row is None or row[0] is None else bytes(row[0])

    def _launch_rows(self, tx: Tx, job_ids: Sequence[int]) -> dict[int, tuple[Job, bytes | None, bytes | None]]:
        out: dict[int, tuple[Job, bytes | None, bytes | None]] = {}
        rows = tx.all("SELECT j.id, j.array_id, j.array_index, j.retries_used, j.infra_retries_used, j.kind, j.spec, "
                      f"COALESCE(j.payload, p.data) FROM {_WITH_PAYLOAD} WHERE j.id IN (@)", tuple(job_ids), len(job_ids))
        def text_of(key: int) -> str:
            got = tx.one("SELECT spec FROM jobs WHERE id = ?", (key,))
            assert got is not None
            return str(got[0])

        for jid, arr, index, retries, infra, kind, spec_text, payload in rows:
            spec = self._spec(arr if arr is not None else jid, kind, spec_text, text_of)
            array_payload = None
            if arr is not None and kind == "pickle":
                array_payload = self._array_payloads.get(arr)
                if array_payload is None:
                    got = tx.one(_PAYLOAD, (arr,))
                    array_payload = got[0] if got else None
                    if len(self._array_payloads) > 64:
                        self._array_payloads.clear()
                    self._array_payloads[arr] = array_payload
            job = Job(id=jid, spec=spec, state=JobState.STARTING, array_id=arr, array_index=index,
                      retries_used=retries, infra_retries_used=infra)
            out[jid] = (job, payload, array_payload)
        return out

    def finished(self, job_id: int) -> Finished | None:
        """A job's state with its committed result, in one read: (state, encoding, data, error)."""
        with translated("reading a job's outcome"), self._hot_read() as cur:
            cur.execute(self.sql(
                "SELECT j.state, r.encoding, r.data, r.error FROM jobs j LEFT JOIN results r ON r.job_id = j.id "
                "WHERE j.id = ?"), (job_id,))
            r = cur.fetchone()
            return None if r is None else (JobState(r[0]), r[1], _bytes(r[2]), r[3])

    def outcomes(self, job_ids: Sequence[int], max_bytes: int) -> dict[int, Finished]:
        """The committed outcomes of those of these jobs that ended with a result of at most
        ``max_bytes`` (or none), in one read: what a client hands its waiters when told they ended."""
        ids = list(job_ids)
        if not ids:
            return {}
        with translated("reading outcomes"), self._hot_read() as cur:
            cur.execute(self.sql(
                "SELECT j.id, j.state, r.encoding, r.data, r.error FROM jobs j LEFT JOIN results r ON r.job_id = j.id "
                "WHERE j.id IN (@) AND (r.data IS NULL OR length(r.data) <= ?)", len(ids)), (*ids, max_bytes))
            return {r[0]: (JobState(r[1]), r[2], _bytes(r[3]), r[4]) for r in cur.fetchall()
                    if r[1] in _TERMINAL}

    def has_deps(self) -> bool:
        """Whether any job has a dependency at all (lets the controller skip dependency reads)."""
        with translated("reading dependencies"), self._read() as conn:
            return conn.exec_driver_sql("SELECT 1 FROM deps LIMIT 1").first() is not None

    def events(self, job_id: int) -> list[Event]:
        with translated("reading events"), self._read() as conn:
            q = select(t.events).where(t.events.c.job_id == job_id).order_by(t.events.c.id)
            return [event_from_row(r) for r in conn.execute(q)]

    def attempts(self, job_id: int | None = None, open_only: bool = False) -> list[Attempt]:
        q = select(t.attempts).order_by(t.attempts.c.id)
        if job_id is not None:
            q = q.where(t.attempts.c.job_id == job_id)
        if open_only:
            q = q.where(t.attempts.c.state.in_(_ACTIVE))
        with translated("reading attempts"), self._read() as conn:
            return [attempt_from_row(r) for r in conn.execute(q)]

    def result(self, job_id: int) -> tuple[str | None, bytes | None, str | None] | None:
        """(encoding, data, error) of the committed result, or None."""
        with translated("reading a result"), self._read() as conn:
            r = conn.exec_driver_sql(self.sql("SELECT encoding, data, error FROM results WHERE job_id = ?"),
                                     (job_id,)).first()
            return None if r is None else (r[0], r[1], r[2])

    def array_results(self, array_id: int) -> list[tuple[int, int, str, str | None, bytes | None, str | None]]:
        """Every element of an array in index order: (id, index, state, encoding, data, error)."""
        with translated("reading an array's results"), self._read() as conn:
            rows = conn.exec_driver_sql(self.sql(
                "SELECT j.id, j.array_index, j.state, r.encoding, r.data, r.error FROM jobs j "
                "LEFT JOIN results r ON r.job_id = j.id WHERE j.array_id = ? ORDER BY j.array_index"),
                (array_id,)).all()
            return [tuple(r) for r in rows]  # type: ignore[misc]

    def counts(self, elements: bool = True) -> dict[str, int]:
        q = select(t.jobs.c.state, func.count()).where(t.jobs.c.is_array.is_(False)).group_by(t.jobs.c.state)
        with translated("counting jobs"), self._read() as conn:
            return {s: n for s, n in conn.execute(q)}

    def element_counts(self, array_id: int) -> dict[str, int]:
        q = select(t.jobs.c.state, func.count()).where(t.jobs.c.array_id == array_id).group_by(t.jobs.c.state)
        with translated("counting elements"), self._read() as conn:
            return {s: n for s, n in conn.execute(q)}

    def candidates(self, limit: int) -> list[Candidate]:
        """Runnable jobs in scheduling order: queue priority, job priority, then submission."""
        q = self.sql
        with translated("reading runnable jobs"), self._hot_read() as cur:
            cur.execute(q(
                "SELECT id, queue_priority, priority, cpus, memory_mb, gpus, timeout_s, array_id, kind, queue FROM jobs "
                "WHERE state = 'runnable' AND is_array = ? ORDER BY queue_priority DESC, priority DESC, id LIMIT ?"),
                (False, limit))
            return [Candidate(*r) for r in cur.fetchall()]

    def array_limits(self, array_ids: Iterable[int]) -> dict[int, tuple[int | None, int | None, int]]:
        """For arrays: (max_running, max_failures, failed so far)."""
        c = t.jobs.c
        ids = list(array_ids)
        if not ids:
            return {}
        with translated("reading arrays"), self._read() as conn:
            q = select(c.id, c.array_max_running, c.array_max_failures, c.array_failed).where(c.id.in_(ids))
            return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(q)}

    def waiting_on_deps(self, after_id: int = 0) -> list[int]:
        """Pending jobs held by dependencies (ids greater than ``after_id``)."""
        c = t.jobs.c
        q = select(c.id).where(and_(c.state == JobState.PENDING.value, c.reason == Reason.DEPENDENCY.value,
                                    c.id > after_id)).order_by(c.id)
        with translated("reading pending jobs"), self._read() as conn:
            return list(conn.execute(q).scalars())

    def dependents(self, on_ids: Iterable[int]) -> list[int]:
        """Pending jobs with a dependency on any of ``on_ids`` (array parents stand for their elements)."""
        ids = list(on_ids)
        if not ids:
            return []
        with translated("reading dependents"), self._read() as conn:
            q = select(t.deps.c.job_id).where(t.deps.c.on_job_id.in_(ids)).distinct()
            return list(conn.execute(q).scalars())

    def dependency_states(self, job_ids: Iterable[int]) -> dict[int, list[tuple[str, int, str]]]:
        """For each job: its dependencies as (kind, on_job_id, state of that job)."""
        ids = list(job_ids)
        out: dict[int, list[tuple[str, int, str]]] = {i: [] for i in ids}
        if not ids:
            return out
        with translated("reading dependencies"), self._read() as conn:
            q = (
                select(t.deps.c.job_id, t.deps.c.kind, t.deps.c.on_job_id, t.jobs.c.state)
                .join(t.jobs, t.jobs.c.id == t.deps.c.on_job_id)
                .where(t.deps.c.job_id.in_(ids))
            )
            for job_id, kind, on, state in conn.execute(q):
                out[job_id].append((kind, on, state))
        return out

    def due_backoffs(self, now: float) -> tuple[list[int], float | None]:
        """Jobs whose retry backoff is over, and the earliest time another one ends."""
        c = t.jobs.c
        base = and_(c.state == JobState.PENDING.value, c.reason == Reason.BACKOFF.value)
        with translated("reading backoffs"), self._read() as conn:
            due = list(conn.execute(select(c.id).where(and_(base, c.not_before_at <= now))).scalars())
            nxt = conn.execute(select(func.min(c.not_before_at)).where(and_(base, c.not_before_at > now))).scalar()
        return due, nxt

    def cancel_requests(self) -> list[tuple[int, str]]:
        c = t.jobs.c
        q = select(c.id, c.state).where(and_(c.cancel_requested == true(), c.state.not_in(_TERMINAL)))  # jobs_cancel
        with translated("reading cancel requests"), self._read() as conn:
            return [(r[0], r[1]) for r in conn.execute(q)]

    def max_job_id(self) -> int:
        with translated("reading job ids"), self._read() as conn:
            return conn.execute(select(func.max(t.jobs.c.id))).scalar() or 0


def _pickle_spec(text: str) -> JobSpec:
    data = json.loads(text)
    data["payload"] = b""
    return JobSpec.model_validate(data)
