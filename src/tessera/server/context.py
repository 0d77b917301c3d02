"""``Context``: what every route needs (settings, store, the controller link, limits), built once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tessera.config import Settings
from tessera.scheduler.decide import Capacity
from tessera.server import tokens
from tessera.server.audit import GroupWriter
from tessera.server.intake import Intake
from tessera.server.security import RateLimiter
from tessera.store import Store

TOKEN_CACHE_S = 1.0  # a revoked token stops working within this long
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
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(rate=2000, burst=4000))
    auth_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(rate=5, burst=20))
    audit: GroupWriter = field(init=False)
    intake: Intake = field(init=False)
    _tokens: dict[str, tuple[tokens.Token | None, float]] = field(default_factory=dict)
    _used: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.audit = GroupWriter(self.store)
        self.intake = Intake(self.store, self.total, self.audit, self.poke)

    def token(self, secret: str) -> tokens.Token | None:
        """The live token for a bearer secret, cached for ``TOKEN_CACHE_S``."""
        now = time.monotonic()
        with self._lock:
            hit = self._tokens.get(secret)
        if hit is not None and hit[1] > now:
            return hit[0]
        tok = tokens.verify(self.store, secret)
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[secret] = (tok, now + TOKEN_CACHE_S)
            stale = tok is not None and now - self._used.get(tok.id, -1e9) > LAST_USED_EVERY_S
            if stale and tok is not None:
                self._used[tok.id] = now
        if stale and tok is not None:
            tokens.touch(self.store, tok.id)
        return tok

    def forget_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()
