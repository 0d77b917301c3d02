"""CheckpointStore: atomic generations on fsspec (memory:// and file://), corruption detected."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tessera.runtime.checkpoint import CheckpointStore
from tessera.runtime.context import context


@pytest.fixture(params=["memory", "file", "path"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://ckpt-{uuid.uuid4().hex}"
    if request.param == "file":
        return f"file://{tmp_path}/ck"
    return str(tmp_path / "ck")


def test_two_generations_kept_newest_wins(url: str) -> None:
    cs = CheckpointStore(url, "7")
    assert cs.load().data is None
    for i in range(5):
        cs.save(f"state {i}".encode(), attempt="1")
    assert cs.generations() == [5, 4]
    got = cs.load()
    assert got.data == b"state 4" and got.generation is not None and got.generation.number == 5
    assert not got.corrupt


def test_corrupt_newest_falls_back_to_previous(url: str) -> None:
    cs = CheckpointStore(url, "7")
    cs.save(b"old")
    cs.save(b"new!")
    with cs.fs.open(cs._bin(2), "wb") as f:
        f.write(b"nex!")  # same size, different bytes
    got = cs.load()
    assert got.data == b"old" and got.corrupt and "checksum" in got.corrupt[0][1]
    cs.save(b"newer")  # a new save after a corrupt one still commits and is read back
    assert cs.load().data == b"newer"


def test_uncommitted_payload_without_manifest_is_ignored(url: str) -> None:
    cs = CheckpointStore(url, "7")
    cs.save(b"committed")
    with cs.fs.open(f"{cs.dir}/ckpt-00000002.bin", "wb") as f:
        f.write(b"half written")
    assert cs.load().data == b"committed"


def test_bad_key_is_refused() -> None:
    with pytest.raises(ValueError):
        CheckpointStore("memory://x", "../escape")


def test_crash_mid_checkpoint_write_keeps_the_previous_generation(tmp_path: Path) -> None:
    """The mid_checkpoint_write failpoint SIGKILLs the writer between payload and manifest."""
    home = tmp_path / "home"
    code = ("from tessera.runtime.checkpoint import CheckpointStore as C; c = C({!r}, 'j'); "
            "c.save(b'one'); c.save(b'two')").format(str(tmp_path / "ck"))
    env = {**os.environ, "TESSERA_HOME": str(home), "TESSERA_FAILPOINTS": "mid_checkpoint_write:2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -9
    cs = CheckpointStore(str(tmp_path / "ck"), "j")
    assert cs.load().data == b"one"
    assert (home / "failpoints" / "mid_checkpoint_write").exists()
    cs.save(b"three")
    assert cs.load().data == b"three" and cs.generations() == [2, 1]


def test_context_outside_a_job_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("TESSERA_"):
            monkeypatch.delenv(k)
    ctx = context()
    assert ctx.attempt_id is None and ctx.device == "cpu" and not ctx.preempted
    with pytest.raises(RuntimeError, match="To fix"):
        ctx.checkpoint({"a": 1})
    with pytest.raises(ValueError, match="To fix"):
        ctx.progress(2.0)


def test_context_checkpoint_restore_and_notice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_ATTEMPT_ID", str(10**9 + os.getpid()))
    monkeypatch.setenv("TESSERA_CHECKPOINT_URL", str(tmp_path / "ck"))
    monkeypatch.setenv("TESSERA_CHECKPOINT_KEY", "3")
    notice = tmp_path / "scratch" / "preemption-notice.json"
    monkeypatch.setenv("TESSERA_NOTICE_FILE", str(notice))
    monkeypatch.setenv("TESSERA_PROGRESS_FILE", str(tmp_path / "scratch" / "progress.json"))
    ctx = context()
    assert ctx.restore("nothing") == "nothing"
    seen: list[int] = []
    ctx.on_notice(lambda c: seen.append(c.checkpoint({"at": "notice"})))
    assert ctx.checkpoint({"step": 1}) == 1
    ctx.progress(0.5)
    assert (tmp_path / "scratch" / "progress.json").exists()
    notice.write_text('{"deadline": 1}')
    import signal

    os.kill(os.getpid(), signal.SIGUSR1)  # the controller's notice signal: runs the callback here
    assert seen == [2] and ctx.preempted and ctx.notice() == {"deadline": 1}
    assert ctx.restore() == {"at": "notice"} and ctx.restored_generation == 2
