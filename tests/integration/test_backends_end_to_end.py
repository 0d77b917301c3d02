"""The whole engine (controller, executor, SDK) on each store backend: SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

from tessera.client import Client
from tessera.models.states import JobState
from tests import fixtures


def test_jobs_arrays_dependencies_and_retries_on_each_backend(home: Path, db_url: str) -> None:
    with Client(home=str(home), db=db_url, cpus=2) as c:
        assert c.embedded
        assert c.submit(fixtures.square, 9).result(60) == 81
        assert c.map(fixtures.square, range(40), timeout=120) == [i * i for i in range(40)]
        first = c.submit_spec({"command": [sys.executable, "-c", "print('a')"], "name": "first"})
        flaky = c.submit_spec({
            "command": ["sh", "-c", 'test "$TESSERA_ATTEMPT_NUMBER" -ge 2'], "retries": 1,
            "dependency": f"afterok:{first.id}"})
        assert flaky.wait(120).state is JobState.SUCCEEDED
        assert flaky.job.attempts == 2
        history = [e.dst for e in c.store.events(flaky.id)]
        assert history[:3] == ["submitted", "pending", "runnable"] and history[-1] == "succeeded"
