"""The controller as a background process: one per ``TESSERA_HOME``, held by a file lock.

``ensure_running`` starts it when a command needs one; clients poke it through a Unix datagram
socket after writing to the store (the store is the only channel that must not lose anything).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tessera.config import Settings
from tessera.errors import ControllerError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def hold_lock(settings: Settings) -> Iterator[bool]:
    """Try to become the controller of this home; yields whether the lock was taken."""
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield True
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def running_pid(settings: Settings) -> int | None:
    """The pid of the controller holding this home's lock, or None."""
    if not settings.lock_path.exists():
        return None
    fd = os.open(settings.lock_path, os.O_RDONLY)
    try:
        return _locked_pid(settings, fd)
    finally:
        os.close(fd)


def _locked_pid(settings: Settings, fd: int, wait_s: float = 2.0) -> int | None:
    """The pid a controller writes right after taking the lock, or None once the lock is free (a
    controller empties the file just before it lets go). Never a placeholder such as -1 or 0:
    ``os.kill`` reads those as "every process" or "this process group"."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        text = settings.lock_path.read_text().strip()
        if text.isdigit() and int(text) > 1:
            return int(text)
        if time.monotonic() > deadline:
            raise ControllerError(
                f"a controller holds {settings.lock_path} but has not written its pid",
                f"see {settings.home / 'controller.log'}; if no tessera process runs, remove the lock file",
            )
        time.sleep(0.01)


def poke(settings: Settings, reply_to: str | None = None, deps: bool = True, cancels: bool = True) -> None:
    """Tell the controller to look at the store now (best effort: it also looks periodically).
    ``deps``/``cancels`` False: the caller added no dependency / no cancel request, so the
    controller need not read those (as ``Controller.poke``); ``reply_to``: the address of a
    ``notices.Watcher`` to tell when jobs end."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.sendto(poke_message(reply_to, deps, cancels), str(settings.socket_path))


def poke_message(reply_to: str | None = None, deps: bool = True, cancels: bool = True) -> bytes:
    """The datagram ``poke`` sends (``listen`` reads it)."""
    return b" ".join([b"poke", *([] if deps else [b"nodeps"]), *([] if cancels else [b"nocancels"]),
                      *([] if reply_to is None else [reply_to.encode()])])


def ensure_running(settings: Settings, timeout_s: float = 15.0) -> int:
    """Start a background controller unless one runs; returns its pid."""
    pid = running_pid(settings)
    if pid:
        return pid
    settings.home.mkdir(parents=True, exist_ok=True)
    log = open(settings.home / "controller.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "TESSERA_HOME": str(settings.home)}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tessera.controller.daemon"], stdin=subprocess.DEVNULL, stdout=log,
        stderr=log, start_new_session=True, close_fds=True, env=env,
    )
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = running_pid(settings)
        if pid and settings.socket_path.exists():
            return pid
        if proc.poll() is not None:
            tail = (settings.home / "controller.log").read_text(errors="replace")[-2000:]
            if running_pid(settings):  # lost a start race to another client: fine
                return running_pid(settings) or proc.pid
            raise ControllerError(
                f"the controller exited at start with code {proc.returncode}:\n{tail}",
                f"read {settings.home / 'controller.log'}; check TESSERA_HOME and TESSERA_DB",
            )
        time.sleep(0.02)
    raise ControllerError(
        f"the controller did not start within {timeout_s:g} s",
        f"read {settings.home / 'controller.log'}",
    )


def stop(settings: Settings, timeout_s: float = 30.0) -> int | None:
    """Stop the background controller (its running attempts are requeued); returns its pid."""
    pid = running_pid(settings)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running_pid(settings) is None:
            return pid
        time.sleep(0.05)
    raise ControllerError(f"controller {pid} did not stop within {timeout_s:g} s", f"kill it: kill -9 {pid}")


def serve(settings: Settings) -> int:
    """Run the controller in this process until SIGTERM or SIGINT. Returns an exit code."""
    from tessera.autoscale.apply import attach as attach_autoscaler
    from tessera.controller.core import Controller
    from tessera.controller.notices import Notices
    from tessera.executors.factory import build
    from tessera.executors.hardware import detect
    from tessera.store import Store

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with hold_lock(settings) as mine:
        if not mine:
            logger.error("another controller holds %s", settings.lock_path)
            return 1
        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        store = Store(settings.db_url)
        executor = build(settings, detect(settings))
        controller = Controller(settings, store, executor)
        attach_autoscaler(controller)
        notices = Notices()  # clients in other processes learn which jobs ended (``notices``)
        controller.on_terminal = lambda ids, _finished: notices.send(ids)
        sock = listen(settings.socket_path, controller.poke, stopping, on_watch=notices.watch)
        controller.poke()
        try:
            while not stopping.is_set():
                controller.step(0.5)
        finally:
            controller.close()
            sock.close()
            notices.close()
            with contextlib.suppress(FileNotFoundError):
                settings.socket_path.unlink()
            store.close()
    return 0


def listen(path: Path, on_poke: Callable[[bool, bool], None], stopping: threading.Event,
           on_watch: Callable[[str], None] | None = None) -> socket.socket:
    """Call ``on_poke(deps, cancels)`` for the datagrams sent to ``path`` (by ``poke``), until
    ``stopping``; ``on_watch`` with the reply addresses they name, first. Pokes that arrived
    together make one call (what any of them says changed), as they need one look at the store."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.setblocking(False)
    ready = select.poll()
    ready.register(s, select.POLLIN)

    def loop() -> None:
        while not stopping.is_set():
            msgs: list[bytes] = []
            try:
                if not ready.poll(500):
                    continue
                while len(msgs) < 1024:  # every poke that came meanwhile: one look at the store for all
                    msgs.append(s.recv(256))
            except BlockingIOError:  # all read
                pass
            except OSError:
                return
            if not msgs:
                continue
            deps = cancels = False
            addresses: set[bytes] = set()
            for msg in msgs:
                words = msg.split(b" ")
                addresses.update(w for w in words[1:] if w.startswith(b"\0"))
                deps |= b"nodeps" not in words
                cancels |= b"nocancels" not in words
            if on_watch is not None:
                for address in addresses:
                    with contextlib.suppress(UnicodeDecodeError):
                        on_watch(address.decode())
            on_poke(deps, cancels)

    threading.Thread(target=loop, name="tessera-poke", daemon=True).start()
    return s


if __name__ == "__main__":
    sys.exit(serve(Settings.load()))
