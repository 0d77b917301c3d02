"""The worker's side of coalescing: replies of coalesced array elements held back and sent in one write.

An element whose environment carries ``TESSERA_COALESCE=N`` (set at submit by
``tessera.placement.coalesce``) may have its reply held while more attempts wait in the worker's
inbox, up to N replies or ``FLUSH_S`` seconds, whichever comes first; then all held replies go in
one write, and the controller reads them in one poll and commits them in one transaction. Each
element is still its own attempt with its own result. A held reply waits at most ``FLUSH_S`` plus
the run time of the element that was running when it fell due (the decision coalesces only
elements shorter than the per-attempt overhead, and none with a timeout under a second), so the
reply of an element with a timeout is never held: behind a slow sibling, it would time out although
it had ended (the Ray executor likewise runs such elements one per task). Held replies are never lost to the store:
if the worker dies before sending them, the controller sees those attempts as queued, never
started, and requeues them (they run again; nothing was committed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tessera.executors import frames

ENV = "TESSERA_COALESCE"
FLUSH_S = 0.02  # the longest a finished element's reply waits for its chunk


def chunk_of(env: Mapping[str, str]) -> int:
    """The chunk an environment coalesces its array's elements into (``TESSERA_COALESCE``); 1: none."""
    try:
        return max(1, int(env.get(ENV) or 1))
    except ValueError:
        return 1


class Held:
    """Replies held back, and since when."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.count = 0
        self.since = 0.0

    def keep(self, reply: list[bytes], msg: dict[str, Any], more: bool) -> bool:
        """Hold ``reply`` when its element is coalesced, more attempts are waiting, and the chunk
        is neither full nor too old; False: the caller sends it (after flushing the held ones)."""
        if not more or msg.get("timeout_s"):  # held behind a long element, its reply could look late
            return False
        chunk = chunk_of(msg["env"])
        if chunk <= 1:
            return False
        now = time.monotonic()
        if not self.count:
            self.since = now
        elif self.count + 1 >= chunk or now - self.since >= FLUSH_S:
            return False
        self.frames += reply
        self.count += 1
        return True

    def send_if_due(self, fd: int) -> None:
        """Send the held replies once the oldest has waited ``FLUSH_S`` (before the next element runs)."""
        if self.count and time.monotonic() - self.since >= FLUSH_S:
            self.send(fd)

    def send(self, fd: int, reply: list[bytes] | None = None) -> None:
        """Write the held replies, then ``reply``, in one write."""
        out = self.frames + (reply or [])
        self.frames, self.count = [], 0
        if out:
            frames.write_all(fd, frames.encode(out))
