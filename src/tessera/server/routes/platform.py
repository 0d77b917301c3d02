"""Queues, projects, status, hardware, costs, components and workflows.

Costs come from the cost ledger (``tessera.cost``) and components/workflows from
``tessera.workflows`` when this build has them; otherwise those routes answer 404 with a fix.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tessera.errors import NotFoundError, SpecError
from tessera.executors.hardware import nvml_gpus
from tessera.monitor import spend
from tessera.server import queries
from tessera.server.app import API, authenticate, role
from tessera.server.context import Context
from tessera.server.security import Principal
from tessera.server.tokens import Role

router = APIRouter(prefix=API)


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _controller(ctx: Context) -> dict[str, Any] | None:
    ctl = ctx.store.latest_controller()
    if not ctl or ctl.get("stopped_at"):
        return None
    return {"id": ctl.get("id"), "heartbeat_at": ctl.get("heartbeat_at"), **(ctl.get("status") or {})}


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)


@router.get("/queues", tags=["queues"], summary="Queues with their priority and this project's job counts")
def queues(request: Request, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx = _ctx(request)
    counts = queries.counts(ctx.store, p.project, by_queue=True)
    items = [{"name": n, "priority": prio, "counts": counts.get(n, {})}
             for n, prio in sorted(ctx.store.queues().items(), key=lambda kv: (-kv[1], kv[0]))]
    ctl = _controller(ctx)
    return {"items": items, "capacity": ctl["executors"] if ctl else None}


@router.post("/queues", tags=["queues"], status_code=201, summary="Create a queue or change its priority (admin)")
def create_queue(request: Request, body: QueueIn, p: Principal = role(Role.ADMIN)) -> dict[str, Any]:
    ctx = _ctx(request)
    ctx.store.create_queue(body.name, body.priority)
    ctx.audit.record(p.actor, "queue.create", p.project, body.name, {"priority": body.priority})
    return {"name": body.name, "priority": body.priority}


@router.get("/projects", tags=["projects"], summary="The caller's project with its job counts")
def projects(request: Request, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    counts = queries.counts(_ctx(request).store, p.project).get("all", {})
    return {"items": [{"name": p.project, "role": p.role.value, "counts": counts}]}


@router.get("/status", tags=["status"], summary="The controller, its executors' free and total capacity, job counts")
def status(request: Request, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx = _ctx(request)
    return {"controller": _controller(ctx), "counts": queries.counts(ctx.store, p.project).get("all", {}),
            "project": p.project, "now": time.time()}


@router.get("/hardware", tags=["hardware"], summary="This machine's capacity, GPUs and benchmark profiles")
def hardware(request: Request, _p: Principal = Depends(authenticate),
             profiles: Annotated[int, Query(ge=0, le=10_000)] = 500) -> dict[str, Any]:
    ctx = _ctx(request)
    total = ctx.total
    out: dict[str, Any] = {
        "capacity": {"cpus": total.cpus, "memory_mb": total.memory_mb, "gpus": len(total.gpus)},
        "gpus": list(nvml_gpus()),
        "controller": _controller(ctx),
        "profiles": ctx.store.profiles()[-profiles:] if profiles else [],
    }
    if spend.present("tessera.cost.inventory"):
        from dataclasses import asdict

        from tessera.cost.inventory import detect_inventory

        out["inventory"] = asdict(detect_inventory())
    return out


def _needs(module: str, what: str) -> None:
    if not spend.present(module):
        raise NotFoundError(f"{what} is not part of this tessera build", f"install a tessera build with {module}")


@router.get("/costs", tags=["costs"], summary="What the project's attempts cost, grouped, optionally over time")
def costs(
    request: Request,
    p: Principal = Depends(authenticate),
    group_by: Annotated[str, Query(pattern="^(project|queue|array|job|workflow)$")] = "queue",
    since: Annotated[float | None, Query(ge=0)] = None,
    bucket_s: Annotated[float | None, Query(gt=0, le=366 * 86400)] = None,
) -> dict[str, Any]:
    _needs("tessera.cost.ledger", "the cost ledger")
    from tessera.cost import ledger

    ctx = _ctx(request)
    priced = [(r, c) for r, c in spend.priced(ctx.store, ctx.total, ctx.settings.home, p.project)
              if since is None or r.started_at >= since]
    items = [c for _r, c in priced if c is not None]
    series: list[dict[str, Any]] = []
    if bucket_s:
        acc: dict[tuple[float, str], float] = {}
        for r, c in priced:
            if c is not None:
                key = (r.started_at // bucket_s * bucket_s, ledger.group_key(c, group_by))
                acc[key] = acc.get(key, 0.0) + c.usd
        series = [{"t": t0, group_by: g, "usd": usd} for (t0, g), usd in sorted(acc.items())]
    return {"group_by": group_by, "groups": ledger.roll_up(items, group_by), "series": series,
            "unpriced_attempts": sum(1 for _r, c in priced if c is None)}


@router.get("/costs/jobs", tags=["costs"], summary="Per job: dollars so far, waste, and a forecast while it waits")
def job_costs(
    request: Request,
    id: Annotated[list[Annotated[int, Field(ge=0, le=2**62)]], Query(max_length=1000)],  # noqa: A002
    p: Principal = Depends(authenticate),
) -> dict[str, Any]:
    _needs("tessera.cost.ledger", "the cost ledger")
    from tessera.cli.cost import job_costs as costs_of

    ctx = _ctx(request)
    jobs, _next = queries.page(ctx.store, p.project, ids=id, limit=len(id))
    return {"items": {str(k): v for k, v in costs_of(ctx.store, jobs).items()}}


@router.get("/components", tags=["components"], summary="The component registry with each one's JSON Schema")
def components(_request: Request, _p: Principal = Depends(authenticate)) -> dict[str, Any]:
    _needs("tessera.workflows.registry", "the component registry")
    from tessera.workflows import registry

    registry.load_builtins()
    return {"items": [c.describe() for c in registry.all_components()]}


@router.get("/components/{name}", tags=["components"], summary="One component")
def component(name: str, _p: Principal = Depends(authenticate)) -> dict[str, Any]:
    _needs("tessera.workflows.registry", "the component registry")
    from tessera.workflows import registry

    registry.load_builtins()
    try:
        comp = registry.get(name)
    except SpecError as e:  # the registry's "unknown component": a missing object here
        raise NotFoundError(e.what, e.fix) from None
    return comp.describe()  # type: ignore[no-any-return]
