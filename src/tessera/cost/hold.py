"""Releasing jobs a budget held: each goes where it would have gone had it not been held."""

from __future__ import annotations

from sqlalchemy import and_, select

from tessera.models.states import JobState, Reason
from tessera.scheduler.deps import DepStatus, evaluate
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated
from tessera.store.records import Move

_PENDING = frozenset({JobState.PENDING})


def held(store: Store, project: str) -> list[tuple[int, int | None]]:
    """(job id, array id) of the project's held jobs, parents before elements."""
    c = t.jobs.c
    q = select(c.id, c.array_id).where(and_(c.project == project, c.state == JobState.PENDING.value,
                                            c.reason == Reason.BUDGET.value)).order_by(c.id)
    with translated("reading held jobs"), store.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(q)]


def release(store: Store, project: str) -> int:
    """Move the project's held jobs on: runnable when their dependencies are met (or they have
    none), pending on their dependencies otherwise, cancelled when those can never be met.
    Elements of an array that still waits go back to waiting on it. Returns how many moved."""
    jobs = held(store, project)
    if not jobs:
        return 0
    states = store.dependency_states([j for j, _ in jobs])
    moves: list[Move] = []
    ready: set[int] = set()
    for job_id, array_id in jobs:
        if array_id is not None and array_id not in ready and store.job(array_id).state is not JobState.RUNNABLE:
            moves.append(Move(job_id, JobState.PENDING, _PENDING, Reason.DEPENDENCY, "budget hold released; "
                              f"waits for array {array_id}"))
            continue
        status = evaluate((kind, state) for kind, _on, state in states.get(job_id, []))
        if status is DepStatus.SATISFIED:
            moves.append(Move(job_id, JobState.RUNNABLE, _PENDING, None, "budget hold released"))
            ready.add(job_id)
        elif status is DepStatus.WAITING:
            moves.append(Move(job_id, JobState.PENDING, _PENDING, Reason.DEPENDENCY, "budget hold released"))
        else:
            moves.append(Move(job_id, JobState.CANCELLED, _PENDING, Reason.DEPENDENCY_NEVER,
                              "budget hold released after a dependency failed"))
    return len(store.move(moves))
