"""Budget verdicts (pure): what a submission may do given what its project has spent.

A budget has a limit in dollars, a warning threshold (a fraction of the limit) and an action
for a submission whose forecast would take the project past its limit:

* ``warn``: accept it and say so;
* ``hold``: accept it, but keep it pending (reason ``budget``) until released;
* ``downgrade``: accept it on spot capacity and its cheapest variant;
* ``reject``: refuse it; nothing is stored.

Below the limit but past the threshold, every action only warns. A job whose runtime cannot be
forecast counts as $0, so it is held or refused only once the limit is already reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    action: str  # ok | warn | hold | downgrade | reject
    message: str
    spent_usd: float
    forecast_usd: float
    limit_usd: float

    @property
    def left_usd(self) -> float:
        return self.limit_usd - self.spent_usd


def judge(project: str, budget: dict[str, Any] | None, spent_usd: float, forecast_usd: float | None) -> Verdict:
    """The verdict for a submission of forecast ``forecast_usd`` (None: unknown) to ``project``."""
    if budget is None:
        return Verdict("ok", "", spent_usd, forecast_usd or 0.0, float("inf"))
    limit, warn_at, action = float(budget["limit_usd"]), float(budget["warn_at"]), str(budget["action"])
    f = forecast_usd or 0.0
    after = spent_usd + f
    fc = "unknown" if forecast_usd is None else f"${f:.4f}"
    status = f"project {project} has spent ${spent_usd:.4f} of its ${limit:.4f} budget; this submission's forecast is {fc}"
    over = after > limit or (forecast_usd is None and spent_usd >= limit)
    if not over:
        if after > warn_at * limit:
            return Verdict("warn", f"{status} ({100 * after / limit if limit else 100:.0f}% after it)", spent_usd, f, limit)
        return Verdict("ok", "", spent_usd, f, limit)
    words = {"warn": "over budget (action warn: accepted)",
             "hold": "over budget: held until `tessera budget release " + project + "`",
             "downgrade": "over budget: downgraded to spot capacity and its cheapest variant",
             "reject": "over budget: refused"}
    return Verdict(action, f"{status}; {words.get(action, action)}", spent_usd, f, limit)
