"""Rate limits: the token bucket (pure), and buckets shared by every process of a server."""

from __future__ import annotations

from pathlib import Path

from tessera.server.limits import SharedLimiter
from tessera.server.security import RateLimiter, refill


def test_refill_spends_refills_and_caps_at_the_burst() -> None:
    got = refill(None, 100.0, rate=2, burst=3)
    assert (got.tokens, got.wait) == (2, 0)
    empty = refill((0.0, 100.0), 100.0, rate=2, burst=3)
    assert empty.wait == 0.5 and empty.tokens == 0
    assert refill((0.0, 100.0), 100.5, rate=2, burst=3).wait == 0  # half a second later: one token back
    assert refill((1.0, 0.0), 1000.0, rate=2, burst=3).tokens == 2  # never more than the burst


def test_in_memory_limiter_refuses_past_the_burst() -> None:
    lim = RateLimiter(rate=1, burst=2)
    assert [lim.take("k", now=5.0) for _ in range(3)] == [0, 0, 1.0]
    assert lim.take("other", now=5.0) == 0


def test_two_processes_share_one_bucket(tmp_path: Path) -> None:
    """Two limiters on one file (as two worker processes have) spend the same tokens: together they
    allow the burst once, not once each; in-memory limiters would allow it twice."""
    path = tmp_path / "ratelimits.db"
    a, b = SharedLimiter(path, rate=1, burst=3), SharedLimiter(path, rate=1, burst=3)
    try:
        now = 1_000.0
        allowed = [x.take("token:1", now) == 0 for x in (a, b, a, b, a, b)]
        assert allowed == [True, True, True, False, False, False]
        assert a.take("token:2", now) == 0  # another key has its own bucket
        assert b.take("token:1", now + 1.0) == 0  # a second later, one more request from either
        assert a.take("token:1", now + 1.0) > 0
        assert SharedLimiter(path, rate=0, burst=0).take("token:1", now) == 0  # rate 0: no limit
    finally:
        a.close()
        b.close()
