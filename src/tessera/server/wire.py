"""The JSON forms of jobs, attempts and events, and their way back (used by the remote client).

No web framework here: ``tessera.remote`` imports this without the server's dependencies.
"""

from __future__ import annotations

import base64
from typing import Any

from tessera.models.job import Attempt, Event, Job
from tessera.models.spec import JobSpec
from tessera.models.states import JobState, Reason


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API returns it (the spec without its pickled payload)."""
    end = job.ended_at
    return {
        "id": job.ref, "job_id": job.id, "name": job.name, "state": job.state.value,
        "reason": job.reason.value if job.reason else None, "reason_detail": job.reason_detail,
        "array_id": job.array_id, "array_index": job.array_index, "is_array": job.is_array,
        "counts": job.counts or None, "attempts": job.attempts, "retries_used": job.retries_used,
        "infra_retries_used": job.infra_retries_used, "exit_code": job.exit_code,
        "not_before_at": job.not_before_at, "submitted_at": job.submitted_at, "started_at": job.started_at,
        "ended_at": end, "runtime_s": (end - job.started_at) if end and job.started_at else None,
        "cancel_requested": job.cancel_requested, "queue": job.spec.queue, "priority": job.spec.priority,
        "project": job.spec.project, "cpus": job.spec.resources.cpus, "memory_mb": job.spec.resources.memory_mb,
        "gpus": job.spec.resources.gpus, "spec": spec_json(job.spec),
    }


_SPECS: dict[int, tuple[JobSpec, dict[str, Any]]] = {}


def spec_json(spec: JobSpec) -> dict[str, Any]:
    """A spec's JSON form, cached per spec object (array elements and the store's cache share them)."""
    hit = _SPECS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    out = spec.model_dump(mode="json", exclude={"payload"})
    if len(_SPECS) > 8192:
        _SPECS.clear()
    _SPECS[id(spec)] = (spec, out)
    return out


def job_from_json(d: dict[str, Any]) -> Job:
    spec = dict(d["spec"])
    if spec.get("command") is None and spec.get("function") is None and spec.get("kernel") is None:
        spec["payload"] = b""  # a pickled function: the payload stays on the server
    return Job(
        id=d["job_id"], spec=JobSpec.model_validate(spec), state=JobState(d["state"]),
        reason=Reason(d["reason"]) if d.get("reason") in Reason._value2member_map_ else None, reason_detail=d.get("reason_detail"),
        array_id=d.get("array_id"), array_index=d.get("array_index"), is_array=d.get("is_array", False),
        attempts=d.get("attempts", 0), retries_used=d.get("retries_used", 0),
        infra_retries_used=d.get("infra_retries_used", 0), not_before_at=d.get("not_before_at"),
        submitted_at=d.get("submitted_at", 0.0), started_at=d.get("started_at"), ended_at=d.get("ended_at"),
        exit_code=d.get("exit_code"), cancel_requested=d.get("cancel_requested", False),
        counts=d.get("counts") or {},
    )


def attempt_json(a: Attempt) -> dict[str, Any]:
    return {"id": a.id, "job_id": a.job_id, "number": a.number, "executor": a.executor, "state": a.state,
            "placement": a.placement, "pid": a.pid, "started_at": a.started_at, "ended_at": a.ended_at,
            "exit_code": a.exit_code, "reason": a.reason, "usage": a.usage}


def attempt_from_json(d: dict[str, Any]) -> Attempt:
    return Attempt(id=d["id"], job_id=d["job_id"], number=d["number"], token=d["id"], executor=d["executor"],
                   state=d["state"], placement=d.get("placement") or {}, started_at=d["started_at"],
                   ended_at=d.get("ended_at"), exit_code=d.get("exit_code"), reason=d.get("reason"),
                   pid=d.get("pid"), usage=d.get("usage") or {})


def event_json(job_id: int, e: Event) -> dict[str, Any]:
    return {"job_id": job_id, "at": e.at, "src": e.src, "dst": e.dst, "reason": e.reason, "detail": e.detail}


def event_from_json(d: dict[str, Any]) -> Event:
    return Event(d["job_id"], d["at"], d.get("src"), d["dst"], d.get("reason"), d.get("detail"))


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)
