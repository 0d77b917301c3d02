"""Checkpointing jobs for the spot and chaos tests (importable by workers as ``tests.chaos.jobs``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import tessera


def steps(n: int, step_s: float = 0.05, marker: str | None = None) -> dict[str, Any]:
    """Count to ``n``, one step per ``step_s``, checkpointing after every step and on a notice.

    Returns the state: ``starts`` lists (attempt number, step it resumed from) per attempt, so a
    test sees that a later attempt resumed where an earlier one left off.
    """
    ctx = tessera.context()
    state: dict[str, Any] = ctx.restore({"i": 0, "starts": [], "noticed": []})
    state["starts"].append([ctx.attempt, state["i"]])

    def on_notice(c: tessera.runtime.Context) -> None:
        state["noticed"].append([c.attempt, state["i"]])
        c.checkpoint(state)

    ctx.on_notice(on_notice)
    while state["i"] < n:
        time.sleep(step_s)
        state["i"] += 1
        ctx.checkpoint(state)
        ctx.progress(state["i"] / n)
        if marker:
            Path(f"{marker}.{ctx.attempt}").write_text(str(state["i"]))
    state["capacity"] = ctx.capacity
    return state


def periodic(n: int, step_s: float, every_s: float, marker: str | None = None) -> dict[str, Any]:
    """Like ``steps`` but checkpointing only every ``every_s`` seconds and ignoring notices."""
    ctx = tessera.context()
    state: dict[str, Any] = ctx.restore({"i": 0, "starts": []})
    state["starts"].append([ctx.attempt, state["i"]])
    last = time.monotonic()
    while state["i"] < n:
        time.sleep(step_s)
        state["i"] += 1
        if time.monotonic() - last >= every_s:
            ctx.checkpoint(state)
            last = time.monotonic()
        if marker:
            Path(f"{marker}.{ctx.attempt}").write_text(str(state["i"]))
    return state


def stubborn_main(argv: list[str]) -> int:
    """A command that ignores SIGTERM, checkpoints every ``every_s`` s, and writes its state to ``out``."""
    n, step_s, every_s, out = int(argv[0]), float(argv[1]), float(argv[2]), argv[3]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctx = tessera.context()
    state: dict[str, Any] = ctx.restore({"i": 0, "starts": []})
    state["starts"].append([ctx.attempt, state["i"]])
    Path(f"{out}.started.{ctx.attempt}").write_text(json.dumps({"env": {
        k: os.environ.get(k, "") for k in ("TESSERA_CHECKPOINT_DIR", "TESSERA_NOTICE_FILE", "TESSERA_CAPACITY")}}))
    last = time.monotonic()
    while state["i"] < n:
        time.sleep(step_s)
        state["i"] += 1
        if time.monotonic() - last >= every_s:
            ctx.checkpoint(state)
            last = time.monotonic()
    Path(out).write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(stubborn_main(sys.argv[1:]))
