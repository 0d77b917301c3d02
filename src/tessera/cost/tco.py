"""Cloud versus on-premises for a workload (pure): the seeds' TCO comparison.

An owned machine costs its hourly rate for every hour of the month, used or not (amortised
purchase, power × PUE for cooling, operations); a cloud instance costs only the hours the
workload runs, on demand or on spot. The break-even utilisation is the fraction of the month
at which the two cost the same: below it the cloud is cheaper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

HOURS_PER_MONTH = 730.0


def owned_usd_per_hour(capex_usd: float, years: float, watts: float, usd_per_kwh: float, pue: float = 1.5,
                       ops_usd_per_month: float = 0.0) -> float:
    """All-in hourly cost of an owned machine: straight-line amortisation, power with cooling
    overhead (PUE), and operations, spread over every hour."""
    amortised = capex_usd / (years * 12 * HOURS_PER_MONTH) if years > 0 else 0.0
    power = watts / 1000.0 * pue * usd_per_kwh
    return amortised + power + ops_usd_per_month / HOURS_PER_MONTH


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # on_demand | spot | owned
    usd_per_hour: float
    usd_per_month: float
    utilisation: float


def compare(hours_per_month: float, cloud: dict[str, tuple[float, float]], owned: dict[str, float]) -> dict[str, Any]:
    """Monthly dollars of each option for ``hours_per_month`` of work.

    Args:
        hours_per_month: machine-hours the workload needs each month (on one machine of each kind;
            give hours already scaled by relative speed when the machines differ).
        cloud: ``{instance: (on-demand $/h, spot $/h)}``.
        owned: ``{machine: all-in $/h}``.
    """
    if not hours_per_month > 0:
        raise ValueError("hours_per_month must be positive")
    util = min(1.0, hours_per_month / HOURS_PER_MONTH)
    opts: list[Option] = []
    for name, (od, spot) in cloud.items():
        opts.append(Option(name, "on_demand", od, od * hours_per_month, util))
        opts.append(Option(name, "spot", spot, spot * hours_per_month, util))
    machines = max(1.0, -(-hours_per_month // HOURS_PER_MONTH))  # whole machines to own
    for name, rate in owned.items():
        opts.append(Option(name, "owned", rate, rate * HOURS_PER_MONTH * machines, util))
    best = min(opts, key=lambda o: o.usd_per_month)
    breakeven = {f"{m} vs {c} on_demand": min(1.0, r / od) for m, r in owned.items() for c, (od, _s) in cloud.items()
                 if od > 0}
    return {"hours_per_month": hours_per_month, "options": [asdict(o) for o in opts], "cheapest": asdict(best),
            "breakeven_utilisation": breakeven}
