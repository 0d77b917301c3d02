"""When local spot slots are preempted: a seeded Poisson schedule (``R/h``) or a trace file. Pure."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path

from tessera.errors import SpecError

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}


def parse_rate(text: str | float) -> float:
    """Preemptions per hour from ``12``, ``12/h``, ``1/min`` or ``0.5/s``."""
    raw = str(text).strip()
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(?:/\s*([a-z]+))?", raw)
    if m is None or (m.group(2) and m.group(2) not in _UNITS):
        raise SpecError(f"preemption rate {raw!r} is not a rate",
                        "write it as a number per hour, e.g. 12/h, 1/min or 0.5/s")
    value = float(m.group(1))
    per = _UNITS[m.group(2)] if m.group(2) else 3600.0
    return value * 3600.0 / per


def parse_trace(path: str | Path) -> list[float]:
    """Preemption times in seconds after the controller starts: a JSON list of numbers, or one
    number per line (``#`` starts a comment)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SpecError(f"cannot read the preemption trace {p}: {e.strerror}",
                        "give an existing file with one time in seconds per line") from None
    try:
        if text.lstrip().startswith("["):
            values = [float(v) for v in json.loads(text)]
        else:
            values = [float(line.split("#", 1)[0]) for line in text.splitlines() if line.split("#", 1)[0].strip()]
    except (ValueError, TypeError) as e:
        raise SpecError(f"the preemption trace {p} has a value that is not a number ({e})",
                        "write one time in seconds per line, or a JSON list of numbers") from None
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        raise SpecError(f"the preemption trace {p} has times that are negative or not finite: {bad[:3]}",
                        "use times of zero or more seconds after the controller starts")
    return sorted(values)


def poisson(rate_per_h: float, seed: int) -> Iterator[float]:
    """Event times (seconds from 0) of a Poisson process of ``rate_per_h`` per hour, seeded."""
    if rate_per_h <= 0:
        return
    rng = random.Random(seed)
    t = 0.0
    per_s = rate_per_h / 3600.0
    while True:
        t += rng.expovariate(per_s)
        yield t


class Schedule:
    """The next preemption time, from a trace or a seeded Poisson process (seconds from ``start``)."""

    def __init__(self, start: float, rate_per_h: float = 0.0, trace: list[float] | None = None, seed: int = 0):
        self.start = start
        self._times: Iterator[float] = iter(trace) if trace is not None else poisson(rate_per_h, seed)
        self.next_at: float | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._times, None)
        self.next_at = None if nxt is None else self.start + nxt

    def due(self, now: float) -> int:
        """How many preemptions fell due by ``now`` (each is consumed)."""
        n = 0
        while self.next_at is not None and self.next_at <= now:
            n += 1
            self._advance()
        return n
