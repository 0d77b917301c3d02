"""Job functions for tests, importable by worker processes as ``tests.fixtures:NAME``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def noop() -> None:
    return None


def square(x: int) -> int:
    return x * x


def add(a: int, b: int = 0) -> int:
    return a + b


def boom(message: str = "boom") -> None:
    raise ValueError(message)


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail_once_then_succeed(directory: str) -> str:
    """Fails on its first call (per directory), succeeds afterwards."""
    marker = Path(directory) / "failed-once"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        raise RuntimeError("first attempt fails on purpose")
    return "ok"


def allocate(mb: int, hold_s: float = 5.0) -> int:
    """Touch ``mb`` MiB of memory, then hold it a while (so a watchdog sees it)."""
    block = bytearray(mb << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(hold_s)
    return len(block)


def env_value(name: str) -> str | None:
    return os.environ.get(name)


def write_pid_and_sleep(path: str, seconds: float = 120.0) -> None:
    """Record this process's pid, then sleep (a job to kill)."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def spawn_setsid_grandchild(pid_file: str, seconds: float = 300.0) -> None:
    """Start a grandchild that leaves the process group with setsid, record its pid, then sleep."""
    code = (
        "import os, sys, time\n"
        f"open({pid_file!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"os.replace({pid_file!r} + '.tmp', {pid_file!r})\n"
        f"time.sleep({seconds})\n"
    )
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)


def main() -> None:
    """Command-line entry for command jobs: ``python -m tests.fixtures ACTION ARGS``."""
    action, *args = sys.argv[1:]
    if action == "setsid":
        spawn_setsid_grandchild(args[0], float(args[1]) if len(args) > 1 else 300.0)
    elif action == "allocate":
        allocate(int(args[0]), float(args[1]) if len(args) > 1 else 5.0)
    elif action == "pid-sleep":
        write_pid_and_sleep(args[0], float(args[1]) if len(args) > 1 else 120.0)
    else:
        raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    main()


def say(text: str) -> str:
    """Print ``text`` to standard output and standard error."""
    import sys

    print(text)
    print(text, file=sys.stderr)
    return text


def until_exists(path: str, timeout_s: float = 120.0) -> bool:
    """Return once ``path`` exists (a test lets the job end when it is ready for the end)."""
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
