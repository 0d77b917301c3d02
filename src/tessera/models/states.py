"""Job states, the one table of legal transitions, and the typed reasons a job waits or ends."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life."""

    SUBMITTED = "submitted"
    PENDING = "pending"
    RUNNABLE = "runnable"
    STARTING = "starting"
    RUNNING = "running"
    PREEMPTED = "preempted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """Holding resources: an attempt is starting or running."""
        return self in (JobState.STARTING, JobState.RUNNING)


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})
WAITING = frozenset({JobState.SUBMITTED, JobState.PENDING, JobState.RUNNABLE})

S = JobState
#: Every legal move. ``running -> pending`` is a retry waiting out its backoff; ``running ->
#: runnable`` and ``starting -> runnable`` are an attempt lost to the infrastructure (a worker or
#: the controller died) and requeued; ``preempted -> runnable`` is the spot path.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.SUBMITTED: frozenset({S.PENDING, S.CANCELLED}),
    S.PENDING: frozenset({S.RUNNABLE, S.CANCELLED}),
    S.RUNNABLE: frozenset({S.STARTING, S.PENDING, S.CANCELLED}),
    S.STARTING: frozenset(
        {S.RUNNING, S.RUNNABLE, S.PENDING, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.TIMED_OUT, S.PREEMPTED}
    ),
    S.RUNNING: frozenset(
        {S.SUCCEEDED, S.FAILED, S.CANCELLED, S.TIMED_OUT, S.PREEMPTED, S.RUNNABLE, S.PENDING}
    ),
    S.PREEMPTED: frozenset({S.RUNNABLE, S.CANCELLED, S.FAILED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.TIMED_OUT: frozenset(),
}


def can_move(src: JobState, dst: JobState) -> bool:
    """Whether ``src -> dst`` is a legal transition."""
    return dst in TRANSITIONS[src]


class Reason(StrEnum):
    """Why a job waits, or why it ended the way it did."""

    # waiting
    DEPENDENCY = "dependency"
    BACKOFF = "backoff"
    RESOURCES = "resources"
    NO_FREE_GPU = "no_free_gpu"
    ARRAY_CAP = "array_cap"
    PRIORITY = "priority"
    RESERVED = "reserved"
    REQUEUED = "requeued"
    RETRY = "retry"
    # ended
    EXIT_CODE = "exit_code"
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    OOM = "oom"
    SIGNAL = "signal"
    CANCELLED_BY_USER = "cancelled_by_user"
    DEPENDENCY_NEVER = "dependency_never_satisfied"
    ARRAY_MAX_FAILURES = "array_max_failures"
    INFRA_BUDGET = "infra_retry_budget_exhausted"
    WORKER_LOST = "worker_lost"
    CONTROLLER_LOST = "controller_lost"
    LAUNCH_FAILED = "launch_failed"
    BUDGET = "budget"


_WORDS: dict[Reason, str] = {
    Reason.DEPENDENCY: "waiting for its dependencies to finish",
    Reason.BACKOFF: "waiting out its retry backoff",
    Reason.RESOURCES: "waiting for free CPUs or memory",
    Reason.NO_FREE_GPU: "waiting for a free GPU",
    Reason.ARRAY_CAP: "its array's concurrency cap is reached",
    Reason.PRIORITY: "jobs of higher priority are ahead of it",
    Reason.RESERVED: "resources are reserved for a larger job ahead of it",
    Reason.REQUEUED: "requeued after its attempt was lost; it runs as soon as there is room",
    Reason.RETRY: "retrying after a failed attempt; it runs as soon as there is room",
    Reason.EXIT_CODE: "the command exited with a non-zero code",
    Reason.EXCEPTION: "the function raised an exception",
    Reason.TIMEOUT: "it ran past its timeout and was killed",
    Reason.OOM: "it used more memory than its limit and was killed",
    Reason.SIGNAL: "it was killed by a signal",
    Reason.CANCELLED_BY_USER: "it was cancelled",
    Reason.DEPENDENCY_NEVER: "a dependency ended in a way that can never satisfy it",
    Reason.ARRAY_MAX_FAILURES: "its array reached its maximum number of failures",
    Reason.INFRA_BUDGET: "its attempts were lost to the infrastructure too many times",
    Reason.WORKER_LOST: "the worker running it died",
    Reason.CONTROLLER_LOST: "the controller running it died",
    Reason.LAUNCH_FAILED: "its process could not be started",
    Reason.BUDGET: "held: its project's budget is spent (`tessera budget release PROJECT` lets it run)",
}


def describe(reason: Reason | str | None) -> str:
    """The reason in words, for ``tessera explain``."""
    if reason is None:
        return "no reason recorded"
    try:
        return _WORDS[Reason(reason)]
    except ValueError:
        return str(reason)
