"""Preemption in the contract: a job that ignores SIGTERM is killed at the deadline and resumes from
its periodic checkpoint; preemptions, however many, never spend the failure-retry budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import tessera
from tessera.models.states import JobState
from tessera.spot import ledger
from tests.chaos.conftest import check_contract, scale


def _spot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, times: list[float], notice_s: float, cap: int) -> None:
    trace = tmp_path / "trace"
    trace.write_text("".join(f"{t:.2f}\n" for t in times))
    monkeypatch.setenv("TESSERA_CPUS", "2")
    monkeypatch.setenv("TESSERA_SPOT_SLOTS", "2")
    monkeypatch.setenv("TESSERA_PREEMPTION_TRACE", str(trace))
    monkeypatch.setenv("TESSERA_NOTICE_S", str(notice_s))
    monkeypatch.setenv("TESSERA_PREEMPTION_CAP", str(cap))


def test_sigterm_ignoring_job_is_killed_at_the_deadline_and_resumes(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notice_s, grace_s, every_s = 0.5, 1.0, 0.3  # grace: TESSERA_KILL_GRACE_S=1 in tests
    _spot(monkeypatch, tmp_path, [2.0], notice_s, cap=3)
    out = tmp_path / "out.json"
    with tessera.Client() as c:
        h = c.submit_spec({"command": [sys.executable, "-m", "tests.chaos.jobs", "100", "0.05", str(every_s),
                                       str(out)]})
        job = h.wait(timeout=180)
        rows = ledger.rows(c.store, [h.id])
        check_contract(c.store, [h.id])
    assert job.state is JobState.SUCCEEDED
    pre = [r for r in rows if r["preempted"]]
    assert len(pre) == 1
    r = pre[0]
    # it ignored SIGTERM, so it died by SIGKILL: no earlier than the notice deadline plus the grace period
    assert r["ended_at"] - r["notice_at"] >= notice_s + grace_s - 0.05, r
    state = json.loads(out.read_text())
    assert state["i"] == 100 and state["starts"][1][1] > 0, state  # resumed from its periodic checkpoint
    # it lost what it did after its last periodic checkpoint (it never saved at the notice)
    assert r["lost_s"] <= every_s + notice_s + grace_s + 1.0, r


@pytest.mark.timeout(scale(300, 1800))
def test_preemptions_never_increase_the_failure_attempt_count(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    n = scale(4, 20)
    _spot(monkeypatch, tmp_path, [1.0 + 0.6 * i for i in range(200)], notice_s=0.05, cap=1000)
    with tessera.Client() as c:
        hs = [c.submit_spec({"function": "tests.chaos.jobs:steps", "args": [60, 0.05],
                             "retry": {"attempts": 1}}) for _ in range(n)]
        for h in hs:
            h.result(timeout=300)
        jobs = [h.job for h in hs]
        states = check_contract(c.store, [h.id for h in hs])
    assert states.get("preempted", 0) >= n, states
    assert all(j.retries_used == 0 and j.infra_retries_used == 0 for j in jobs)
