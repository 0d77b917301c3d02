"""Ended-job notices: a controller tells the clients of other processes which jobs just ended.

A client whose controller runs in another process (``tessera up``, or another program's embedded
controller) would otherwise learn that a job ended only by reading the store, every 50 ms. So it
binds a datagram socket of its own (in Linux's abstract namespace: no file, no path length limit,
gone when it closes) and names it in every poke (``daemon.poke(..., reply_to=...)``); the
controller remembers the address and, after each commit, sends it the ids of the jobs that ended.
A notice only wakes the client's waiters, which read the outcome from the store: the store stays
the one channel that must not lose anything, and a lost notice costs one polling interval.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator

from tessera.config import Settings
from tessera.controller import daemon

PREFIX = b"ended "
IDS_PER_NOTICE = 4096  # ~40 KB: well under a Unix datagram's default limit
MAX_WATCHERS = 256


class Notices:
    """The controller's side: the watchers' addresses, and sending them the ended jobs' ids."""

    def __init__(self) -> None:
        self._watchers: set[str] = set()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def watch(self, address: str) -> None:
        """Called for every poke that names a reply address (a client's ``Watcher``)."""
        if not address.startswith("\0tessera-"):
            return  # only the abstract addresses ``Watcher`` makes
        with self._lock:
            if len(self._watchers) < MAX_WATCHERS or address in self._watchers:
                self._watchers.add(address)

    def send(self, job_ids: Iterable[int]) -> None:
        """Tell every watcher that these jobs ended; forget watchers that are gone."""
        ids = list(job_ids)
        with self._lock:
            watchers = list(self._watchers)
        if not ids or not watchers:
            return
        notices = [PREFIX + ",".join(map(str, ids[i:i + IDS_PER_NOTICE])).encode()
                   for i in range(0, len(ids), IDS_PER_NOTICE)]
        for address in watchers:
            for notice in notices:
                try:
                    self._sock.sendto(notice, address)
                except (ConnectionRefusedError, FileNotFoundError):
                    with self._lock:
                        self._watchers.discard(address)  # closed: its process ended or closed the client
                    break
                except OSError:
                    break  # its queue is full: it polls the store meanwhile

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def close(self) -> None:
        self._sock.close()


class Watcher:
    """The client's side: a socket to receive notices on and a thread calling ``on_ended`` with the ids."""

    def __init__(self, on_ended: Callable[[list[int]], None]) -> None:
        self.address = f"\0tessera-{os.getpid()}-{secrets.token_hex(6)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.address)
        self._on_ended = on_ended
        self._thread = threading.Thread(target=self._loop, name="tessera-notices", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 17)
            except OSError:
                return  # closed
            if not data:
                return  # shut down
            if not data.startswith(PREFIX):
                continue
            with contextlib.suppress(ValueError):
                self._on_ended([int(i) for i in data[len(PREFIX):].split(b",") if i])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=1.0)


@contextlib.contextmanager
def watching(settings: Settings, job_ids: Iterable[int]) -> Iterator[tuple[threading.Event, bool]]:
    """``(event, told)``: the event is set when this home's controller says one of ``job_ids`` ended;
    ``told`` is False where no controller runs here to say so (the caller polls). For a waiter
    outside any client (``tessera wait``): a ``Watcher`` named in one poke."""
    wanted = set(job_ids)
    event = threading.Event()
    if daemon.running_pid(settings) is None:
        yield event, False
        return

    def ended(ids: list[int]) -> None:
        if wanted.intersection(ids):
            event.set()

    watcher = Watcher(ended)
    try:
        daemon.poke(settings, reply_to=watcher.address, deps=False, cancels=False)
        yield event, True
    finally:
        watcher.close()
