"""Administration: the audit log (read and verify) and webhooks (admin role, own project)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tessera.monitor import webhooks
from tessera.server import audit
from tessera.server.app import API, role
from tessera.server.context import Context
from tessera.server.security import Principal
from tessera.server.tokens import Role

router = APIRouter(prefix=API)


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


@router.get("/audit", tags=["audit"], summary="The project's audit entries in order (admin)")
def audit_log(request: Request, p: Principal = role(Role.ADMIN), after: Annotated[int, Query(ge=0, le=2**62)] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    items = audit.entries(_ctx(request).store, p.project, after, limit)
    return {"items": [e.as_dict() for e in items], "next": items[-1].id if len(items) == limit else None}


@router.get("/audit/verify", tags=["audit"], summary="Recompute the whole hash chain (admin)")
def audit_verify(request: Request, _p: Principal = role(Role.ADMIN)) -> dict[str, Any]:
    v = audit.verify(_ctx(request).store)
    return {"ok": v.ok, "entries": v.entries, "broken_at": v.broken_at, "why": v.why}


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    states: list[str] | None = Field(None, max_length=20, description="job states to deliver; default terminal")


@router.get("/webhooks", tags=["webhooks"], summary="The project's webhooks (admin)")
def webhook_list(request: Request, p: Principal = role(Role.ADMIN)) -> dict[str, Any]:
    return {"items": webhooks.listing(_ctx(request).store, p.project)}


@router.post("/webhooks", tags=["webhooks"], status_code=201,
             summary="Subscribe a URL to job state events; the signing secret is shown once (admin)")
def webhook_create(request: Request, body: WebhookIn, p: Principal = role(Role.ADMIN)) -> dict[str, Any]:
    ctx = _ctx(request)
    hook, secret = webhooks.create(ctx.store, p.project, body.url, body.states)
    ctx.audit.record(p.actor, "webhook.create", p.project, str(hook["id"]), {"url": body.url,
                                                                                      "states": hook["states"]})
    return {**hook, "secret": secret}


@router.delete("/webhooks/{hook_id}", tags=["webhooks"], summary="Remove a webhook (admin)")
def webhook_delete(request: Request, hook_id: Annotated[int, Path(ge=0, le=2**62)],
                   p: Principal = role(Role.ADMIN)) -> dict[str, Any]:
    ctx = _ctx(request)
    webhooks.delete(ctx.store, p.project, hook_id)
    ctx.audit.record(p.actor, "webhook.delete", p.project, str(hook_id))
    return {"deleted": hook_id}
