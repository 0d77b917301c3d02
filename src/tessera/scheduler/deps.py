"""Whether a job's dependencies (Slurm's afterok, afterany, afternotok) let it run."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from tessera.models.states import TERMINAL, JobState


class DepStatus(StrEnum):
    SATISFIED = "satisfied"
    WAITING = "waiting"
    NEVER = "never"


def _one(kind: str, state: JobState) -> DepStatus:
    if state not in TERMINAL:
        return DepStatus.WAITING
    if kind == "afterany":
        return DepStatus.SATISFIED
    ok = state is JobState.SUCCEEDED
    if kind == "afterok":
        return DepStatus.SATISFIED if ok else DepStatus.NEVER
    if kind == "afternotok":
        return DepStatus.NEVER if ok else DepStatus.SATISFIED
    raise ValueError(f"unknown dependency kind {kind!r}")


def evaluate(deps: Iterable[tuple[str, str]]) -> DepStatus:
    """Combine ``(kind, state of the job depended on)`` pairs: all must be satisfied."""
    result = DepStatus.SATISFIED
    for kind, state in deps:
        one = _one(kind, JobState(state))
        if one is DepStatus.NEVER:
            return DepStatus.NEVER
        if one is DepStatus.WAITING:
            result = DepStatus.WAITING
    return result
