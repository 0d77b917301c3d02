"""Named crash points for the chaos tests, driven by ``TESSERA_FAILPOINTS``.

``TESSERA_FAILPOINTS=after_claim,mid_checkpoint_write:3`` makes the process that reaches
``failpoints.hit("after_claim")`` kill itself with SIGKILL the first time, and the one that reaches
``mid_checkpoint_write`` do so on its third hit. A failpoint fires once per ``TESSERA_HOME``: before
dying, the process records it in ``$TESSERA_HOME/failpoints/<name>`` (so a restarted controller,
which inherits the variable, survives the same point), and appends the name to ``hits.log`` there.
With the variable unset, ``hit`` is one set lookup.
"""

from __future__ import annotations

import os
import signal

#: Every crash point the code marks, in the order an attempt meets them.
NAMES = (
    "after_claim",                 # controller: attempts claimed in the store, not yet launched
    "mid_checkpoint_write",        # job: checkpoint payload written, manifest not yet committed
    "after_finish_before_commit",  # controller: outcomes received from the executor, not yet committed
    "after_commit_before_ack",     # controller: outcomes committed, clean-up and notification not done
    "mid_requeue",                 # controller: a preempted attempt committed, its job not yet runnable
    "mid_cancel",                  # controller: waiting jobs cancelled, running ones not yet killed
)


def _parse(raw: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, nth = part.partition(":")
        if name not in NAMES:
            raise ValueError(f"unknown failpoint {name!r} in TESSERA_FAILPOINTS. To fix: use only {', '.join(NAMES)}")
        out[name] = int(nth) if nth else 1
    return out


_armed: dict[str, int] = _parse(os.environ.get("TESSERA_FAILPOINTS", ""))
_counts: dict[str, int] = {}


def arm(raw: str) -> None:
    """Re-read the failpoints (tests that set the variable after import)."""
    global _armed
    _armed = _parse(raw)
    _counts.clear()


def hit(name: str) -> None:
    """Crash here (SIGKILL to this very process) if ``name`` is armed, due, and not yet fired in this home."""
    if name not in _armed:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] < _armed[name]:
        return
    home = os.environ.get("TESSERA_HOME") or os.path.expanduser("~/.tessera")
    marks = os.path.join(home, "failpoints")
    os.makedirs(marks, exist_ok=True)
    try:
        fd = os.open(os.path.join(marks, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        del _armed[name]  # fired already, by this or an earlier process of this home
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    with open(os.path.join(marks, "hits.log"), "a") as f:
        f.write(f"{name} {os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


def fired(home: str) -> list[str]:
    """The failpoints that fired in this home."""
    marks = os.path.join(home, "failpoints")
    return sorted(n for n in NAMES if os.path.exists(os.path.join(marks, n)))
