"""Pure spot decisions: rates, traces, the seeded schedule, class choice, work lost, and budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import SpecError
from tessera.models.spec import RetryPolicy
from tessera.models.states import JobState, Reason
from tessera.scheduler.outcome import next_state
from tessera.spot import policy
from tessera.spot.schedule import Schedule, parse_rate, parse_trace, poisson


def test_rates() -> None:
    assert parse_rate("12/h") == 12 and parse_rate("1/min") == 60 and parse_rate("0.5/s") == 1800
    assert parse_rate(3) == 3
    for bad in ("fast", "1/fortnight", "-1/h", ""):
        with pytest.raises(SpecError, match="To fix"):
            parse_rate(bad)


def test_trace(tmp_path: Path) -> None:
    f = tmp_path / "t"
    f.write_text("# times\n5\n1.5  # first\n\n")
    assert parse_trace(f) == [1.5, 5.0]
    f.write_text("[3, 1]")
    assert parse_trace(f) == [1.0, 3.0]
    for bad in ("x\n", "-1\n", "[1, \"nan\"]"):
        f.write_text(bad)
        with pytest.raises(SpecError):
            parse_trace(f)
    with pytest.raises(SpecError, match="cannot read"):
        parse_trace(tmp_path / "missing")


def test_poisson_schedule_is_seeded_and_about_the_rate() -> None:
    a = [t for t, _ in zip(poisson(3600, 7), range(2000), strict=False)]
    b = [t for t, _ in zip(poisson(3600, 7), range(2000), strict=False)]
    assert a == b and a == sorted(a)
    assert 1800 < a[-1] < 2200  # 2000 events at 1/s take about 2000 s
    s = Schedule(100.0, trace=[1.0, 2.0, 2.5])
    assert s.due(100.5) == 0 and s.due(102.6) == 3 and s.next_at is None


def test_choose_and_slack() -> None:
    assert policy.choose(0, 3, float("inf"), 120, True) == ("spot", None)
    assert policy.choose(0, 3, float("inf"), 120, False) == ("on_demand", None)
    cap, why = policy.choose(3, 3, float("inf"), 120, True)
    assert cap == "on_demand" and why and "cap 3" in why
    cap, why = policy.choose(0, 3, policy.slack_s(1000, 1100, 50, 0.0), 120, True)
    assert cap == "on_demand" and why and "slack" in why
    assert policy.slack_s(0, None, 10, 0) == float("inf")
    assert policy.slack_s(0, 1000, 100, 0.5) == 950
    assert policy.deadline_of({"tessera.deadline": "1970-01-01T00:01:00+00:00"}) == 60.0


def test_work_lost() -> None:
    assert policy.work_lost_s(100, 130, 125) == 5
    assert policy.work_lost_s(100, 130, 50) == 30  # a checkpoint from an earlier attempt saves nothing here
    assert policy.work_lost_s(100, 130, None) == 30 and policy.work_lost_s(None, 130, None) == 0


@given(st.lists(st.sampled_from(["preempted", "failed", "lost"]), max_size=30), st.integers(1, 5))
def test_a_preemption_never_spends_a_retry_or_infra_budget(outcomes: list[str], attempts: int) -> None:
    policy_ = RetryPolicy(attempts=attempts)
    retries = infra = 0
    for status in outcomes:
        nxt = next_state(status, None, 1, policy_, retries, infra, 3, 0.0)
        if status == "preempted":
            assert nxt.state is JobState.PREEMPTED and nxt.reason is Reason.PREEMPTED
            assert nxt.retries_inc == 0 and nxt.infra_inc == 0
        retries += nxt.retries_inc
        infra += nxt.infra_inc
        if nxt.state in (JobState.FAILED,):
            break


def test_failpoint_names_are_checked() -> None:
    from tessera import failpoints

    with pytest.raises(ValueError, match="To fix"):
        failpoints.arm("after_claim,no_such_point")
    failpoints.arm("")
    failpoints.hit("after_claim")  # not armed: nothing happens
