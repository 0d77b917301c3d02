"""The ``Executor`` protocol every backend implements, what it launches and what it reports back.

``Launch``, ``Outcome`` and ``Started`` are made for every attempt: slotted, not frozen, dataclasses
(see ``models.job``); nothing changes one after it is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity, Placement


class Feature(StrEnum):
    """What a backend supports; the controller and the tests read these rather than guess."""

    COMMANDS = "commands"
    FUNCTIONS = "functions"
    WARM_WORKERS = "warm_workers"
    GPU = "gpu"
    MEMORY_LIMIT = "memory_limit"
    PREEMPTIBLE = "preemptible"
    MULTI_NODE = "multi_node"


@dataclass(slots=True)
class Launch:
    """Everything needed to run one attempt; built by the controller from the store."""

    attempt_id: int
    job_id: int
    ref: str
    kind: str
    placement: Placement
    attempt_number: int = 1
    command: tuple[str, ...] | None = None
    function: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    payload: bytes | None = None
    array_payload: bytes | None = None
    array_id: int | None = None
    array_index: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout_s: float | None = None
    stdout_path: str = ""
    stderr_path: str = ""
    scratch_dir: str = ""
    queue: str = "default"  # routes the attempt to its queue's executor (executors/routed.py)


@dataclass(slots=True)
class Outcome:
    """How an attempt ended: succeeded, failed, timed_out, cancelled, lost (it ran and its worker or
    controller died) or unstarted (it was queued and never ran; it is requeued at no cost)."""

    attempt_id: int
    job_id: int
    status: str
    reason: Reason | None = None
    detail: str | None = None
    exit_code: int | None = None
    ran_at: float | None = None
    ended_at: float = 0.0
    result_encoding: str | None = None
    result: bytes | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    checkpoints: bool | None = None  # whether the job's checkpoint folder exists, when the worker looked


@dataclass(slots=True)
class Started:
    """A launched attempt: its process id (if it has one) and when it began running."""

    attempt_id: int
    job_id: int
    at: float
    pid: int | None = None
    inherits: int | None = None  # a pipelined attempt takes over the slot of the one that just ended


class Executor(Protocol):
    """A backend that runs attempts. ``poll`` blocks until something happened or ``timeout`` passed."""

    name: str
    features: frozenset[Feature]

    def capacity(self) -> Capacity: ...

    def launch(self, launch: Launch, queued: bool = False) -> None: ...

    def pipeline_room(self, depth: int) -> int: ...

    def kill(self, attempt_id: int, reason: Reason) -> None: ...

    def poll(self, timeout: float) -> tuple[list[Started], list[Outcome]]: ...

    def wake(self) -> None: ...

    def close(self, grace_s: float = 5.0) -> list[Outcome]: ...


def attempt_env(la: Launch, marker: str) -> dict[str, str]:
    """The variables every attempt gets on every executor (the GPUs are each executor's own):
    the job's environment, its ids, its scratch directory and the process marker ``marker``."""
    from tessera.executors.procs import MARKER

    env = dict(la.env)
    env.update({
        "TESSERA_JOB_ID": la.ref, "TESSERA_ATTEMPT_ID": str(la.attempt_id),
        "TESSERA_ATTEMPT_NUMBER": str(la.attempt_number), "TESSERA_SCRATCH_DIR": la.scratch_dir, MARKER: marker,
    })
    if la.array_index is not None:
        env["TESSERA_ARRAY_INDEX"] = str(la.array_index)
        env["TESSERA_ARRAY_JOB_ID"] = str(la.array_id)
    return env


def next_clock(runs: Iterable[Any]) -> float:
    """The soonest time (monotonic) an executor must look at its attempts: each one's pending hard
    kill, else its deadline (objects with ``kill_at`` and ``deadline``); inf when there is none."""
    t = float("inf")
    for run in runs:
        if run.kill_at is not None:
            t = min(t, run.kill_at)
        elif run.deadline is not None:
            t = min(t, run.deadline)
    return t
