"""Job functions of the conformance suite, importable by local workers and Ray workers alike."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path


def gpu_ids(hold_s: float = 0.0) -> list[str]:
    """The GPUs this attempt was given (``CUDA_VISIBLE_DEVICES``), after holding them a while."""
    import time

    time.sleep(hold_s)
    return [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]


def attempt_env() -> dict[str, str | None]:
    keys = ("TESSERA_JOB_ID", "TESSERA_ATTEMPT_NUMBER", "TESSERA_ARRAY_INDEX", "TESSERA_SCRATCH_DIR")
    return {k: os.environ.get(k) for k in keys}


def count_with_checkpoint(directory: str, steps: int, die_at: int) -> dict[str, int]:
    """Count to ``steps``, checkpointing each step under ``directory`` (one file per job). The first
    attempt kills its own process at step ``die_at`` (a lost worker); the next resumes there."""
    path = Path(directory) / f"job-{os.environ['TESSERA_JOB_ID']}.json"
    state = json.loads(path.read_text()) if path.exists() else {"step": 0, "resumed_from": 0}
    if state["step"]:
        state["resumed_from"] = state["step"]
    attempt = int(os.environ["TESSERA_ATTEMPT_NUMBER"])
    while state["step"] < steps:
        state["step"] += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)  # atomic: a checkpoint is whole or absent
        if attempt == 1 and state["step"] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return {**state, "attempt": attempt}


def count_slowly(directory: str, steps: int, step_s: float) -> dict[str, int]:
    """Count to ``steps``, one step every ``step_s`` seconds, checkpointing each step (one file per
    job); an attempt that finds a checkpoint resumes from it."""
    import time

    path = Path(directory) / f"job-{os.environ['TESSERA_JOB_ID']}.json"
    state = json.loads(path.read_text()) if path.exists() else {"step": 0, "resumed_from": 0}
    if state["step"]:
        state["resumed_from"] = state["step"]
    while state["step"] < steps:
        time.sleep(step_s)
        state["step"] += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
    return {**state, "attempt": int(os.environ["TESSERA_ATTEMPT_NUMBER"])}
