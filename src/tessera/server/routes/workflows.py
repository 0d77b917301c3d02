"""Workflows over the API: validate, submit, list, show (each step's live state) and cancel.

The body is the workflow as YAML text (what ``tessera run`` reads and the editor saves) or as a
JSON document of the same shape. The workflow runs in the token's project; ``imports:`` (Python
modules the server would import while planning) is refused over the API: components come from
the server's registry (built-ins and installed ``tessera.components`` entry points).
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tessera.errors import NotFoundError, SpecError
from tessera.server import audit
from tessera.server.app import API, authenticate, role
from tessera.server.context import Context
from tessera.server.security import Principal, Refused
from tessera.server.tokens import Role

router = APIRouter(prefix=f"{API}/workflows", tags=["workflows"])
MAX_YAML = 1_000_000


class WorkflowIn(BaseModel):
    """A workflow as YAML text or as a JSON document; exactly one of them."""

    model_config = ConfigDict(extra="forbid")
    yaml: str | None = Field(None, max_length=MAX_YAML, description="the workflow file's text")
    spec: dict[str, Any] | None = Field(None, description="the same document as JSON")
    resume: bool = Field(False, description="skip steps whose outputs are already in the artifact store")


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _workflow(body: WorkflowIn, p: Principal) -> Any:
    """The validated ``WorkflowSpec``, in the caller's project, with no server-side imports."""
    from tessera.workflows import spec as wfspec

    if (body.yaml is None) == (body.spec is None):
        raise SpecError("send the workflow as exactly one of yaml (text) or spec (a JSON document)",
                        'POST {"yaml": "name: ...\\nsteps: ..."}')
    if body.yaml is not None:
        try:
            doc = yaml.safe_load(body.yaml)
        except yaml.YAMLError as e:
            raise SpecError(f"the workflow is not valid YAML: {e}", "write it as in this example:\n" + wfspec.EXAMPLE) from None
    else:
        doc = body.spec
    if isinstance(doc, dict) and doc.get("imports"):
        raise Refused(403, "a workflow sent to the server may not import Python modules (imports:)",
                      "install the module as a package with a `tessera.components` entry point on the "
                      "server, or run the workflow locally with `tessera run`")
    wf = wfspec.from_dict(doc, "workflow")
    if wf.project not in ("default", p.project):
        raise Refused(403, f"this token submits to project {p.project!r}, not {wf.project!r}",
                      f"drop the project field or use a token of project {wf.project!r}")
    return wf.model_copy(update={"project": p.project})


def _visible(ctx: Context, p: Principal, workflow_id: int) -> Any:
    from tessera.workflows import records

    rec = records.get(ctx.store, workflow_id)
    if rec.project != p.project:
        raise NotFoundError(f"no workflow {workflow_id}", "list workflows with GET /api/v1/workflows")
    return rec


def _json(ctx: Context, rec: Any) -> dict[str, Any]:
    from tessera.workflows import records

    states = records.states(ctx.store, rec)
    return {
        "id": rec.id, "name": rec.name, "project": rec.project, "submitted_at": rec.submitted_at,
        "resumed": rec.resumed, "state": records.workflow_state(states.values()),
        "steps": [{"name": s.step, "component": s.component, "status": s.status, "state": states[s.step],
                   "job_id": str(s.job_id) if s.job_id is not None else None, "size": s.size,
                   "conditional": s.conditional} for s in rec.steps],
        "spec": rec.spec,
    }


@router.post("/validate", summary="Check a workflow against the registry (wiring, port types, parameters, cycles)")
def validate(body: WorkflowIn, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    from tessera.workflows import engine

    wf = _workflow(body, p)
    plan = engine.prepare(wf)
    return {"ok": True, "name": wf.name,
            "steps": [{"name": s.name, "component": s.component.name, "mapped": s.mapped,
                       "size": len(s.keys), "upstream": sorted(s.upstream)} for s in plan.steps]}


@router.post("", status_code=201, summary="Submit a workflow: one job (or array) per step")
def submit(request: Request, body: WorkflowIn, p: Principal = role(Role.SUBMITTER)) -> dict[str, Any]:
    from tessera.workflows import engine

    ctx = _ctx(request)
    wf = _workflow(body, p)
    done = engine.submit(ctx.store, ctx.total, wf, home=ctx.settings.home, resume=body.resume)
    ctx.poke(True)
    audit.record(ctx.store, p.actor, "workflow.submit", p.project, str(done.id),
                 {"name": wf.name, "jobs": [str(i) for i in done.job_ids]})
    return _json(ctx, _visible(ctx, p, done.id))


@router.get("", summary="The project's workflows, newest first")
def list_workflows(request: Request, p: Principal = Depends(authenticate),
                   limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    from sqlalchemy import select

    from tessera.store import schema as t
    from tessera.store.engine import translated
    from tessera.workflows import records

    ctx = _ctx(request)
    q = (select(t.workflows.c.id).where(t.workflows.c.project == p.project)
         .order_by(t.workflows.c.id.desc()).limit(limit))
    with translated("listing workflows"), ctx.store._read() as conn:
        ids = [r[0] for r in conn.execute(q)]
    out = []
    for i in ids:
        d = _json(ctx, records.get(ctx.store, i))
        d.pop("spec")
        out.append(d)
    return {"items": out}


@router.get("/{workflow_id}", summary="A workflow with each step's state and job")
def show(request: Request, workflow_id: int, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx = _ctx(request)
    return _json(ctx, _visible(ctx, p, workflow_id))


@router.post("/{workflow_id}/cancel", summary="Cancel every job of a workflow")
def cancel(request: Request, workflow_id: int, p: Principal = role(Role.SUBMITTER)) -> dict[str, int]:
    from tessera.workflows import records

    ctx = _ctx(request)
    rec = _visible(ctx, p, workflow_id)
    n = ctx.store.request_cancel(records.job_ids(rec), then=lambda tx, n: audit.append_all(
        tx, [(p.actor, "workflow.cancel", p.project, str(rec.id), {"requested": n})]))  # one transaction
    ctx.poke(False)
    return {"cancelled": n}
