"""Attempt log files without creating a file per attempt: a worker's spool, linked in as the log.

Creating a file is slow on some file systems (ext4 on the development machine: two per attempt
were the largest part of a Ray worker's attempt wrapper), while a hard link to an existing file
is cheap. So a worker keeps one empty spool file per stream in the log folder (hidden:
``.spool-<host>-<pid>.out``) and, for each attempt, links the attempt's log path to it: the attempt
writes to its own log path from its first byte (``tessera logs -f`` sees it live; the standard
streams are the same inode). When the attempt ends:

* it wrote nothing: its log name is unlinked again (a log that does not exist reads as empty
  everywhere) and the spool, still empty, serves the next attempt;
* it wrote something: the inode is the attempt's log from then on; the spool's own name is
  dropped, and the next attempt makes a new spool (a file created only when there was output).

A spool found non-empty before an attempt (something the previous attempt started is still
writing to it) is replaced, never linked. A log path that already exists, or a file system
without hard links, falls back to opening the log path itself, as the plain opener does.
"""

from __future__ import annotations

import contextlib
import os
import socket

_HOST = socket.gethostname()
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def open_plain(path: str) -> int:
    """Open a log for appending, making its folder on first use (the controller leaves that to us)."""
    try:
        return os.open(path, _FLAGS, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, _FLAGS, 0o644)


class Spools:
    """One spool per (log folder, stream) of this worker; ``open``/``close`` match the plain
    opener's signature (``worker.log_files``)."""

    def __init__(self) -> None:
        self._spools: dict[tuple[str, str], tuple[int, str]] = {}  # (folder, extension) -> (fd, spool path)
        self._linked: dict[int, str] = {}  # spool fd -> the attempt log path linked to it

    def open(self, path: str) -> int:
        folder, name = os.path.split(path)
        key = (folder, os.path.splitext(name)[1])
        spool = self._spools.get(key)
        try:
            if spool is None or os.fstat(spool[0]).st_size:
                spool = self._fresh(key)
            os.link(spool[1], path)
        except OSError:  # the log exists already, or no hard links here
            return open_plain(path)
        self._linked[spool[0]] = path
        return spool[0]

    def close(self, fd: int, path: str) -> None:
        if self._linked.pop(fd, None) != path:
            os.close(fd)  # a plainly opened log
            return
        if os.fstat(fd).st_size == 0:
            os.unlink(path)  # nothing written: no log file, the spool stays for the next attempt
            return
        key = next(k for k, (f, _) in self._spools.items() if f == fd)
        _fd, spool_path = self._spools.pop(key)
        with contextlib.suppress(OSError):
            os.unlink(spool_path)  # the inode is the attempt's log now
        os.close(fd)

    def _fresh(self, key: tuple[str, str]) -> tuple[int, str]:
        """A new empty spool for ``key``; spools of other folders are dropped (a worker serves one
        array at a time, mostly), so at most one pair of spools per worker stays behind."""
        linked = set(self._linked)
        for k in [k for k, (f, _) in self._spools.items() if (k[0] != key[0] or k == key) and f not in linked]:
            fd, spool_path = self._spools.pop(k)
            with contextlib.suppress(OSError):
                os.unlink(spool_path)
            os.close(fd)
        spool_path = os.path.join(key[0], f".spool-{_HOST}-{os.getpid()}{key[1]}")  # unique on a shared file system
        try:
            fd = os.open(spool_path, _FLAGS | os.O_TRUNC, 0o644)
        except FileNotFoundError:  # the first log of a new folder (an array's): make the folder
            os.makedirs(key[0], exist_ok=True)
            fd = os.open(spool_path, _FLAGS | os.O_TRUNC, 0o644)
        self._spools[key] = (fd, spool_path)
        return fd, spool_path
