"""Process trees: find every process of an attempt (setsid escapees too), kill them, measure them."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
from collections.abc import Callable

import psutil

logger = logging.getLogger(__name__)

#: The environment variable that marks every process of an attempt. Its value is ``attempt_key``:
#: attempt ids restart at 1 in every store, so the key carries the store's scope too, or one home's
#: clean-up would kill another home's jobs.
MARKER = "TESSERA_ATTEMPT_KEY"


def store_scope(db_url: str) -> str:
    """A short stable name for a store, shared by every controller of that store."""
    import hashlib

    return hashlib.sha256(db_url.encode()).hexdigest()[:12]


def attempt_key(scope: str, attempt_id: int) -> str:
    """The marker value of one attempt of one store."""
    return f"{scope}.{attempt_id}"


def marked(attempt_id: int | str, since: float) -> list[psutil.Process]:
    """Processes whose environment carries this attempt's marker, started at or after ``since``.

    This finds grandchildren that left the process group with ``setsid`` and were re-parented.
    """
    needle = f"{attempt_id}"
    out = []
    for p in psutil.process_iter(["create_time"]):
        try:
            if p.info["create_time"] is None or p.info["create_time"] < since - 1:
                continue
            if p.pid == os.getpid():
                continue
            if p.environ().get(MARKER) == needle:
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return out


def sweep(finished: dict[int, float] | dict[str, float]) -> int:
    """SIGKILL processes left behind by finished attempts (one pass over the process table)."""
    if not finished:
        return 0
    since = min(finished.values())
    wanted = {str(a) for a in finished}
    killed = 0
    for p in psutil.process_iter(["create_time"]):
        try:
            if p.info["create_time"] is None or p.info["create_time"] < since - 1 or p.pid == os.getpid():
                continue
            if p.environ().get(MARKER) in wanted:
                p.kill()
                killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return killed


def tree(pid: int) -> list[psutil.Process]:
    """A process and its descendants (those still attached)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def signal_all(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            p.send_signal(sig)


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def reap(pid: int | None, attempt_id: int | str, since: float) -> int:
    """SIGKILL whatever is left of an attempt: its process group and every marked process."""
    if pid is not None:
        kill_group(pid, signal.SIGKILL)
    left = [p for p in marked(attempt_id, since) if _alive(p)]
    signal_all(left, signal.SIGKILL)
    return len(left)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def rss_mb(pid: int) -> float:
    """Resident memory of a process tree, in MiB."""
    total = 0
    for p in tree(pid):
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / (1 << 20)


def limit_memory(memory_mb: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that caps the address space (RLIMIT_AS) when cgroup v2 is not delegated."""
    if not memory_mb:
        return None
    limit = memory_mb << 20

    def _apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return _apply


OOM_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "Out of memory")


def looks_oom(stderr_path: str) -> bool:
    """Whether the end of a failed command's stderr shows an allocation failure."""
    try:
        with open(stderr_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return any(s in tail for s in OOM_SIGNS)
