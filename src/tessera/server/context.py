"""``Context``: what every route needs (settings, store, the controller link, limits), built once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tessera.config import Settings
from tessera.errors import StoreError
from tessera.scheduler.decide import Capacity
from tessera.server import tokens
from tessera.server.audit import GroupWriter
from tessera.server.intake import Intake
from tessera.server.security import AUTH_BURST, AUTH_RATE, Limiter, RateLimiter
from tessera.store import Store

LAST_USED_EVERY_S = 60.0


@dataclass
class Context:
    """The server's state. ``poke`` tells the controller that the store changed."""

    settings: Settings
    store: Store
    total: Capacity
    poke: Callable[..., None]  # (deps: bool, cancels: bool = True): what the controller must look at
    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str] = frozenset()
    secure_cookies: bool = False
    limiter: Limiter = field(default_factory=lambda: RateLimiter(rate=2000, burst=4000))
    auth_limiter: Limiter = field(default_factory=lambda: RateLimiter(AUTH_RATE, AUTH_BURST))
    audit: GroupWriter = field(init=False)
    intake: Intake = field(init=False)
    _used: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: Any = None  # SQLite: the driver connection token reads use

    def __post_init__(self) -> None:
        self.audit = GroupWriter(self.store)
        self.intake = Intake(self.store, self.total, self.poke)

    def token(self, secret: str) -> tokens.Token | None:
        """The live token for a bearer secret, read afresh (a revoked token fails its next request);
        its last use is recorded at most every ``LAST_USED_EVERY_S``."""
        if self.store.dialect == "sqlite":  # one kept connection (SQLite reads are local and short)
            with self._lock:
                if self._reader is None:
                    self._reader = self.store.engine.raw_connection()
                try:
                    tok = tokens.verify(self.store, secret, self._reader)
                except StoreError:
                    self._close_reader()
                    raise
        else:
            tok = tokens.verify(self.store, secret)
        if tok is None:
            return None
        now = time.monotonic()
        with self._lock:
            stale = now - self._used.get(tok.id, -1e9) > LAST_USED_EVERY_S
            if stale:
                self._used[tok.id] = now
        if stale:  # a write: off the caller's path (the event loop), best effort
            threading.Thread(target=self._touch, args=(tok.id,), daemon=True).start()
        return tok

    def _close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.close()
            self._reader = None

    def close(self) -> None:
        with self._lock:
            self._close_reader()

    def _touch(self, token_id: int) -> None:
        with contextlib.suppress(StoreError):
            tokens.touch(self.store, token_id)
