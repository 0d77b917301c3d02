"""Attempt logs through a worker's spool (``executors.spool``): each attempt's output in its own
log, live while it runs, nothing lost, and no file left for an attempt that wrote nothing."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.executors import worker
from tessera.executors.spool import Spools


@pytest.fixture
def spools() -> Iterator[Spools]:
    s = Spools()
    saved = worker.log_files
    worker.log_files = (s.open, s.close)
    try:
        yield s
    finally:
        worker.log_files = saved


def _run(logs: Path, n: int, fn: str, *args: Any) -> dict[str, Any]:
    header, _data = worker.run_one({
        "attempt_id": n, "kind": "function", "function": fn, "args": args, "env": {},
        "stdout_path": str(logs / f"{n}.1.out"), "stderr_path": str(logs / f"{n}.1.err")})
    return header


def _names(logs: Path) -> set[str]:
    return {p.name for p in logs.iterdir()}


def test_silent_attempts_leave_no_log_and_reuse_the_spool(spools: Spools, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(3):
        assert _run(logs, n, "tests.fixtures:square", 3)["status"] == "succeeded"
    me = f".spool-{socket.gethostname()}-{os.getpid()}"
    spool = {f"{me}.out", f"{me}.err"}
    assert _names(logs) == spool  # two spools made once, no log per attempt
    inodes = {(logs / s).stat().st_ino for s in spool}
    _run(logs, 3, "tests.fixtures:square", 4)
    assert {(logs / s).stat().st_ino for s in spool} == inodes


def test_each_attempt_keeps_its_own_output_and_sees_it_live(spools: Spools, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _run(logs, 1, "tests.unit.test_spool:say", "one", str(logs / "1.1.out"))
    _run(logs, 2, "tests.fixtures:square", 2)
    _run(logs, 3, "tests.unit.test_spool:say", "three", str(logs / "3.1.out"))
    assert (logs / "1.1.out").read_text() == "one\nlive: one\n"  # the log had the line while it ran
    assert (logs / "3.1.out").read_text() == "three\nlive: three\n"
    assert (logs / "1.1.err").read_text() == "err one\n" and not (logs / "2.1.out").exists()
    assert not (logs / "2.1.err").exists()
    (logs / "5.1.out").write_text("before\n")  # an existing log is appended to, not replaced
    _run(logs, 5, "tests.unit.test_spool:say", "five", str(logs / "5.1.out"))
    assert (logs / "5.1.out").read_text() == "before\nfive\nlive: before\nfive\n"


def test_a_spool_written_between_attempts_is_not_handed_on(spools: Spools, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _run(logs, 1, "tests.fixtures:square", 2)
    stray = os.open(logs / f".spool-{socket.gethostname()}-{os.getpid()}.out", os.O_WRONLY | os.O_APPEND)
    os.write(stray, b"from a process the last attempt left behind\n")  # writes to the spool between attempts
    os.close(stray)
    _run(logs, 2, "tests.unit.test_spool:say", "two", str(logs / "2.1.out"))
    assert (logs / "2.1.out").read_text() == "two\nlive: two\n"


def say(word: str, log: str) -> None:
    """Write a line to the standard output and one to the standard error (as file descriptors 1
    and 2, where a job's prints and its children's output go), then the log as it reads meanwhile."""
    os.write(1, f"{word}\n".encode())
    os.write(2, f"err {word}\n".encode())
    with open(log) as f:
        seen = f.read()
    os.write(1, f"live: {seen}".encode())


def test_a_new_folder_is_made_and_still_gets_no_log_for_silence(spools: Spools, tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "17"  # an array's folder, not there yet
    assert _run(logs, 0, "tests.fixtures:square", 3)["status"] == "succeeded"
    me = f".spool-{socket.gethostname()}-{os.getpid()}"
    assert _names(logs) == {f"{me}.out", f"{me}.err"}
