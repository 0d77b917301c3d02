"""``controller.core.commit_now``: when gathered outcomes of small jobs are committed (pure)."""

from __future__ import annotations

from tessera.controller.core import GATHER_MAX, GATHER_S, commit_now


def test_successes_of_small_jobs_wait_while_others_run() -> None:
    assert not commit_now(1, 0.0, 3, plain=True, spot=False, big_waiting=False)
    assert not commit_now(GATHER_MAX - 1, GATHER_S / 2, 1, plain=True, spot=False, big_waiting=False)


def test_they_are_committed_when_full_old_or_alone() -> None:
    assert commit_now(GATHER_MAX, 0.0, 3, plain=True, spot=False, big_waiting=False)
    assert commit_now(2, GATHER_S, 3, plain=True, spot=False, big_waiting=False)
    assert commit_now(1, 0.0, 0, plain=True, spot=False, big_waiting=False)  # a job alone: its round trip


def test_anything_else_is_committed_at_once() -> None:
    assert commit_now(1, 0.0, 3, plain=False, spot=False, big_waiting=False)  # a failure, a command, a cancel
    assert commit_now(1, 0.0, 3, plain=True, spot=True, big_waiting=False)  # spot slots are priced per attempt
    assert commit_now(1, 0.0, 3, plain=True, spot=False, big_waiting=True)  # a larger job waits for the room
