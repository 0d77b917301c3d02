"""Local workers' attempt logs: a job's output in its own log, and no file at all for a job that
wrote nothing (``executors.spool``): a run of many silent jobs leaves no empty files behind."""

from __future__ import annotations

from pathlib import Path

from tessera.client import Client
from tests import fixtures


def test_silent_jobs_leave_no_log_files_and_output_lands_in_its_own_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Client(home=str(home), embedded=True, workers=2, cpus=2) as c:
        silent = [c.submit(fixtures.square, i) for i in range(40)]
        loud = [c.submit(fixtures.say, f"line {i}") for i in range(6)]
        assert [h.result(timeout=120) for h in silent] == [i * i for i in range(40)]
        assert [h.result(timeout=120) for h in loud] == [f"line {i}" for i in range(6)]
        for i, h in enumerate(loud):
            assert h.logs() == f"line {i}\n" and h.logs("stderr") == f"line {i}\n"
        assert all(h.logs() == "" and h.logs("stderr") == "" for h in silent)
        mapped = c.map(fixtures.square, range(30))
        assert mapped == [i * i for i in range(30)]
    files = [p for p in (home / "logs").rglob("*") if p.is_file() and not p.name.startswith(".spool-")]
    assert sorted(p.name for p in files) == sorted(
        f"{h.id}.1.{ext}" for h in loud for ext in ("out", "err"))
