"""Webhooks: job state events delivered as signed JSON POSTs to subscribed URLs.

Each webhook belongs to a project and names the job states it wants (default: the terminal
ones). A dispatcher reads new rows of the ``events`` table past each webhook's cursor, posts one
request per event with ``X-Tessera-Signature: sha256=<HMAC of the body with the webhook's
secret>``, retries a failed delivery with backoff (``TRIES`` times), then records the error and
moves on; the cursor is stored after each event, so a restart resumes where it stopped
(at-least-once delivery). Top-level jobs only: array elements would flood a receiver; the
array's own events are delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, select, update

from tessera.errors import NotFoundError, SpecError
from tessera.models.states import TERMINAL, JobState
from tessera.monitor.periodic import Periodic
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated

logger = logging.getLogger(__name__)
TRIES = 3
BATCH = 200


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create(store: Store, project: str, url: str, states: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """Subscribe ``url`` to job state events of ``project``; returns the webhook and its secret (shown once)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise SpecError(f"webhook URL {url!r} is not an http(s) URL", "give a URL like https://example.org/hook")
    chosen = states or sorted(s.value for s in TERMINAL)
    bad = [s for s in chosen if s not in JobState._value2member_map_]
    if bad:
        raise SpecError(f"unknown job states {bad}", f"use states among {', '.join(s.value for s in JobState)}")
    secret = secrets.token_hex(24)
    now = time.time()
    with translated("creating a webhook"), store._write() as conn:
        cursor = conn.execute(select(t.events.c.id).order_by(t.events.c.id.desc()).limit(1)).scalar() or 0
        hid = conn.execute(t.webhooks.insert().values(url=url, project=project, states=json.dumps(chosen),
                                                      secret=secret, created_at=now, cursor=cursor)
                           ).inserted_primary_key[0]  # type: ignore[index]
    return {"id": int(hid), "url": url, "project": project, "states": chosen, "created_at": now}, secret


def listing(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    q = select(t.webhooks).order_by(t.webhooks.c.id)
    if project is not None:
        q = q.where(t.webhooks.c.project == project)
    with translated("listing webhooks"), store._read() as conn:
        return [{"id": r.id, "url": r.url, "project": r.project, "states": json.loads(r.states),
                 "created_at": r.created_at, "cursor": r.cursor, "delivered": r.delivered,
                 "last_error": r.last_error} for r in conn.execute(q)]


def delete(store: Store, project: str, hook_id: int) -> None:
    with translated("deleting a webhook"), store._write() as conn:
        n = conn.execute(t.webhooks.delete().where(and_(t.webhooks.c.id == hook_id,
                                                        t.webhooks.c.project == project))).rowcount
    if not n:
        raise NotFoundError(f"no webhook {hook_id}", "list webhooks with GET /api/v1/webhooks")


def _events(store: Store, after: int, project: str, states: list[str]) -> list[dict[str, Any]]:
    e, j = t.events.c, t.jobs.c
    q = (select(e.id, e.job_id, e.at, e.src, e.dst, e.reason, e.detail, j.name, j.project, j.queue)
         .join(t.jobs, j.id == e.job_id)
         .where(and_(e.id > after, j.array_id.is_(None), j.project == project, e.dst.in_(states)))
         .order_by(e.id).limit(BATCH))
    with translated("reading events for webhooks"), store._read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


Post = Callable[[str, bytes, dict[str, str]], int]


def _httpx_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=5.0).status_code


class Dispatcher:
    """Delivers events to every webhook; ``run_once`` for tests, ``start`` for the server."""

    def __init__(self, store: Store, post: Post | None = None, interval: float = 0.5, backoff_s: float = 0.5) -> None:
        self.store = store
        self.post = post or _httpx_post
        self.interval = interval
        self.backoff_s = backoff_s
        self._periodic = Periodic("tessera-webhooks", interval, self.run_once)
        self._stop = self._periodic.stopping

    def run_once(self) -> int:
        """Deliver what is pending; returns the number of deliveries that succeeded."""
        done = 0
        with translated("reading webhooks"), self.store._read() as conn:
            hooks = conn.execute(select(t.webhooks)).all()
        for h in hooks:
            states = json.loads(h.states)
            cursor, error, ok = h.cursor, h.last_error, 0
            while not self._stop.is_set():
                evs = _events(self.store, cursor, h.project, states)
                for ev in evs:
                    err = self._deliver(h.url, h.secret, ev)
                    cursor = ev["id"]
                    if err is None:
                        ok += 1
                    else:
                        error = f"event {ev['id']}: {err}"
                    if self._stop.is_set():
                        break
                if len(evs) < BATCH:
                    break
            if cursor != h.cursor:
                with translated("advancing a webhook"), self.store._write() as conn:
                    conn.execute(update(t.webhooks).where(t.webhooks.c.id == h.id).values(
                        cursor=cursor, delivered=t.webhooks.c.delivered + ok, last_error=error))
            done += ok
        return done

    def _deliver(self, url: str, secret: str, ev: dict[str, Any]) -> str | None:
        body = json.dumps({"type": "job.state", "event_id": ev["id"], "at": ev["at"],
                           "job": {"id": str(ev["job_id"]), "name": ev["name"], "project": ev["project"],
                                   "queue": ev["queue"]},
                           "from": ev["src"], "to": ev["dst"], "reason": ev["reason"], "detail": ev["detail"]},
                          sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Tessera-Signature": sign(secret, body),
                   "X-Tessera-Event": str(ev["id"])}
        err = None
        for attempt in range(TRIES):
            try:
                code = self.post(url, body, headers)
                if 200 <= code < 300:
                    return None
                err = f"HTTP {code}"
            except Exception as e:  # noqa: BLE001 - any failure of the receiver is recorded, never raised
                err = f"{type(e).__name__}: {e}"
            if attempt + 1 < TRIES and self._stop.wait(self.backoff_s * 2 ** attempt):
                break
        logger.warning("webhook %s: giving up on event %s: %s", url, ev["id"], err)
        return err

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop(10)
