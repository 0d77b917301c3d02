"""Jobs and arrays: submit (one or a batch), list paged with filters, show, cancel, logs, explain,
results. Every read is limited to the caller's project; other projects' jobs answer 404."""

from __future__ import annotations

import binascii
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tessera.errors import NotFoundError, SpecError
from tessera.jobfile import to_spec
from tessera.models.spec import JobSpec
from tessera.models.states import TERMINAL, JobState
from tessera.server import audit, queries
from tessera.server.app import API, authenticate, role
from tessera.server.context import Context
from tessera.server.security import Principal, Refused
from tessera.server.tokens import Role
from tessera.server.wire import attempt_json, b64, event_json, job_json, unb64

router = APIRouter(prefix=f"{API}/jobs", tags=["jobs"])
MAX_LOG_CHUNK = 1 << 20
MAX_ID = 2**62  # ids and offsets above this cannot exist (and would overflow the database's integers)


class JobIn(BaseModel):
    """One job, in the fields of a job file (``tessera run``); unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    command: list[str] | None = None
    function: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    kernel: str | None = None
    params: dict[str, Any] | None = None
    queue: str | None = None
    priority: int | None = None
    project: str | None = Field(None, description="defaults to the token's project; another project is refused")
    tags: dict[str, str] | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    cpus: float | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    resources: dict[str, Any] | None = None
    timeout_s: float | None = None
    retries: int | None = None
    retry: dict[str, Any] | None = None
    array: str | int | dict[str, Any] | None = Field(None, description="e.g. \"0-99%10\"")
    array_max_failures: int | None = None
    dependency: str | None = Field(None, description="e.g. \"afterok:12:13,afterany:14\"")
    dependencies: list[dict[str, Any]] | None = None
    payload_b64: str | None = Field(None, description="a pickled function call (the Python SDK)")
    element_payloads_b64: list[str] | None = Field(None, description="one pickled argument per array element")


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[JobIn] = Field(min_length=1, max_length=10_000)


class Submitted(BaseModel):
    ids: list[str]
    states: list[str]


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=10_000)


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _spec(item: JobIn, p: Principal, label: str) -> tuple[JobSpec, tuple[bytes, ...] | None]:
    fields = item.model_dump(exclude_unset=True, exclude={"payload_b64", "element_payloads_b64"})
    fields = {k: v for k, v in fields.items() if v is not None}
    project = fields.get("project")
    if project in (None, "default"):
        fields["project"] = p.project
    elif project != p.project:
        raise Refused(403, f"this token submits to project {p.project!r}, not {project!r}",
                      f"drop the project field or use a token of project {project!r}")
    try:
        if item.payload_b64 is not None:
            fields["payload"] = unb64(item.payload_b64)
        elements = None if item.element_payloads_b64 is None else tuple(
            unb64(x) or b"" for x in item.element_payloads_b64)
    except (binascii.Error, ValueError):
        raise SpecError(f"{label}: a payload is not base64", "send payloads as standard base64") from None
    return to_spec(fields, label), elements


def submit(ctx: Context, p: Principal, items: list[JobIn]) -> JSONResponse:
    """Stores the jobs (``server/intake.py``); answers 201 with ``Submitted``, built directly (the
    route's ``response_model`` documents it; re-validating our own answer would cost per request)."""
    specs, payloads = [], {}
    for i, item in enumerate(items):
        spec, elements = _spec(item, p, f"job {item.name or i + 1}")
        specs.append(spec)
        if elements is not None:
            payloads[i] = elements
    ids = ctx.intake.submit(p.actor, p.project, specs, payloads, p.token.id)
    states = ["pending" if s.dependencies else "runnable" for s in specs]
    return JSONResponse({"ids": [str(i) for i in ids], "states": states}, status_code=201)


@router.post("", status_code=201, response_model=Submitted, summary="Submit one job (or array)")
def submit_one(request: Request, job: JobIn, p: Principal = role(Role.SUBMITTER)) -> JSONResponse:
    return submit(_ctx(request), p, [job])


@router.post("/batch", status_code=201, response_model=Submitted,
             summary="Submit several jobs at once; dependencies may name jobs of the batch")
def submit_batch(request: Request, batch: Batch, p: Principal = role(Role.SUBMITTER)) -> JSONResponse:
    return submit(_ctx(request), p, batch.jobs)


@router.get("", summary="List jobs, newest first, paged by the `before` cursor")
def list_jobs(
    request: Request,
    p: Principal = Depends(authenticate),
    state: Annotated[list[JobState] | None, Query()] = None,
    queue: str | None = None,
    name: str | None = None,
    id: Annotated[list[Annotated[int, Field(ge=0, le=MAX_ID)]] | None,  # noqa: A002
                  Query(description="only these job ids", max_length=1000)] = None,
    array_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    elements: bool = False,
    before: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    jobs, nxt = queries.page(_ctx(request).store, p.project, state, queue, name, id, array_id, elements, before, limit)
    return {"items": [job_json(j) for j in jobs], "next": nxt}


@router.post("/cancel", summary="Cancel several jobs (array ids cancel their elements)")
def cancel_many(request: Request, body: CancelIn, p: Principal = role(Role.SUBMITTER)) -> dict[str, int]:
    ctx = _ctx(request)
    jobs = [queries.visible(ctx.store, p.project, r) for r in body.ids]
    target = ",".join(j.ref for j in jobs)
    n = ctx.store.request_cancel([j.id for j in jobs], then=lambda tx, n: audit.append_all(
        tx, [(p.actor, "job.cancel", p.project, target, {"requested": n})]))  # one transaction
    ctx.poke(False)
    return {"cancelled": n}


@router.get("/{ref}", summary="A job with its attempts, history, dependencies and element counts")
def show(request: Request, ref: str, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _ctx(request).store
    job = queries.visible(store, p.project, ref)
    deps = store.dependency_states([job.id])[job.id]
    return {**job_json(job),
            "elements": store.element_counts(job.id) if job.is_array else None,
            "dependencies": [{"kind": k, "on": on, "state": s} for k, on, s in deps],
            "attempt_list": [attempt_json(a) for a in store.attempts(job.id)],
            "events": [event_json(job.id, e) for e in store.events(job.id)]}


@router.post("/{ref}/cancel", summary="Cancel a job in any state")
def cancel(request: Request, ref: str, p: Principal = role(Role.SUBMITTER)) -> dict[str, int]:
    return cancel_many(request, CancelIn(ids=[ref]), p)


@router.get("/{ref}/explain", summary="Why a job waits, or why it ended the way it did, in words")
def explain(request: Request, ref: str, p: Principal = Depends(authenticate)) -> dict[str, str]:
    from tessera.cli.render import explain as words

    store = _ctx(request).store
    job = queries.visible(store, p.project, ref)
    deps = store.dependency_states([job.id])[job.id]
    if job.array_id is not None:
        deps += store.dependency_states([job.array_id])[job.array_id]
    ctl = store.latest_controller()
    cap = ctl["status"]["executors"][0] if ctl and not ctl.get("stopped_at") and ctl.get("status") else None
    return {"id": job.ref, "text": words(job, deps, cap)}


@router.get("/{ref}/result", summary="A job's state and committed result (values base64-encoded)")
def result(request: Request, ref: str, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _ctx(request).store
    job = queries.visible(store, p.project, ref)
    got = store.finished(job.id)
    if got is None:
        raise NotFoundError(f"no job {ref}", "list jobs with GET /api/v1/jobs")
    state, enc, data, err = got
    committed = store.result(job.id) is not None
    return {"id": job.ref, "state": state.value, "committed": committed, "encoding": enc, "data_b64": b64(data),
            "error": err}


@router.get("/{ref}/results", summary="Every element of an array in index order, with its result")
def array_results(request: Request, ref: str, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    store = _ctx(request).store
    job = queries.visible(store, p.project, ref)
    rows = store.array_results(job.id)
    return {"items": [{"job_id": jid, "index": i, "state": s, "encoding": e, "data_b64": b64(d), "error": err}
                      for jid, i, s, e, d, err in rows]}


@router.get("/{ref}/logs", summary="A chunk of an attempt's captured output, from a byte offset")
def logs(
    request: Request,
    ref: str,
    p: Principal = Depends(authenticate),
    stream: Annotated[str, Query(pattern="^(stdout|stderr)$")] = "stdout",
    attempt: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_CHUNK)] = MAX_LOG_CHUNK,
) -> dict[str, Any]:
    ctx = _ctx(request)
    job = queries.visible(ctx.store, p.project, ref)
    atts = ctx.store.attempts(job.id)
    if attempt is not None:
        atts = [a for a in atts if a.number == attempt]
        if not atts:
            raise NotFoundError(f"job {job.ref} has no attempt {attempt}", "omit attempt to read the latest")
    data, size = b"", 0
    number = atts[-1].number if atts else None
    if atts:
        a = atts[-1]
        path = (a.stderr_path if stream == "stderr" else a.stdout_path) or ctx.settings.log_path(job, a.number, stream)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(min(offset, size))
                data = f.read(limit)
        except OSError:
            pass
    end = min(offset, size) + len(data)
    return {"id": job.ref, "attempt": number, "stream": stream, "offset": end, "size": size,
            "data": data.decode("utf-8", "replace"), "done": job.state in TERMINAL and end >= size}
