"""Pure scheduling decisions: placement with backfill, dependency resolution, retry policy."""

from tessera.scheduler.decide import Capacity, Decision, Placement, Running, decide, fits_at_all
from tessera.scheduler.deps import DepStatus, evaluate
from tessera.scheduler.retry import RetryDecision, decide_retry

__all__ = [
    "Capacity", "DepStatus", "Decision", "Placement", "RetryDecision", "Running", "decide",
    "decide_retry", "evaluate", "fits_at_all",
]
