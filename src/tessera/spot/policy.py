"""Spot decisions, pure: which capacity class an attempt gets, and the work a preemption lost
(its dollars come from the cost ledger's prices: ``spot.pricing``)."""

from __future__ import annotations

from datetime import datetime

SPOT = "spot"
ON_DEMAND = "on_demand"
DEADLINE_TAG = "tessera.deadline"  # epoch seconds or ISO 8601: when the job must be done
WORK_TAG = "tessera.work_s"  # the job's expected run time in seconds, for the deadline slack


def deadline_of(tags: dict[str, str]) -> float | None:
    """The job's deadline from its ``tessera.deadline`` tag (epoch seconds or ISO 8601), or None."""
    raw = tags.get(DEADLINE_TAG)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return datetime.fromisoformat(raw).timestamp()


def slack_s(now: float, deadline: float | None, work_s: float | None, progress: float | None) -> float:
    """Seconds to spare before the deadline once the remaining work is done (inf: no deadline)."""
    if deadline is None:
        return float("inf")
    remaining = (work_s or 0.0) * (1.0 - (progress or 0.0))
    return deadline - now - remaining


def choose(preemptions: int, cap: int, slack: float, notice_s: float, spot_free: bool) -> tuple[str, str | None]:
    """The class for a new attempt, and why it falls back to on-demand (None when it does not).

    A job preempted ``cap`` times, or whose deadline slack could not absorb one more preemption
    (the notice period), runs on-demand; otherwise it takes a spot slot when one is free.
    """
    if preemptions >= cap:
        return ON_DEMAND, f"preempted {preemptions} times (cap {cap}): falls back to on-demand"
    if slack < notice_s:
        return ON_DEMAND, f"deadline slack {max(slack, 0):.0f} s is under the {notice_s:g} s notice: on-demand"
    return (SPOT, None) if spot_free else (ON_DEMAND, None)


def work_lost_s(ran_at: float | None, ended_at: float, checkpoint_at: float | None) -> float:
    """Work the attempt did after its last checkpoint (all of it when it made none while running)."""
    if ran_at is None:
        return 0.0
    since = max(ran_at, checkpoint_at) if checkpoint_at is not None else ran_at
    return max(0.0, ended_at - since)
