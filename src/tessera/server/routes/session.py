"""Browser sessions: sign in with a token (sent once as a bearer header), get a cookie and a CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from tessera.server.app import API, authenticate
from tessera.server.context import Context
from tessera.server.security import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    Principal,
    Refused,
    close_session,
    open_session,
)

router = APIRouter(prefix=f"{API}/session", tags=["session"])


def _who(p: Principal, csrf: str | None) -> dict[str, Any]:
    t = p.token
    return {"token": {"id": t.id, "name": t.name, "prefix": t.prefix}, "project": p.project, "role": p.role.value,
            "via": p.via, "csrf_token": csrf}


@router.post("", summary="Sign in: send the token as a bearer header; sets the session cookie")
def login(request: Request, response: Response, p: Principal = Depends(authenticate)) -> dict[str, Any]:
    ctx: Context = request.app.state.ctx
    if p.via != "bearer":
        raise Refused(400, "already signed in with a session", "sign out first (DELETE /api/v1/session)")
    cookie, csrf = open_session(ctx.store, p.token)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_TTL_S, httponly=True, samesite="strict",
                        secure=ctx.secure_cookies, path="/")
    ctx.audit.record(p.actor, "session.open", p.project)
    return _who(p, csrf)


@router.get("", summary="Who is signed in (and the session's CSRF token)")
def whoami(p: Principal = Depends(authenticate)) -> dict[str, Any]:
    return _who(p, p.csrf)


@router.delete("", summary="Sign out")
def logout(request: Request, response: Response, p: Principal = Depends(authenticate)) -> dict[str, bool]:
    ctx: Context = request.app.state.ctx
    if p.session is not None:
        close_session(ctx.store, p.session)
        ctx.audit.record(p.actor, "session.close", p.project)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": p.session is not None}
