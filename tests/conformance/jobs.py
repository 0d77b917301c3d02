"""Job functions of the conformance suite, importable by local workers and Ray workers alike."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any


def gpu_ids(hold_s: float = 0.0) -> list[str]:
    """The GPUs this attempt was given (``CUDA_VISIBLE_DEVICES``), after holding them a while."""
    import time

    time.sleep(hold_s)
    return [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]


def attempt_env() -> dict[str, str | None]:
    keys = ("TESSERA_JOB_ID", "TESSERA_ATTEMPT_NUMBER", "TESSERA_ARRAY_INDEX", "TESSERA_SCRATCH_DIR")
    return {k: os.environ.get(k) for k in keys}


def count_with_checkpoint(steps: int, die_at: int) -> dict[str, int]:
    """Count to ``steps``, checkpointing each step with ``tessera.context()``. The first attempt
    kills its own process at step ``die_at`` (a lost worker); the next resumes from the checkpoint."""
    import tessera

    ctx = tessera.context()
    state = ctx.restore({"step": 0, "resumed_from": 0})
    if state["step"]:
        state["resumed_from"] = state["step"]
    while state["step"] < steps:
        state["step"] += 1
        ctx.checkpoint(state)
        if ctx.attempt == 1 and state["step"] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return {**state, "attempt": ctx.attempt}


def count_slowly(progress: str, steps: int, step_s: float) -> dict[str, int]:
    """Count to ``steps``, one step every ``step_s`` seconds, checkpointing each step with
    ``tessera.context()`` and noting the step in the file ``progress`` (for the test to watch)."""
    import time

    import tessera

    ctx = tessera.context()
    state = ctx.restore({"step": 0, "resumed_from": 0})
    if state["step"]:
        state["resumed_from"] = state["step"]
    while state["step"] < steps:
        time.sleep(step_s)
        state["step"] += 1
        ctx.checkpoint(state)
        Path(progress).write_text(json.dumps(state))
    return {**state, "attempt": ctx.attempt}


def where(hold_s: float = 0.0) -> str:
    """Which executor runs this attempt: ``ray`` inside a Ray task, else ``local``."""
    import sys
    import time

    time.sleep(hold_s)
    ray = sys.modules.get("ray")
    return "ray" if ray is not None and ray.is_initialized() else "local"


def element(i: int, marker_dir: str, die_at: int = -1, seconds: float = 0.0, slow_at: int = -1) -> dict[str, object]:
    """An element of a coalesced array: prints a line to its own log, and returns its own attempt,
    the chunk it was told and the Ray task (or worker process) that ran it. Element 5 fails on its
    first attempt; element ``die_at`` kills its own process on its first attempt (a worker lost
    mid-chunk); element ``slow_at`` sleeps for two minutes (past any timeout of the tests)."""
    import sys
    import time

    first = os.environ.get("TESSERA_ATTEMPT_NUMBER") == "1"
    if i == die_at and first:
        os.kill(os.getpid(), signal.SIGKILL)
    marker = Path(marker_dir) / f"failed-{i}"
    if i == 5 and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("element 5 fails once")
    time.sleep(120 if i == slow_at else seconds)
    print(f"element {i}")
    ray = sys.modules.get("ray")  # set in a Ray worker only (a local worker never imports Ray)
    task = ray.get_runtime_context().get_task_id() if ray is not None and ray.is_initialized() else None
    return {"i": i, "attempt": os.environ.get("TESSERA_ATTEMPT_ID"), "chunk": os.environ.get("TESSERA_COALESCE"),
            "task": task or str(os.getpid())}


def on_node(i: int, where: str, seconds: float) -> int:
    """Note which Ray node starts this attempt (a file per attempt), then sleep."""
    import time

    import ray

    node = ray.get_runtime_context().get_node_id()
    Path(where, f"{i}.{os.environ['TESSERA_ATTEMPT_NUMBER']}").write_text(node)
    time.sleep(seconds)
    return i


def pick(data: Any, i: int) -> float:
    """One value of a large array the job captured (``functools.partial(pick, data)``)."""
    return float(data[i % len(data)])
