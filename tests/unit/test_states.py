"""The state machine: one closed table of transitions, terminal states without exits."""

from __future__ import annotations

import pytest

from tessera.models.states import (
    TERMINAL,
    TRANSITIONS,
    WAITING,
    JobState,
    Reason,
    can_move,
    describe,
)


def test_table_covers_every_state_and_is_closed() -> None:
    assert set(TRANSITIONS) == set(JobState)
    for src, dsts in TRANSITIONS.items():
        assert dsts <= set(JobState), src
        assert src not in dsts, f"{src} moves to itself"


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_exits(state: JobState) -> None:
    assert TRANSITIONS[state] == frozenset()
    assert state.terminal
    assert not any(can_move(state, dst) for dst in JobState)


def test_every_non_terminal_state_can_reach_a_terminal_state() -> None:
    for start in set(JobState) - TERMINAL:
        seen, todo = {start}, [start]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert seen & TERMINAL, start


def test_every_non_terminal_state_can_be_cancelled() -> None:
    for state in set(JobState) - TERMINAL:
        assert JobState.CANCELLED in TRANSITIONS[state], state


@pytest.mark.parametrize(
    ("src", "dst", "legal"),
    [
        ("submitted", "pending", True),
        ("pending", "runnable", True),
        ("runnable", "starting", True),
        ("starting", "running", True),
        ("running", "succeeded", True),
        ("running", "preempted", True),
        ("preempted", "runnable", True),
        ("running", "runnable", True),  # attempt lost, requeued
        ("running", "pending", True),  # retry waiting out its backoff
        ("submitted", "running", False),
        ("pending", "running", False),
        ("runnable", "succeeded", False),
        ("succeeded", "runnable", False),
        ("failed", "runnable", False),
        ("cancelled", "pending", False),
        ("timed_out", "running", False),
    ],
)
def test_transitions(src: str, dst: str, legal: bool) -> None:
    assert can_move(JobState(src), JobState(dst)) is legal


def test_waiting_and_active_are_disjoint_from_terminal() -> None:
    active = {s for s in JobState if s.active}
    assert active == {JobState.STARTING, JobState.RUNNING}
    assert not (WAITING & TERMINAL) and not (active & TERMINAL) and not (WAITING & active)


def test_states_are_lower_case_strings() -> None:
    for s in JobState:
        assert s.value == s.value.lower() and str(s) == s.value


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_words(reason: Reason) -> None:
    text = describe(reason)
    assert text and text != reason.value


def test_describe_unknown_and_none() -> None:
    assert describe(None) == "no reason recorded"
    assert describe("something_else") == "something_else"
