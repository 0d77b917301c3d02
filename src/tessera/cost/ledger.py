"""The cost ledger (pure): what each attempt cost, and roll-ups of those costs.

An attempt costs its share of the machine × the machine's hourly rate in force when the attempt
started × its duration. The share is the dominant one: the largest of cpus/machine cpus,
memory/machine memory and gpus/machine gpus (capped at 1), because a job holding the only GPU
keeps the machine's GPU price busy however few CPUs it takes. A spot attempt (its placement or
its job says ``capacity: spot``) is priced at the spot rate of that time. Ended attempts that did
not succeed (failed, timed out, cancelled, lost, preempted, fenced) count as waste; attempts
still open count what they have cost so far; ``unstarted`` ones never ran and cost nothing.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

OPEN = frozenset({"starting", "running"})
FREE = frozenset({"unstarted"})
BY = ("project", "queue", "job", "array", "workflow")


@dataclass(frozen=True)
class Rate:
    """A machine's price from ``at`` on, with the capacity that price buys."""

    at: float
    name: str
    on_demand_usd_h: float
    spot_usd_h: float | None
    cpus: float
    memory_mb: int
    gpus: int
    source: str = "manual"

    def usd_per_hour(self, spot: bool = False) -> float:
        if spot and self.spot_usd_h is not None:
            return self.spot_usd_h
        return self.on_demand_usd_h

    def share(self, cpus: float, memory_mb: int | None, gpus: int) -> float:
        parts = [cpus / self.cpus if self.cpus > 0 else 0.0,
                 (memory_mb or 0) / self.memory_mb if self.memory_mb > 0 else 0.0,
                 gpus / self.gpus if self.gpus > 0 else (1.0 if gpus else 0.0)]
        return min(1.0, max(parts))

    def usd(self, cpus: float, memory_mb: int | None, gpus: int, seconds: float, spot: bool = False) -> float:
        return self.share(cpus, memory_mb, gpus) * self.usd_per_hour(spot) * max(0.0, seconds) / 3600.0


def rate_at(rates: Sequence[Rate], t: float) -> Rate | None:
    """The rate in force at ``t`` (rates sorted by ``at``); before the first one, the first one."""
    if not rates:
        return None
    i = bisect.bisect_right([r.at for r in rates], t) - 1
    return rates[max(i, 0)]


@dataclass(frozen=True)
class AttemptRow:
    """What the ledger needs of an attempt and its job."""

    attempt_id: int
    job_id: int
    ref: str
    project: str
    queue: str
    array_id: int | None
    state: str
    started_at: float
    ended_at: float | None
    cpus: float
    memory_mb: int | None
    gpus: int
    spot: bool = False
    workflow: str | None = None  # the job's ``workflow`` tag (set by tessera's workflows)


@dataclass(frozen=True)
class AttemptCost:
    """An attempt (``row``) and what it cost."""

    row: AttemptRow
    seconds: float
    share: float
    usd_per_hour: float
    rate: str
    usd: float
    waste: bool
    open: bool

    attempt_id = property(lambda self: self.row.attempt_id)
    job_id = property(lambda self: self.row.job_id)
    ref = property(lambda self: self.row.ref)
    array_id = property(lambda self: self.row.array_id)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {**d.pop("row"), **d}


def attempt_cost(row: AttemptRow, rates: Sequence[Rate], now: float) -> AttemptCost | None:
    """One attempt's cost; None when no rate is known."""
    rate = rate_at(rates, row.started_at)
    if rate is None:
        return None
    is_open = row.state in OPEN
    seconds = 0.0 if row.state in FREE else max(0.0, (now if is_open else (row.ended_at or row.started_at))
                                                 - row.started_at)
    share = rate.share(row.cpus, row.memory_mb, row.gpus)
    per_h = rate.usd_per_hour(row.spot)
    return AttemptCost(row, seconds, share, per_h, rate.name, share * per_h * seconds / 3600.0,
                       waste=not is_open and row.state not in FREE and row.state != "succeeded", open=is_open)


def group_key(c: AttemptCost, by: str) -> str:
    if by == "project":
        return c.row.project
    if by == "queue":
        return c.row.queue
    if by == "array":
        return str(c.array_id) if c.array_id is not None else "-"
    if by == "workflow":
        return c.row.workflow or "-"
    return str(c.ref)


def roll_up(costs: Iterable[AttemptCost], by: str) -> list[dict[str, Any]]:
    """Totals per group: dollars, of which waste, attempts and seconds; largest first."""
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: {"usd": 0.0, "waste_usd": 0.0, "attempts": 0, "seconds": 0.0})
    for c in costs:
        g = acc[group_key(c, by)]
        g["usd"] += c.usd
        g["waste_usd"] += c.usd if c.waste else 0.0
        g["attempts"] += 1
        g["seconds"] += c.seconds
    return [{by: k, **v} for k, v in sorted(acc.items(), key=lambda kv: (-kv[1]["usd"], kv[0]))]
