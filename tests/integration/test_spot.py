"""Spot slots end to end: notices, preemption, resume from checkpoint, budgets, fallback, ledger."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import tessera
from tessera.models.states import JobState, Reason
from tessera.spot import ledger
from tessera.store import Store


def _spot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, times: list[float], notice_s: float = 0.3,
          slots: int = 2, cap: int = 3) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(str(t) for t in times) + "\n")
    monkeypatch.setenv("TESSERA_SPOT_SLOTS", str(slots))
    monkeypatch.setenv("TESSERA_PREEMPTION_TRACE", str(trace))
    monkeypatch.setenv("TESSERA_NOTICE_S", str(notice_s))
    monkeypatch.setenv("TESSERA_PREEMPTION_CAP", str(cap))
    monkeypatch.setenv("TESSERA_CPUS", "2")


def test_preempted_job_resumes_from_its_checkpoint_without_spending_retries(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _spot(monkeypatch, tmp_path, [1.5, 3.5])
    with tessera.Client() as c:
        h = c.submit_spec({"function": "tests.chaos.jobs:steps", "args": [60, 0.05]})
        state = h.result(timeout=120)
        job = h.job
        attempts = c.store.attempts(job.id)
    assert job.state is JobState.SUCCEEDED and state["i"] == 60
    assert [a.state for a in attempts][:-1] == ["preempted"] * (len(attempts) - 1) and len(attempts) >= 2
    assert job.retries_used == 0 and job.infra_retries_used == 0  # retry policy: 1 attempt, yet it succeeded
    resumed = [start for _attempt, start in state["starts"][1:]]
    assert resumed and all(s > 0 for s in resumed), state  # later attempts did not start from zero
    assert state["noticed"], "the notice callback never ran"
    rows = [r for r in ledger.rows(_store(home), [job.id]) if r["preempted"]]
    assert len(rows) == len(attempts) - 1
    assert all(r["lost_s"] is not None and r["lost_s"] < 1.0 for r in rows), rows  # saved at the notice


def _store(home: Path) -> Store:
    return Store(f"sqlite:///{home / 'tessera.db'}")


def test_after_the_cap_it_falls_back_to_on_demand(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _spot(monkeypatch, tmp_path, [1.0 + 1.2 * i for i in range(12)], notice_s=0.1, slots=1, cap=2)
    with tessera.Client() as c:
        h = c.submit_spec({"function": "tests.chaos.jobs:steps", "args": [80, 0.05]})
        state = h.result(timeout=180)
        events = c.store.events(h.id)
    assert state["capacity"] == "on_demand"
    pre = [e for e in events if e.dst == "preempted"]
    assert len(pre) == 2
    rows = ledger.rows(_store(home), [h.id])
    assert [r["capacity"] for r in rows][-1] == "on_demand" and "cap 2" in (rows[-1]["fallback"] or "")
    assert any(e.reason == Reason.PREEMPTED and e.dst == "runnable" for e in events)


def test_command_gets_checkpoint_dir_notice_file_and_sigterm_then_sigkill(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A command that ignores SIGTERM is killed at the deadline and resumes from its periodic checkpoint."""
    _spot(monkeypatch, tmp_path, [2.0], notice_s=0.3, slots=2)
    out = tmp_path / "out.json"
    with tessera.Client() as c:
        h = c.submit_spec({"command": [sys.executable, "-m", "tests.chaos.jobs", "80", "0.05", "0.25", str(out)]})
        job = h.wait(timeout=180)
        attempts = c.store.attempts(h.id)
    assert job.state is JobState.SUCCEEDED
    assert [a.state for a in attempts] == ["preempted", "succeeded"]
    assert attempts[0].reason == "preempted"
    state = json.loads(out.read_text())
    assert state["i"] == 80 and state["starts"][1][1] > 0, state
    env = json.loads((tmp_path / "out.json.started.1").read_text())["env"]
    assert env["TESSERA_CHECKPOINT_DIR"].endswith(f"checkpoints/{h.id}")
    assert env["TESSERA_NOTICE_FILE"] and env["TESSERA_CAPACITY"] == "spot"
    # it ignored SIGTERM: it died only at SIGKILL, a grace period (1 s in tests) after the notice deadline
    assert attempts[0].ended_at is not None
    assert not os.path.exists(env["TESSERA_CHECKPOINT_DIR"]), "checkpoints outlived the job's success"
