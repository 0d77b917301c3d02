"""The values the store takes in (``NewJob``, ``Claim``, ``Move``, ``End``) and row→record mapping.

Those made for every job or attempt are slotted, not frozen, dataclasses (see ``models.job``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tessera.models.job import Attempt, Event, Job
from tessera.models.spec import JobSpec
from tessera.models.states import JobState, Reason


@dataclass(slots=True)
class NewJob:
    """A job to insert. ``deps`` hold ``(kind, ref)`` with ref an existing job id (int) or the
    position of an earlier item of the same batch (``("batch", i)``). ``element_payloads`` gives
    array elements their own payload (``Client.map``)."""

    spec: JobSpec
    deps: tuple[tuple[str, int | tuple[str, int]], ...] = ()
    element_payloads: tuple[bytes, ...] | None = None
    hold: bool = False  # accepted but held (pending, reason budget) until released
    spec_json: str | None = None  # ``spec`` as stored (without its payload), when the caller has it already


@dataclass(slots=True)
class Claim:
    """Start an attempt of a runnable job on an executor with a placement."""

    job_id: int
    executor: str
    placement: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Move:
    """Move a job to ``dst`` if it is in one of ``srcs``; records an event."""

    job_id: int
    dst: JobState
    srcs: frozenset[JobState]
    reason: Reason | None = None
    detail: str | None = None
    not_before_at: float | None = None


@dataclass(slots=True)
class End:
    """An attempt's outcome and the job's next state, committed only while ``token`` owns the job."""

    attempt_id: int
    job_id: int
    attempt_state: str
    job_dst: JobState
    reason: Reason | None = None
    detail: str | None = None
    exit_code: int | None = None
    ran_at: float | None = None
    ended_at: float = 0.0
    not_before_at: float | None = None
    retries_inc: int = 0
    infra_inc: int = 0
    result_encoding: str | None = None
    result: bytes | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    stdout_path: str | None = None
    stderr_path: str | None = None
    attempt_reason: Reason | None = None  # why the attempt ended (``reason`` is the job's); defaults to ``reason``


Finished = tuple[JobState, str | None, bytes | None, str | None]
"""A job's state with its committed result: (state, encoding, data, error)."""


@dataclass(slots=True)
class Candidate:
    """A runnable job as the scheduler sees it: ordering keys and resources, nothing else."""

    id: int
    queue_priority: int
    priority: int
    cpus: float
    memory_mb: int | None
    gpus: int
    timeout_s: float | None
    array_id: int | None
    kind: str
    queue: str = "default"  # which executor runs it, when queues are routed (executors/routed.py)


def job_from_row(row: Any, spec: JobSpec) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        spec=spec,
        state=JobState(m["state"]),
        reason=Reason(m["reason"]) if m["reason"] in Reason._value2member_map_ else None,
        reason_detail=m["reason_detail"],
        array_id=m["array_id"],
        array_index=m["array_index"],
        is_array=bool(m["is_array"]),
        attempts=m["attempts"],
        retries_used=m["retries_used"],
        infra_retries_used=m["infra_retries_used"],
        not_before_at=m["not_before_at"],
        submitted_at=m["submitted_at"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        exit_code=m["exit_code"],
        lease_token=m["lease_token"],
        cancel_requested=bool(m["cancel_requested"]),
        counts=(
            {
                "size": m["array_size"],
                "done": m["array_done"],
                "failed": m["array_failed"],
                "cancelled": m["array_cancelled"],
            }
            if m["is_array"]
            else {}
        ),
    )


def attempt_from_row(row: Any) -> Attempt:
    m = row._mapping
    return Attempt(
        id=m["id"],
        job_id=m["job_id"],
        number=m["number"],
        token=m["id"],
        executor=m["executor"],
        state=m["state"],
        placement=json.loads(m["placement"]),
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        exit_code=m["exit_code"],
        reason=m["reason"],
        pid=m["pid"],
        stdout_path=m["stdout_path"],
        stderr_path=m["stderr_path"],
        usage=json.loads(m["usage"]) if m["usage"] else {},
    )


def event_from_row(row: Any) -> Event:
    m = row._mapping
    return Event(m["job_id"], m["at"], m["src"], m["dst"], m["reason"], m["detail"])
