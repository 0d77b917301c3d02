"""`tessera explain` in words: a pure function of the job record (no store, no controller)."""

from __future__ import annotations

from tessera.cli.render import explain
from tessera.jobfile import to_spec
from tessera.models.job import Job
from tessera.models.states import JobState, Reason


def _job(**kw: object) -> Job:
    return Job(id=7, spec=to_spec({"name": "sweep", "command": ["true"]}), **kw)  # type: ignore[arg-type]


def test_a_single_job_that_succeeded_counts_its_attempts() -> None:
    text = explain(_job(state=JobState.SUCCEEDED, attempts=2, started_at=10.0, ended_at=13.5), [], None)
    assert "succeeded after 2 attempt(s) in 3.50s" in text


def test_an_array_that_succeeded_counts_its_elements_not_attempts() -> None:
    job = _job(state=JobState.SUCCEEDED, is_array=True, attempts=0, started_at=10.0, ended_at=12.0,
               counts={"size": 5, "done": 5, "failed": 0, "cancelled": 0})
    text = explain(job, [], None)
    assert "All 5 of its elements succeeded" in text and "attempt" not in text


def test_a_waiting_job_names_its_reason_and_dependencies() -> None:
    job = _job(state=JobState.PENDING, reason=Reason.DEPENDENCY)
    text = explain(job, [("afterok", 3, "running")], None)
    assert "It waits because" in text and "afterok on job 3, which is running" in text
