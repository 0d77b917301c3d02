"""API tokens: random secrets shown once, stored as SHA-256 hashes, scoped to a project and a role.

A token looks like ``tsr_<8 hex>_<43 url-safe characters>`` (256 random bits). The store keeps
only its hash and its first characters (to tell tokens apart in ``tessera token ls``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from tessera.errors import NotFoundError, SpecError
from tessera.models.spec import _QUEUE
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated

PREFIX = "tsr_"


class Role(StrEnum):
    """What a token may do: viewers read, submitters also submit and cancel, admins also manage."""

    VIEWER = "viewer"
    SUBMITTER = "submitter"
    ADMIN = "admin"


RANK = {Role.VIEWER: 0, Role.SUBMITTER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Token:
    """A stored token (never the secret itself)."""

    id: int
    name: str
    prefix: str
    project: str
    role: Role
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    def allows(self, needed: Role) -> bool:
        return RANK[self.role] >= RANK[needed]


def digest(secret: str) -> str:
    """The stored form of a token or session secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return f"{PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def _row(r: Any) -> Token:
    return Token(r.id, r.name, r.prefix, r.project, Role(r.role), r.created_at, r.revoked_at, r.last_used_at)


def create(store: Store, name: str, project: str, role: str) -> tuple[Token, str]:
    """Create a token; returns it with its secret, which is never shown again."""
    if not _QUEUE.match(project):
        raise SpecError(f"project {project!r} is not a valid name", "use 1-63 lower-case letters, digits, '_' or '-'")
    try:
        r = Role(role)
    except ValueError:
        raise SpecError(f"unknown role {role!r}", f"use one of {', '.join(x.value for x in Role)}") from None
    if not name or len(name) > 128 or any(c in name for c in "\n\r\x00"):
        raise SpecError(f"token name {name!r} is empty, too long or has control characters",
                        "give a short name, e.g. --name ci")
    secret = new_secret()
    now = time.time()
    with translated("creating a token"), store._write() as conn:
        tid = conn.execute(t.api_tokens.insert().values(
            name=name, prefix=secret[:12], hash=digest(secret), project=project, role=r.value,
            created_at=now)).inserted_primary_key[0]  # type: ignore[index]
    return Token(int(tid), name, secret[:12], project, r, now), secret


def listing(store: Store) -> list[Token]:
    with translated("listing tokens"), store._read() as conn:
        return [_row(r) for r in conn.execute(select(t.api_tokens).order_by(t.api_tokens.c.id))]


def revoke(store: Store, token_id: int) -> Token:
    """Revoke a token (and end its sessions); revoking twice is harmless."""
    with translated("revoking a token"), store._write() as conn:
        row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"no token {token_id}", "list tokens with `tessera token ls`")
        if row.revoked_at is None:
            conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(revoked_at=time.time()))
        conn.execute(t.sessions.delete().where(t.sessions.c.token_id == token_id))
        row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
    return _row(row)


_BY_HASH = "SELECT id, name, prefix, project, role, created_at, revoked_at, last_used_at FROM api_tokens WHERE hash = ?"


def verify(store: Store, secret: str, conn: Any = None) -> Token | None:
    """The live token with this secret, or None (unknown, malformed or revoked).

    The server calls this on every request (so a revocation binds the next request), so it is one
    indexed read on the driver's own connection (``conn``, a driver connection the caller keeps, or
    one from the pool), without SQLAlchemy's expression layer.
    """
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    with translated("checking a token"):
        own = conn is None
        if own:
            conn = store.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(store.sql(_BY_HASH), (digest(secret),))
            row = cur.fetchone()
            cur.close()
        finally:
            if own:
                conn.close()
    if row is None or row[6] is not None:
        return None
    return Token(row[0], row[1], row[2], row[3], Role(row[4]), row[5], row[6], row[7])


def by_id(store: Store, token_id: int) -> Token | None:
    with translated("reading a token"), store._read() as conn:
        row = conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
    return None if row is None or row.revoked_at is not None else _row(row)


def any_live(store: Store) -> bool:
    """Whether at least one token can sign in (authentication is configured)."""
    with translated("reading tokens"), store._read() as conn:
        return conn.execute(select(t.api_tokens.c.id).where(t.api_tokens.c.revoked_at.is_(None)).limit(1)).first() \
            is not None


def touch(store: Store, token_id: int) -> None:
    """Record that a token was used (the server does this at most once a minute per token)."""
    with translated("recording token use"), store._write() as conn:
        conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(last_used_at=time.time()))
