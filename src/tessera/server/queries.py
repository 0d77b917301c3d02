"""The server's reads: jobs of one project, paged by id (keyset), with filters; counts by state."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select

from tessera.errors import NotFoundError
from tessera.models.job import Job
from tessera.models.states import JobState
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.records import job_from_row


def visible(store: Store, project: str, ref: str | int) -> Job:
    """A job of ``project``; jobs of other projects do not exist for the caller (404)."""
    job = store.job(ref)
    if job.spec.project != project:
        raise NotFoundError(f"no job {ref}", "list jobs with `tessera ls` or GET /api/v1/jobs")
    return job


def page(store: Store, project: str, states: Sequence[JobState] | None = None, queue: str | None = None,
         name: str | None = None, ids: Sequence[int] | None = None, array_id: int | None = None,
         elements: bool = False, before: int | None = None, limit: int = 50) -> tuple[list[Job], int | None]:
    """Newest first; returns the page and the ``before`` cursor of the next page (None at the end)."""
    c = t.jobs.c
    q = select(t.jobs).where(c.project == project).order_by(c.id.desc()).limit(limit + 1)
    if states:
        q = q.where(c.state.in_([s.value for s in states]))
    if queue:
        q = q.where(c.queue == queue)
    if name:
        q = q.where(c.name == name)
    if ids is not None:
        q = q.where(c.id.in_(list(ids)))
    if array_id is not None:
        q = q.where(c.array_id == array_id)
    elif not elements and ids is None:
        q = q.where(c.array_id.is_(None))
    if before is not None:
        q = q.where(c.id < before)
    with translated("listing jobs"), store._read() as conn:
        rows = conn.execute(q).all()
        jobs = [job_from_row(r, store.spec_of(conn, r)) for r in rows[:limit]]
    return jobs, (jobs[-1].id if len(rows) > limit else None)


def counts(store: Store, project: str, by_queue: bool = False) -> dict[str, dict[str, int]]:
    """Top-level job counts of a project by state, per queue (``by_queue``) or under ``"all"``."""
    c = t.jobs.c
    key = c.queue if by_queue else c.project
    q = (select(key, c.state, func.count()).where(and_(c.project == project, c.is_array.is_(False)))
         .group_by(key, c.state))
    out: dict[str, dict[str, int]] = {}
    with translated("counting jobs"), store._read() as conn:
        for k, state, n in conn.execute(q):
            out.setdefault(k if by_queue else "all", {})[state] = n
    return out
