"""Monitoring: an attempt's utilisation time series with its bottleneck verdict; Prometheus /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from tessera.monitor import metrics, series
from tessera.server import queries
from tessera.server.app import API, authenticate
from tessera.server.context import Context
from tessera.server.security import Principal

router = APIRouter()


@router.get(f"{API}/jobs/{{ref}}/utilisation", tags=["monitoring"],
            summary="Each attempt's CPU, memory, IO and GPU samples, and the verdict on ended attempts")
def utilisation(request: Request, ref: str, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx: Context = request.app.state.ctx
    job = queries.visible(ctx.store, p.project, ref)
    out = []
    for a in ctx.store.attempts(job.id):
        samples = series.of_attempt(ctx.store, a.id)
        v = series.verdict(a, samples)
        out.append({"attempt": a.number, "state": a.state, "started_at": a.started_at, "ended_at": a.ended_at,
                    "held": {"cpus": a.placement.get("cpus"), "memory_mb": a.placement.get("memory_mb"),
                             "gpus": a.placement.get("gpus") or []},
                    "samples": [{"at": s.at, "cpu_pct": s.cpu_pct, "rss_mb": s.rss_mb, "read_mb": s.read_mb,
                                 "write_mb": s.write_mb, "gpu_pct": s.gpu_pct, "gpu_mem_mb": s.gpu_mem_mb}
                                for s in samples],
                    "verdict": v.as_dict() if v else None})
    return {"id": job.ref, "attempts": out}


@router.get("/metrics", tags=["monitoring"], summary="Prometheus metrics of the caller's project",
            response_class=Response)
def prometheus(request: Request, p: Principal = Depends(authenticate)) -> Response:
    ctx: Context = request.app.state.ctx
    body, ctype = metrics.exposition(ctx.store, p.project, ctx.total, ctx.settings.home)
    return Response(body, media_type=ctype)
