"""The application factory: routers, authentication dependencies, error mapping, dashboard assets.

Every route under ``/api/v1`` and ``/metrics`` depends on ``authenticate`` (``tests/server``
reads the route table to prove it), except ``GET /api/v1/health``. The dashboard's static files
(``tessera/server/static``) are public: they hold no data, and the page must load to sign in.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from tessera import __version__
from tessera.errors import ControllerError, NotFoundError, StoreError, TesseraError
from tessera.server.context import Context
from tessera.server.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    Refused,
    bearer,
    check_csrf,
    check_host,
    check_origin,
    limit,
    session,
)
from tessera.server.tokens import Role

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
API = "/api/v1"


async def authenticate(request: Request) -> Principal:
    """The caller, from its bearer token or its session cookie; then CSRF, Origin and rate limits.

    Runs on the event loop (no thread hop per request): on SQLite the token read is one indexed
    read of a few microseconds; on PostgreSQL (a network round trip) and for sessions it runs
    in the thread pool.
    """
    ctx: Context = request.app.state.ctx
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    headers = request.headers
    secret = bearer(headers.get("authorization"))
    principal: Principal | None = None
    if secret is not None:
        tok = ctx.token(secret) if ctx.store.dialect == "sqlite" else await run_in_threadpool(ctx.token, secret)
        principal = Principal(tok, "bearer") if tok is not None else None
    elif SESSION_COOKIE in request.cookies:
        principal = await run_in_threadpool(session, ctx.store, request.cookies[SESSION_COOKIE])
    if principal is None:
        limit(ctx.auth_limiter, f"ip:{request.client.host if request.client else '-'}")
        raise Refused(401, "authentication required: no valid bearer token or session",
                      "send `Authorization: Bearer <token>` (create one with `tessera token create`), "
                      "or sign in through POST /api/v1/session", {"WWW-Authenticate": "Bearer"})
    check_origin(request.method, dict(headers), request.url.scheme, principal.via, ctx.allowed_origins)
    check_csrf(request.method, principal, headers.get(CSRF_HEADER))
    limit(ctx.limiter, f"token:{principal.token.id}")
    request.state.principal = principal
    return principal


def role(needed: Role) -> Any:
    """A dependency that admits only callers with at least ``needed``."""
    from tessera.server.security import require

    async def check(p: Principal = Depends(authenticate)) -> Principal:
        require(p, needed)
        return p

    return Depends(check)


class HostCheck:
    """Refuse requests whose Host the server was not started for (DNS rebinding), before routing."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            try:
                check_host(host, self.ctx.allowed_hosts)
            except Refused as r:
                await _refusal(r)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _body(what: str, fix: str | None, kind: str) -> dict[str, Any]:
    return {"error": what, "fix": fix, "type": kind}


def _refusal(r: Refused) -> JSONResponse:
    return JSONResponse(_body(r.what, r.fix, "Refused"), status_code=r.status, headers=r.headers)


def status_of(e: TesseraError) -> int:
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, StoreError | ControllerError):
        return 503
    return 400


def create_app(ctx: Context) -> FastAPI:
    """The FastAPI application over ``ctx``."""
    from tessera.server.routes import admin, jobs, monitoring, platform, workflows
    from tessera.server.routes import session as session_routes

    app = FastAPI(title="tessera", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  description="Run compute-heavy batch work on the right hardware. Authenticate with "
                              "`Authorization: Bearer <token>`; see docs/api.md.")
    app.state.ctx = ctx

    @app.exception_handler(TesseraError)
    async def _tessera(_r: Request, e: TesseraError) -> JSONResponse:
        return JSONResponse(_body(e.what, e.fix, type(e).__name__), status_code=status_of(e))

    @app.exception_handler(Refused)
    async def _refused(_r: Request, e: Refused) -> JSONResponse:
        return _refusal(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, e: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}" for err in e.errors()[:5]]
        return JSONResponse(_body("invalid request: " + "; ".join(parts),
                                  "correct the fields named above (see /api/v1/openapi.json)", "SpecError"),
                            status_code=422)

    @app.get(f"{API}/health", tags=["health"], summary="Liveness (the one route without authentication)")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get(f"{API}/openapi.json", include_in_schema=False, dependencies=[Depends(authenticate)])
    def openapi_spec() -> dict[str, Any]:
        return app.openapi()

    @app.get(f"{API}/docs", include_in_schema=False, dependencies=[Depends(authenticate)])
    def docs() -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=f"{API}/openapi.json", title="tessera API")

    for module in (jobs, platform, admin, monitoring, session_routes, workflows):
        app.include_router(module.router, dependencies=[Depends(authenticate)])

    @app.get("/{path:path}", include_in_schema=False)
    def dashboard(path: str) -> Response:
        """The dashboard's built files; unknown paths get index.html (client-side routes)."""
        if path.startswith(("api/", "metrics")):
            raise NotFoundError(f"no route /{path}", "see /api/v1/openapi.json for the routes")
        target = (STATIC / path).resolve()
        if path and target.is_file() and STATIC.resolve() in target.parents:
            return FileResponse(target)
        index = STATIC / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return JSONResponse(_body("the dashboard is not built into this installation",
                                  "use the API under /api/v1, or install a tessera build with the dashboard",
                                  "NotFoundError"), status_code=404)

    app.add_middleware(HostCheck, ctx=ctx)
    return app
