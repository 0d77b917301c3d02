"""Whether a failed attempt is retried, and after how long (AWS Batch's evaluateOnExit, in order)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from tessera.models.spec import RetryAction, RetryPolicy


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    why: str = ""


def decide_retry(policy: RetryPolicy, retries_used: int, reason: str, exit_code: int | None) -> RetryDecision:
    """Decide after a failed attempt. ``retries_used`` counts earlier retries of the job's own budget.

    The first rule that matches the exit code (a glob over its decimal form) or the reason wins;
    as in AWS Batch, a failure no rule matches is retried while attempts remain.
    """
    for rule in policy.rules:
        code_ok = rule.on_exit_code is None or (
            exit_code is not None and fnmatch.fnmatchcase(str(exit_code), rule.on_exit_code)
        )
        reason_ok = rule.on_reason is None or rule.on_reason == reason
        if code_ok and reason_ok:
            if rule.action is RetryAction.EXIT:
                return RetryDecision(False, why=f"retry rule says exit on {_what(rule.on_exit_code, rule.on_reason)}")
            break
    if retries_used + 1 >= policy.attempts:
        return RetryDecision(False, why=f"all {policy.attempts} attempts used")
    delay = min(policy.backoff_s * policy.backoff_factor**retries_used, policy.backoff_max_s)
    return RetryDecision(True, delay, why=f"attempt {retries_used + 2} of {policy.attempts}")


def _what(code: str | None, reason: str | None) -> str:
    return " and ".join(x for x in (f"exit code {code}" if code else "", f"reason {reason}" if reason else "") if x)
