"""The spot side's dollars, from the cost ledger's prices: one source of dollars for tessera.

An attempt on a spot or on-demand slot is priced exactly as ``tessera cost`` prices it: the
machine's rate in force when the attempt started (the ``rates`` history, ``ledger.rate_at``), the
attempt's dominant share of the machine, the spot or on-demand hourly rate, times its duration
(``ledger.attempt_cost``). ``reprice`` applies that to the rows of ``spot_attempts`` when a
report is made, so ``tessera spot report``, ``tessera show`` and ``tessera cost`` agree on the
same attempts; ``Pricer`` gives the spot side the same figures when it records an attempt.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tessera.cost import catalog as cat
from tessera.cost import db
from tessera.cost.ledger import AttemptRow, Rate, attempt_cost, rate_at
from tessera.scheduler.decide import Capacity
from tessera.store import Store

RATES_TTL_S = 5.0  # a rate set from another process applies to a running controller within this


def dollars(row: AttemptRow, rates: Sequence[Rate], now: float, lost_s: float | None = None
            ) -> tuple[float, float, float | None]:
    """(dollars as it ran, dollars on demand, dollars of the work lost) of one attempt."""
    c = attempt_cost(row, rates, now)
    if c is None:
        return 0.0, 0.0, None
    od = attempt_cost(dataclasses.replace(row, spot=False), rates, now)
    lost = None if lost_s is None else c.share * c.usd_per_hour * lost_s / 3600.0
    return c.usd, od.usd if od is not None else c.usd, lost


def reprice(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spot_attempts`` rows with ``usd``, ``on_demand_usd`` and ``lost_usd`` from the ledger.

    A row whose attempt the ledger cannot price (its attempt row is gone) keeps what was recorded
    when the attempt ended (priced the same way, by ``Pricer``, which also writes the default rate
    when none was set, so a recorded attempt always has a rate).
    """
    if not rows:
        return rows
    rates = db.rates(store)
    if not rates:
        return rows
    ids = sorted({int(r["job_id"]) for r in rows})
    by_attempt = {a.attempt_id: a for a in db.attempt_rows(store, job_ids=ids)}
    now = time.time()
    out = []
    for r in rows:
        a = by_attempt.get(int(r["attempt_id"]))
        if a is None:
            out.append(r)
            continue
        usd, od, lost = dollars(a, rates, now, r.get("lost_s"))
        out.append({**r, "usd": usd, "on_demand_usd": od, "lost_usd": lost})
    return out


class Pricer:
    """The rates in force, read through a short cache, for the spot side's records."""

    def __init__(self, store: Store, total: Capacity, home: Path | None = None) -> None:
        self.store, self.total, self.home = store, total, home
        self._rates: list[Rate] = []
        self._until = 0.0

    def rates(self) -> list[Rate]:
        if time.monotonic() >= self._until:
            self._rates = db.ensure_rates(self.store, self.total, cat.load(self.home))
            self._until = time.monotonic() + RATES_TTL_S
        return self._rates

    def price(self, started_at: float, ended_at: float, cpus: float, memory_mb: int | None, gpus: int, spot: bool,
              lost_s: float | None) -> tuple[float, float, float | None]:
        """(dollars, on-demand dollars, lost dollars) of an attempt that ran from ``started_at``."""
        rate = rate_at(self.rates(), started_at)
        if rate is None:
            return 0.0, 0.0, None
        row = AttemptRow(0, 0, "", "", "", None, "ended", started_at, ended_at, cpus, memory_mb, gpus, spot)
        return dollars(row, [rate], ended_at, lost_s)
