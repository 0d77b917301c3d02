"""Gathered commits: while a job runs, the successes of small jobs submitted one by one are
committed together (``Controller._gather``), every result still right and committed once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tessera
from tessera.controller import core
from tests import fixtures
from tests.conftest import wait_for


def test_a_stream_of_small_jobs_commits_in_batches(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "GATHER_S", 600.0)  # no clock in the test: a batch closes when full or alone
    monkeypatch.setattr(core, "GATHER_MAX", 10)
    go = home / "go"
    wait = [sys.executable, "-c", f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)"]
    with tessera.Client(cpus=2, workers=2) as c:
        batches: list[int] = []
        finish = c.store.finish

        def counted(ends, *a, **k):  # type: ignore[no-untyped-def]
            batches.append(len(ends))
            return finish(ends, *a, **k)

        monkeypatch.setattr(c.store, "finish", counted)
        long = c.submit_spec({"command": wait})  # runs until the small ones are done: they are never alone
        small = [c.submit(fixtures.square, i) for i in range(40)]
        # batches close at 10 or more: once all 40 ended, at most 9 wait for the long job's end
        wait_for(lambda: sum(batches) >= 31, timeout=120)
        assert len(batches) <= 4
        go.touch()
        assert [h.result(timeout=120) for h in small] == [i * i for i in range(40)]
        assert long.wait(timeout=120).state.value == "succeeded"
        assert sum(batches) == 41 and len(batches) <= 5  # one commit per end without gathering
        assert all(h.job.attempts == 1 for h in small)
