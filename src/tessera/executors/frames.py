"""Length-prefixed frames on a worker's socket, in the format of ``multiprocessing.Connection``
(a 4-byte big-endian signed length, or -1 and an 8-byte length for the largest), written and read
in batches: the controller sends every queued attempt of a worker in one write and reads every
reply that has arrived in one read, instead of two system calls per frame.
"""

from __future__ import annotations

import os
import struct

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")
_SHORT_MAX = 0x7FFFFFFF
READ_SIZE = 1 << 16


def encode(frames: list[bytes]) -> bytes:
    """Frames ready for one write."""
    parts: list[bytes] = []
    for f in frames:
        if len(f) > _SHORT_MAX:
            parts += [_SHORT.pack(-1), _LONG.pack(len(f)), f]
        else:
            parts += [_SHORT.pack(len(f)), f]
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    """Write everything to a blocking file descriptor (a large write may be taken in parts)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FrameReader:
    """Collects bytes read from a socket and hands out the complete frames, in order."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def fill(self, fd: int) -> bool:
        """Read what has arrived (the caller knows ``fd`` is readable); False at end of file."""
        chunk = os.read(fd, max(READ_SIZE, self._missing()))
        self._buf += chunk
        return bool(chunk)

    def next(self) -> bytes | None:
        """The next complete frame, or None until more bytes arrive."""
        size, head = self._size()
        if size is None or len(self._buf) < head + size:
            return None
        frame = bytes(self._buf[head:head + size])
        del self._buf[:head + size]
        return frame

    def has_frame(self) -> bool:
        size, head = self._size()
        return size is not None and len(self._buf) >= head + size

    def _size(self) -> tuple[int | None, int]:
        if len(self._buf) < 4:
            return None, 4
        (size,) = _SHORT.unpack_from(self._buf)
        if size != -1:
            return size, 4
        if len(self._buf) < 12:
            return None, 12
        return _LONG.unpack_from(self._buf, 4)[0], 12

    def _missing(self) -> int:
        size, head = self._size()
        return 0 if size is None else head + size - len(self._buf)
