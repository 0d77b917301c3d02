"""Workflows in the durable store: the ``workflows`` and ``workflow_steps`` rows, and their state.

A workflow's state is not stored: it is derived from its steps' jobs each time it is read
(``step_state``, ``workflow_state`` are pure), so it can never disagree with them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tessera.errors import NotFoundError
from tessera.models.job import Job
from tessera.models.states import TERMINAL, JobState, Reason
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated


@dataclass(frozen=True)
class StepRecord:
    step: str
    position: int
    component: str
    status: str  # submitted | cached | skipped
    job_id: int | None
    size: int | None
    keys: tuple[str, ...]
    conditional: bool = False


@dataclass(frozen=True)
class WorkflowRecord:
    id: int
    name: str
    project: str
    spec: dict[str, Any]
    artifacts: str
    resumed: bool
    submitted_at: float
    steps: tuple[StepRecord, ...]


def insert(store: Store, spec: dict[str, Any], artifacts: str, resumed: bool, steps: Sequence[StepRecord],
           now: float | None = None) -> int:
    """Record a submitted workflow and its steps in one transaction; returns its id."""
    with translated("recording a workflow"), store._write() as conn:
        wf_id = conn.execute(t.workflows.insert().values(
            name=spec["name"], project=spec.get("project", "default"), spec=json.dumps(spec),
            artifacts=artifacts, resumed=resumed, submitted_at=time.time() if now is None else now,
        ).returning(t.workflows.c.id)).scalar_one()
        conn.execute(t.workflow_steps.insert(), [
            {"workflow_id": wf_id, "step": s.step, "position": s.position, "component": s.component,
             "status": s.status, "job_id": s.job_id, "size": s.size, "keys": json.dumps(list(s.keys))}
            for s in steps])
    return wf_id


def get(store: Store, ref: str | int) -> WorkflowRecord:
    """A workflow by id, or the latest one with that name."""
    text = str(ref).strip()
    q = select(t.workflows)
    q = q.where(t.workflows.c.id == int(text)) if text.isdigit() else q.where(t.workflows.c.name == text)
    with translated("reading a workflow"), store._read() as conn:
        row = conn.execute(q.order_by(t.workflows.c.id.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(f"no workflow {text!r}", "list workflows with `tessera workflow ls`")
        return _record(row, _steps(conn, [row.id]).get(row.id, []))


def recent(store: Store, limit: int = 50) -> list[WorkflowRecord]:
    with translated("listing workflows"), store._read() as conn:
        rows = conn.execute(select(t.workflows).order_by(t.workflows.c.id.desc()).limit(limit)).all()
        steps = _steps(conn, [r.id for r in rows])
        return [_record(r, steps.get(r.id, [])) for r in rows]


def _steps(conn: Any, ids: Iterable[int]) -> dict[int, list[StepRecord]]:
    out: dict[int, list[StepRecord]] = {}
    rows = conn.execute(select(t.workflow_steps).where(t.workflow_steps.c.workflow_id.in_(list(ids)))
                        .order_by(t.workflow_steps.c.workflow_id, t.workflow_steps.c.position)).all()
    for r in rows:
        out.setdefault(r.workflow_id, []).append(StepRecord(
            r.step, r.position, r.component, r.status, r.job_id, r.size, tuple(json.loads(r.keys))))
    return out


def _record(row: Any, steps: list[StepRecord]) -> WorkflowRecord:
    spec = json.loads(row.spec)
    conditional = {s["name"] for s in spec.get("steps", []) if s.get("when")}
    marked = tuple(StepRecord(**{**s.__dict__, "conditional": s.step in conditional}) for s in steps)
    return WorkflowRecord(row.id, row.name, row.project, spec, row.artifacts, bool(row.resumed),
                          row.submitted_at, marked)


# --------------------------------------------------------------------------- state (pure)


def step_state(step: StepRecord, job: Job | None) -> str:
    """``cached``, ``skipped`` or the job's state. A step whose dependency can never be satisfied (a
    conditional step whose condition did not happen, or what follows a failed step) is ``skipped``:
    the workflow's state then comes from the step that failed, if any."""
    if step.status != "submitted" or job is None:
        return step.status
    if job.state is JobState.CANCELLED and job.reason is Reason.DEPENDENCY_NEVER:
        return "skipped"
    return job.state.value


DONE = {"succeeded", "cached", "skipped"}
ENDED = {s.value for s in TERMINAL} | {"cached", "skipped"}


def workflow_state(states: Iterable[str]) -> str:
    """``running`` until every step ended; then ``succeeded``, ``failed`` or ``cancelled``."""
    seen = list(states)
    if any(s not in ENDED for s in seen):
        return "running"
    if all(s in DONE for s in seen):
        return "succeeded"
    if any(s in ("failed", "timed_out") for s in seen):
        return "failed"
    return "cancelled"


def job_ids(record: WorkflowRecord) -> list[int]:
    return [s.job_id for s in record.steps if s.job_id is not None]


def states(store: Store, record: WorkflowRecord) -> dict[str, str]:
    """Each step's state, read from its job."""
    ids = job_ids(record)
    jobs = {j.id: j for j in store.jobs(ids=ids, limit=len(ids) + 1)} if ids else {}
    return {s.step: step_state(s, jobs.get(s.job_id) if s.job_id is not None else None) for s in record.steps}
