"""Pure data: job specifications, states and reasons, and the records the store returns."""

from tessera.models.job import Attempt, Event, Job, parse_ref
from tessera.models.spec import (
    ArraySpec,
    Dependency,
    DependencyKind,
    JobSpec,
    Resources,
    RetryPolicy,
    RetryRule,
    make_spec,
    parse_dependency,
    parse_indices,
)
from tessera.models.states import TERMINAL, TRANSITIONS, JobState, Reason, can_move, describe

__all__ = [
    "TERMINAL", "TRANSITIONS", "ArraySpec", "Attempt", "Dependency", "DependencyKind", "Event", "Job",
    "JobSpec", "JobState", "Reason", "Resources", "RetryPolicy", "RetryRule", "can_move", "describe",
    "make_spec", "parse_dependency", "parse_indices", "parse_ref",
]
