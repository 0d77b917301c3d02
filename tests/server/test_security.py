"""Authentication on every route, roles, projects, sessions with CSRF and Origin checks, Host
checks, rate limits, token storage and revocation, and the bind rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.errors import SpecError
from tessera.server import tokens
from tessera.server.app import authenticate, create_app
from tessera.server.host import check_bind
from tessera.server.security import CSRF_HEADER, SESSION_COOKIE, RateLimiter
from tests.server.conftest import Server

PUBLIC = {("GET", "/api/v1/health")}
STATIC = "/{path:path}"  # the dashboard's files: public, no data (see tessera.server.app)


def _deps(dependant: object) -> set[object]:
    out = set()
    for d in getattr(dependant, "dependencies", []):
        out.add(d.call)
        out |= _deps(d)
    return out


def _routes(server: Server) -> list[Any]:
    """Every route of the app, routers included (FastAPI ≥ 0.13x keeps included routers lazily)."""
    routes = server.client.app.routes  # type: ignore[attr-defined]
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return list(routes)
    return list(iter_route_contexts(routes))


def test_every_route_but_health_requires_authentication(server: Server) -> None:
    server.ctx.auth_limiter = RateLimiter(rate=0, burst=0)  # this test fails authentication on purpose, often
    routes = _routes(server)
    assert len(routes) > 25
    for r in routes:
        for method in r.methods - {"HEAD"}:
            if (method, r.path) in PUBLIC or r.path == STATIC:
                assert authenticate not in _deps(r.dependant)
                continue
            assert authenticate in _deps(r.dependant), f"{method} {r.path} is not authenticated"
            # and in practice: no credentials, wrong scheme, token in the query string or a cookie → 401
            path = re.sub(r"\{[^}]+\}", "1", r.path)
            for kw in ({}, {"headers": {"Authorization": f"Basic {server.secrets['admin']}"}},
                       {"params": {"token": server.secrets["admin"]}}, {"cookie": server.secrets["admin"]}):
                server.client.cookies.clear()
                if "cookie" in kw:
                    server.client.cookies.set("token", str(kw.pop("cookie")))
                    server.client.cookies.set(SESSION_COOKIE, str(server.secrets["admin"]))
                got = server.client.request(method, path, **kw)  # type: ignore[arg-type]
                assert got.status_code == 401, (method, path, kw, got.text)
                assert got.json()["fix"]
    server.client.cookies.clear()


def test_health_is_public(server: Server) -> None:
    assert server.client.get("/api/v1/health").json()["ok"] is True


def test_roles(server: Server) -> None:
    c = server.client
    job = {"command": ["true"]}
    assert c.post("/api/v1/jobs", json=job, headers=server.auth("viewer")).status_code == 403
    assert c.get("/api/v1/jobs", headers=server.auth("viewer")).status_code == 200
    assert c.post("/api/v1/jobs", json=job, headers=server.auth("submitter")).status_code == 201
    q = {"name": "fast", "priority": 3}
    assert c.post("/api/v1/queues", json=q, headers=server.auth("submitter")).status_code == 403
    assert c.post("/api/v1/queues", json=q, headers=server.auth("admin")).status_code == 201
    assert c.get("/api/v1/audit", headers=server.auth("submitter")).status_code == 403


def test_projects_are_invisible_to_each_other(server: Server) -> None:
    c = server.client
    mine = c.post("/api/v1/jobs", json={"command": ["sleep", "30"]}, headers=server.auth()).json()["ids"][0]
    other = server.auth("other")
    for method, path in (("GET", f"/api/v1/jobs/{mine}"), ("GET", f"/api/v1/jobs/{mine}/logs"),
                         ("GET", f"/api/v1/jobs/{mine}/explain"), ("GET", f"/api/v1/jobs/{mine}/result"),
                         ("GET", f"/api/v1/jobs/{mine}/utilisation"), ("POST", f"/api/v1/jobs/{mine}/cancel")):
        assert c.request(method, path, headers=other).status_code == 404, path
    assert c.get("/api/v1/jobs", headers=other).json()["items"] == []
    # a dependency on another project's job is refused as if the job did not exist
    r = c.post("/api/v1/jobs", json={"command": ["true"], "dependency": f"afterok:{mine}"}, headers=other)
    assert r.status_code == 400 and "does not exist" in r.json()["error"]
    # submitting into another project is refused
    r = c.post("/api/v1/jobs", json={"command": ["true"], "project": "default"}, headers=other)
    assert r.status_code == 201  # "default" means the token's own project
    r = c.post("/api/v1/jobs", json={"command": ["true"], "project": "default2"}, headers=other)
    assert r.status_code == 403
    assert c.get("/api/v1/jobs", headers=other).json()["items"][0]["project"] == "other"
    c.post(f"/api/v1/jobs/{mine}/cancel", headers=server.auth())


def test_tokens_are_stored_hashed_and_revocable(server: Server, home: Path) -> None:
    tok, secret = tokens.create(server.ctx.store, "temp", "default", "viewer")
    assert secret.encode() not in (home / "tessera.db").read_bytes()
    h = {"Authorization": f"Bearer {secret}"}
    assert server.client.get("/api/v1/jobs", headers=h).status_code == 200
    tokens.revoke(server.ctx.store, tok.id)
    assert server.client.get("/api/v1/jobs", headers=h).status_code == 401


def _login(server: Server, client: TestClient | None = None) -> tuple[TestClient, str]:
    c = client or server.client
    r = c.post("/api/v1/session", headers=server.auth("submitter"))
    assert r.status_code == 200, r.text
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    return c, r.json()["csrf_token"]


def test_session_needs_csrf_and_origin_on_every_state_change(server: Server) -> None:
    c, csrf = _login(server)
    assert SESSION_COOKIE in c.cookies
    origin = {"Origin": "http://127.0.0.1"}
    assert c.get("/api/v1/session").json()["csrf_token"] == csrf
    assert c.get("/api/v1/jobs").status_code == 200  # reads need no CSRF token
    job = {"command": ["true"]}
    assert c.post("/api/v1/jobs", json=job, headers=origin).status_code == 403  # no CSRF token
    assert c.post("/api/v1/jobs", json=job, headers={**origin, CSRF_HEADER: "wrong"}).status_code == 403
    assert c.post("/api/v1/jobs", json=job, headers={CSRF_HEADER: csrf}).status_code == 403  # no Origin/Referer
    evil = {"Origin": "http://evil.example", CSRF_HEADER: csrf}
    assert c.post("/api/v1/jobs", json=job, headers=evil).status_code == 403
    ok = c.post("/api/v1/jobs", json=job, headers={**origin, CSRF_HEADER: csrf})
    assert ok.status_code == 201
    ref = {"Referer": "http://127.0.0.1/jobs", CSRF_HEADER: csrf}
    assert c.post(f"/api/v1/jobs/{ok.json()['ids'][0]}/cancel", headers=ref).status_code == 200
    # DELETE too
    assert c.delete("/api/v1/session", headers=origin).status_code == 403
    assert c.delete("/api/v1/session", headers={**origin, CSRF_HEADER: csrf}).json() == {"signed_out": True}
    c.cookies.clear()
    assert c.get("/api/v1/jobs").status_code == 401


def test_a_bearer_request_from_a_foreign_origin_is_refused(server: Server) -> None:
    r = server.client.post("/api/v1/jobs", json={"command": ["true"]},
                           headers={**server.auth(), "Origin": "http://evil.example"})
    assert r.status_code == 403


def test_host_header_is_checked(server: Server) -> None:
    r = server.client.get("/api/v1/health", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "Host" in r.json()["error"]


def test_rate_limits(server: Server) -> None:
    server.ctx.limiter = RateLimiter(rate=1, burst=3)
    codes = [server.client.get("/api/v1/jobs", headers=server.auth()).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    r = server.client.get("/api/v1/jobs", headers=server.auth())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # failed authentications are limited per client address
    server.ctx.auth_limiter = RateLimiter(rate=1, burst=2)
    codes = [server.client.get("/api/v1/jobs", headers={"Authorization": "Bearer tsr_x"}).status_code
             for _ in range(4)]
    assert codes[:2] == [401, 401] and codes[-1] == 429


def test_limiter_refills() -> None:
    lim = RateLimiter(rate=10, burst=1)
    assert lim.take("a", now=0.0) == 0
    assert lim.take("a", now=0.0) == pytest.approx(0.1)
    assert lim.take("a", now=0.1) == 0


def test_binding_beyond_loopback_needs_authentication() -> None:
    check_bind("127.0.0.1", False)
    check_bind("::1", False)
    check_bind("localhost", False)
    with pytest.raises(SpecError, match="To fix"):
        check_bind("0.0.0.0", False)
    with pytest.raises(SpecError):
        check_bind("192.168.1.5", False)
    check_bind("0.0.0.0", True)


def test_static_dashboard_is_served_when_built(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.server import app as app_module

    monkeypatch.setattr(app_module, "STATIC", tmp_path)
    (tmp_path / "index.html").write_text("<html>dash</html>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.js").write_text("x=1")
    c = TestClient(create_app(server.ctx), base_url="http://127.0.0.1")
    assert c.get("/").text == "<html>dash</html>"
    assert c.get("/jobs/12").text == "<html>dash</html>"  # client-side route
    assert c.get("/assets/a.js").text == "x=1"
    assert c.get("/../../etc/passwd").status_code in (200, 404) and "root:" not in c.get("/../../etc/passwd").text
    assert c.get("/api/v1/nothing", headers=server.auth()).status_code == 404
