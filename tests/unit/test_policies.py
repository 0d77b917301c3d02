"""Dependencies, retry rules and what an attempt's outcome means for its job."""

from __future__ import annotations

import pytest

from tessera.models.spec import RetryPolicy, RetryRule
from tessera.models.states import JobState, Reason
from tessera.scheduler.deps import DepStatus, evaluate
from tessera.scheduler.outcome import next_state
from tessera.scheduler.retry import decide_retry

S, W, N = DepStatus.SATISFIED, DepStatus.WAITING, DepStatus.NEVER


@pytest.mark.parametrize(
    ("kind", "state", "want"),
    [
        ("afterok", "succeeded", S), ("afterok", "failed", N), ("afterok", "cancelled", N),
        ("afterok", "timed_out", N), ("afterok", "running", W), ("afterok", "pending", W),
        ("afterany", "succeeded", S), ("afterany", "failed", S), ("afterany", "cancelled", S),
        ("afterany", "runnable", W),
        ("afternotok", "succeeded", N), ("afternotok", "failed", S), ("afternotok", "timed_out", S),
        ("afternotok", "cancelled", S), ("afternotok", "starting", W),
    ],
)
def test_one_dependency(kind: str, state: str, want: DepStatus) -> None:
    assert evaluate([(kind, state)]) is want


def test_all_must_hold() -> None:
    assert evaluate([]) is S
    assert evaluate([("afterok", "succeeded"), ("afterany", "failed")]) is S
    assert evaluate([("afterok", "succeeded"), ("afterok", "running")]) is W
    assert evaluate([("afterok", "running"), ("afterok", "failed")]) is N


def test_unknown_dependency_kind_raises() -> None:
    with pytest.raises(ValueError):
        evaluate([("afterlunch", "succeeded")])


# ---------------------------------------------------------------- retry rules


def policy(attempts: int = 3, rules: list[dict[str, str]] | None = None, **kw: float) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, rules=tuple(RetryRule(**r) for r in rules or []), **kw)


def test_retries_while_attempts_remain() -> None:
    p = policy(3)
    assert decide_retry(p, 0, "exit_code", 1).retry
    assert decide_retry(p, 1, "exit_code", 1).retry
    assert not decide_retry(p, 2, "exit_code", 1).retry


def test_single_attempt_never_retries() -> None:
    d = decide_retry(policy(1), 0, "exit_code", 1)
    assert not d.retry and "1 attempts" in d.why


@pytest.mark.parametrize(
    ("code", "retry"),
    [(137, True), (1, True), (12, True), (2, False), (0, False), (None, False), (-9, False)],
)
def test_exit_code_globs_first_match_wins(code: int | None, retry: bool) -> None:
    p = policy(5, [{"action": "retry", "on_exit_code": "137"}, {"action": "retry", "on_exit_code": "1*"},
                   {"action": "exit", "on_exit_code": "*"}])
    # None matches no code rule; a failure no rule matches is retried (AWS Batch), so add a catch-all
    got = decide_retry(p, 0, "exit_code", code).retry
    if code is None:
        assert got is True  # no rule matched a missing exit code: the default applies
    else:
        assert got is retry


def test_reason_rules() -> None:
    p = policy(5, [{"action": "exit", "on_reason": "oom"}, {"action": "retry", "on_reason": "timeout"}])
    assert not decide_retry(p, 0, "oom", 137).retry
    assert "oom" in decide_retry(p, 0, "oom", 137).why
    assert decide_retry(p, 0, "timeout", None).retry
    assert decide_retry(p, 0, "exception", 1).retry  # unmatched: retried while attempts remain


def test_rule_with_code_and_reason_needs_both() -> None:
    p = policy(5, [{"action": "exit", "on_exit_code": "1", "on_reason": "exit_code"}])
    assert not decide_retry(p, 0, "exit_code", 1).retry
    assert decide_retry(p, 0, "exception", 1).retry


def test_retry_rule_does_not_extend_the_budget() -> None:
    p = policy(2, [{"action": "retry", "on_exit_code": "*"}])
    assert not decide_retry(p, 1, "exit_code", 1).retry


def test_backoff_grows_and_is_capped() -> None:
    p = policy(10, backoff_s=1.0, backoff_factor=3.0, backoff_max_s=20.0)
    delays = [decide_retry(p, n, "exit_code", 1).delay_s for n in range(5)]
    assert delays == [1.0, 3.0, 9.0, 20.0, 20.0]


def test_no_backoff_by_default() -> None:
    assert decide_retry(policy(3), 0, "exit_code", 1).delay_s == 0


# ---------------------------------------------------------------- outcomes


def nxt(status: str, reason: Reason | None = None, code: int | None = None, p: RetryPolicy | None = None,
        retries: int = 0, infra: int = 0, budget: int = 3):  # type: ignore[no-untyped-def]
    return next_state(status, reason, code, p or policy(1), retries, infra, budget, 100.0)


def test_success() -> None:
    n = nxt("succeeded", code=0)
    assert n.state is JobState.SUCCEEDED and n.reason is None and n.retries_inc == 0


def test_failure_without_retries() -> None:
    n = nxt("failed", Reason.EXIT_CODE, 3)
    assert n.state is JobState.FAILED and n.reason is Reason.EXIT_CODE


def test_timeout_without_retries_is_timed_out() -> None:
    n = nxt("timed_out", Reason.TIMEOUT)
    assert n.state is JobState.TIMED_OUT and n.reason is Reason.TIMEOUT


def test_timeout_with_retries_retries() -> None:
    n = nxt("timed_out", Reason.TIMEOUT, p=policy(2))
    assert n.state is JobState.RUNNABLE and n.reason is Reason.RETRY and n.retries_inc == 1


def test_cancel_is_final() -> None:
    n = nxt("cancelled", Reason.CANCELLED_BY_USER, p=policy(5))
    assert n.state is JobState.CANCELLED and n.retries_inc == 0


def test_failure_with_backoff_waits_pending() -> None:
    n = nxt("failed", Reason.EXIT_CODE, 1, p=policy(3, backoff_s=5.0), retries=1)
    assert n.state is JobState.PENDING and n.reason is Reason.BACKOFF
    assert n.not_before_at == pytest.approx(100.0 + 10.0)
    assert n.retries_inc == 1


def test_lost_is_requeued_on_the_infra_budget() -> None:
    n = nxt("lost", Reason.WORKER_LOST, infra=2, budget=3, p=policy(1))
    assert n.state is JobState.RUNNABLE and n.reason is Reason.REQUEUED
    assert n.infra_inc == 1 and n.retries_inc == 0
    assert "3 of 3" in (n.detail or "")


def test_lost_with_the_infra_budget_spent_fails() -> None:
    n = nxt("lost", Reason.CONTROLLER_LOST, infra=3, budget=3)
    assert n.state is JobState.FAILED and n.reason is Reason.INFRA_BUDGET and n.infra_inc == 1


def test_lost_with_no_budget_fails_at_once() -> None:
    assert nxt("lost", Reason.WORKER_LOST, budget=0).state is JobState.FAILED


def test_retries_exhausted_fail() -> None:
    n = nxt("failed", Reason.EXCEPTION, 1, p=policy(2), retries=1)
    assert n.state is JobState.FAILED and n.reason is Reason.EXCEPTION
