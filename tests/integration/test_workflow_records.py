"""Workflow rows on SQLite and PostgreSQL: insert, read by id and by name, list, and derived states."""

from __future__ import annotations

import pytest

from tessera.errors import NotFoundError
from tessera.models.spec import JobSpec
from tessera.store import NewJob, Store
from tessera.workflows import records
from tessera.workflows.records import StepRecord


def test_insert_get_and_list(store: Store) -> None:
    job_id = store.submit([NewJob(JobSpec(command=("true",)), ())])[0]
    steps = [StepRecord("a", 0, "test.source", "cached", None, None, ("k0",)),
             StepRecord("b", 1, "array.sum", "submitted", job_id, 3, ("k1", "k2", "k3"))]
    spec = {"name": "w", "project": "default", "steps": [{"name": "a"}, {"name": "b", "when": {"failed": ["a"]}}]}
    first = records.insert(store, spec, "/tmp/arts", False, steps)
    second = records.insert(store, spec, "/tmp/arts", True, steps[:1])
    got = records.get(store, first)
    assert got.name == "w" and got.artifacts == "/tmp/arts" and not got.resumed
    assert [(s.step, s.status, s.job_id, s.size, s.keys) for s in got.steps] == [
        ("a", "cached", None, None, ("k0",)), ("b", "submitted", job_id, 3, ("k1", "k2", "k3"))]
    assert [s.conditional for s in got.steps] == [False, True]
    assert records.get(store, "w").id == second  # a name means the latest
    assert [r.id for r in records.recent(store)] == [second, first]
    assert records.states(store, got) == {"a": "cached", "b": "runnable"}
    assert records.workflow_state(records.states(store, got).values()) == "running"
    assert records.job_ids(got) == [job_id]
    with pytest.raises(NotFoundError, match="To fix"):
        records.get(store, 999)
