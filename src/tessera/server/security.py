"""Who is calling and may they: bearer tokens, UI sessions with CSRF, Host/Origin checks, rate limits.

* API clients send ``Authorization: Bearer <token>`` (never a query parameter or a cookie).
* A browser signs in by sending its token once as a bearer header to ``POST /api/v1/session``;
  it gets an HttpOnly, SameSite=Strict cookie ``tessera_session`` and a CSRF token. Every
  state-changing request (POST, PUT, PATCH, DELETE) that a session cookie authenticates must
  carry that CSRF token in ``X-CSRF-Token`` and an ``Origin`` (or ``Referer``) of this server.
* Every request's ``Host`` must be one the server answers to (defeats DNS rebinding), and any
  ``Origin`` sent with a state-changing request must be this server's own or an allowed one.
* Each token (or, before authentication, each client address) draws from a token bucket.

The checks here are pure functions of the request's headers, so they are tested on their own.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import select

from tessera.server.tokens import Role, Token, by_id, digest
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated

SESSION_COOKIE = "tessera_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_TTL_S = 12 * 3600


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its token, and how it came (``bearer`` or ``session``)."""

    token: Token
    via: str
    session: str | None = None  # the session's hash when via == "session"
    csrf: str | None = None

    @property
    def project(self) -> str:
        return self.token.project

    @property
    def role(self) -> Role:
        return self.token.role

    @property
    def actor(self) -> str:
        return f"token:{self.token.id}:{self.token.name}"


class Refused(Exception):  # noqa: N818 - a decision, mapped to a status code
    """A request refused by a security check: status code, message and what to do."""

    def __init__(self, status: int, what: str, fix: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(what)
        self.status, self.what, self.fix, self.headers = status, what, fix, headers or {}


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def host_name(host_header: str) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``::1``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def check_host(host_header: str | None, allowed: frozenset[str]) -> None:
    """Refuse a request whose Host is not a name this server answers to."""
    if "*" in allowed:
        return
    if not host_header or host_name(host_header) not in allowed:
        raise Refused(400, f"unexpected Host header {host_header!r}",
                      "reach the server by a name it was started for, or add one with --allowed-host")


def check_origin(method: str, headers: dict[str, str], scheme: str, via: str | None,
                 allowed_origins: frozenset[str]) -> None:
    """For state-changing methods: any Origin must be this server's own or an allowed one; a
    session-authenticated request must show its Origin (or a Referer of this server)."""
    if method not in UNSAFE:
        return
    own = f"{scheme}://{headers.get('host', '').lower()}"
    origin = headers.get("origin")
    if origin is not None:
        if origin.lower() != own and origin.lower() not in allowed_origins:
            raise Refused(403, f"cross-origin request from {origin!r} refused",
                          "call the API from the dashboard this server serves, or add --allowed-origin")
        return
    if via == "session":
        ref = headers.get("referer")
        parts = urlsplit(ref) if ref else None
        if parts is None or f"{parts.scheme}://{parts.netloc}".lower() not in ({own} | allowed_origins):
            raise Refused(403, "a state-changing request from a browser session came without Origin or Referer",
                          "send the request from the dashboard (browsers add Origin themselves)")


def check_csrf(method: str, principal: Principal, sent: str | None) -> None:
    """Session requests that change state must echo the session's CSRF token."""
    if method not in UNSAFE or principal.via != "session":
        return
    if not sent or principal.csrf is None or not hmac.compare_digest(sent, principal.csrf):
        raise Refused(403, f"missing or wrong {CSRF_HEADER} header",
                      f"send the csrf_token from POST/GET /api/v1/session in the {CSRF_HEADER} header")


def require(principal: Principal, needed: Role) -> None:
    if not principal.token.allows(needed):
        raise Refused(403, f"this needs the {needed.value} role; the token {principal.token.name!r} is "
                           f"{principal.role.value}", f"use a token with the {needed.value} role (`tessera token create`)")


# ---------------------------------------------------------------- sessions (stored hashed, like tokens)

def open_session(store: Store, token: Token, now: float | None = None) -> tuple[str, str]:
    """A new session for ``token``: returns (cookie value, CSRF token)."""
    now = time.time() if now is None else now
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with translated("opening a session"), store._write() as conn:
        conn.execute(t.sessions.delete().where(t.sessions.c.expires_at < now))
        conn.execute(t.sessions.insert().values(hash=digest(cookie), token_id=token.id, csrf=csrf,
                                                created_at=now, expires_at=now + SESSION_TTL_S))
    return cookie, csrf


def session(store: Store, cookie: str) -> Principal | None:
    """The principal of a live session cookie, or None."""
    if not cookie or len(cookie) > 100:
        return None
    h = digest(cookie)
    with translated("reading a session"), store._read() as conn:
        row = conn.execute(select(t.sessions).where(t.sessions.c.hash == h)).first()
    if row is None or row.expires_at < time.time():
        return None
    token = by_id(store, row.token_id)
    return None if token is None else Principal(token, "session", h, row.csrf)


def close_session(store: Store, session_hash: str) -> None:
    with translated("closing a session"), store._write() as conn:
        conn.execute(t.sessions.delete().where(t.sessions.c.hash == session_hash))


# ---------------------------------------------------------------- rate limits

AUTH_RATE, AUTH_BURST = 5.0, 20.0  # failed authentications a second (and burst) per client address


@dataclass(frozen=True, slots=True)
class Refill:
    """A bucket after one request: its tokens and time, and the seconds to wait (0: allowed)."""

    tokens: float
    at: float
    wait: float


def refill(bucket: tuple[float, float] | None, now: float, rate: float, burst: float) -> Refill:
    """Spend one request from a bucket of (tokens, time), or a new full one (pure)."""
    tokens, at = bucket if bucket is not None else (burst, now)
    tokens = min(burst, tokens + max(0.0, now - at) * rate)
    if tokens >= 1:
        return Refill(tokens - 1, now, 0.0)
    return Refill(tokens, now, (1 - tokens) / rate)


class Limiter(Protocol):
    def take(self, key: str, now: float | None = None) -> float: ...


@dataclass
class RateLimiter:
    """A token bucket per key in this process's memory: ``rate`` requests a second on average,
    bursts up to ``burst`` (``limits.SharedLimiter`` keeps them for several processes)."""

    rate: float
    burst: float
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, when)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one request; returns 0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self.lock:
            b = self.buckets.get(key)
            if b is None and len(self.buckets) > 10_000:
                self.buckets.clear()
            got = refill(b, now, self.rate, self.burst)
            self.buckets[key] = (got.tokens, got.at)
            return got.wait


def limit(limiter: Limiter, key: str) -> None:
    wait = limiter.take(key)
    if wait:
        raise Refused(429, "too many requests", f"slow down: retry after {wait:.2f} s",
                      {"Retry-After": str(max(1, round(wait + 0.5)))})


def loopback_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a server answers to: loopback names, the bound host and any extra."""
    return frozenset({"127.0.0.1", "localhost", "::1", *(h.lower() for h in extra)})
