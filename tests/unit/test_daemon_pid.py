"""The controller's pid as read from its lock file is a real pid or an error, never a placeholder
that ``os.kill`` would read as "every process" (-1) or "this process group" (0)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from tessera.config import Settings
from tessera.controller import daemon
from tessera.errors import ControllerError


def _hold(settings: Settings, text: str) -> int:
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, text.encode())
    return fd


def test_no_lock_means_no_controller(tmp_path: Path) -> None:
    assert daemon.running_pid(Settings.load(home=tmp_path)) is None


def test_held_lock_gives_the_written_pid(tmp_path: Path) -> None:
    s = Settings.load(home=tmp_path)
    fd = _hold(s, "4242")
    try:
        assert daemon.running_pid(s) == 4242
    finally:
        os.close(fd)
    assert daemon.running_pid(s) is None


@pytest.mark.parametrize("text", ["", "-1", "0", "1", "garbage"])
def test_held_lock_without_a_pid_is_an_error_not_a_placeholder(tmp_path: Path, text: str) -> None:
    s = Settings.load(home=tmp_path)
    fd = _hold(s, text)
    mine = os.open(s.lock_path, os.O_RDONLY)
    try:
        with pytest.raises(ControllerError, match="has not written its pid"):
            daemon._locked_pid(s, mine, wait_s=0.05)
    finally:
        os.close(fd)
        os.close(mine)


def test_a_lock_let_go_while_its_pid_is_awaited_means_no_controller(tmp_path: Path) -> None:
    """A stopping controller empties the lock file just before it lets go of the lock: whoever
    reads the empty file in between waits for the lock to go, not for a pid."""
    s = Settings.load(home=tmp_path)
    fd = _hold(s, "")
    mine = os.open(s.lock_path, os.O_RDONLY)
    try:
        threading.Timer(0.2, os.close, (fd,)).start()
        assert daemon._locked_pid(s, mine, wait_s=60) is None
    finally:
        os.close(mine)
