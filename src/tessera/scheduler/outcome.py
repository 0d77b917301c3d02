"""What an attempt's outcome means for its job: done, retried (now or after backoff), or requeued."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.models.spec import RetryPolicy
from tessera.models.states import JobState, Reason
from tessera.scheduler.retry import decide_retry

_END_STATE = {"succeeded": JobState.SUCCEEDED, "cancelled": JobState.CANCELLED, "timed_out": JobState.TIMED_OUT}


@dataclass(frozen=True, slots=True)
class Next:
    """The job's next state and the bookkeeping that goes with it."""

    state: JobState
    reason: Reason | None
    detail: str | None = None
    not_before_at: float | None = None
    retries_inc: int = 0
    infra_inc: int = 0


def next_state(
    status: str,
    reason: Reason | None,
    exit_code: int | None,
    policy: RetryPolicy,
    retries_used: int,
    infra_used: int,
    infra_budget: int,
    now: float,
    detail: str | None = None,
) -> Next:
    """Decide from an attempt's ``status`` (succeeded, failed, timed_out, cancelled, lost)."""
    if status == "succeeded":
        return Next(JobState.SUCCEEDED, None, detail)
    if status == "cancelled":
        return Next(JobState.CANCELLED, reason or Reason.CANCELLED_BY_USER, detail)
    if status == "preempted":  # the spot path: never on a retry budget (preemptions have their own cap)
        return Next(JobState.PREEMPTED, Reason.PREEMPTED, detail or "its spot slot was reclaimed")
    if status == "unstarted":
        return Next(JobState.RUNNABLE, Reason.REQUEUED, detail or "requeued: it never started")
    if status == "lost":
        if infra_used + 1 > infra_budget:
            return Next(JobState.FAILED, Reason.INFRA_BUDGET,
                        f"lost {infra_used + 1} times ({reason.value if reason else 'lost'}); budget {infra_budget}",
                        infra_inc=1)
        return Next(JobState.RUNNABLE, Reason.REQUEUED,
                    f"{reason.value if reason else 'lost'}; infrastructure retry {infra_used + 1} of {infra_budget}",
                    infra_inc=1)
    why = reason or (Reason.TIMEOUT if status == "timed_out" else Reason.EXIT_CODE)
    decision = decide_retry(policy, retries_used, why.value, exit_code)
    if not decision.retry:
        end = _END_STATE.get(status, JobState.FAILED)
        return Next(end, why, detail if detail else decision.why)
    text = f"{why.value}: {decision.why}" + (f" after {decision.delay_s:g} s" if decision.delay_s else "")
    if decision.delay_s > 0:
        return Next(JobState.PENDING, Reason.BACKOFF, text, not_before_at=now + decision.delay_s, retries_inc=1)
    return Next(JobState.RUNNABLE, Reason.RETRY, text, retries_inc=1)
