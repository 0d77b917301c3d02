"""Records read back from the store: ``Job``, ``Attempt``, ``Event`` (values, no I/O).

``Job`` and ``Attempt`` are made for every attempt, so they are plain slotted dataclasses: a frozen
one sets each field through ``object.__setattr__``, a call per field in ``__init__``. They are
values all the same: nothing changes one after it is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tessera.errors import NotFoundError
from tessera.models.spec import JobSpec
from tessera.models.states import JobState, Reason

_REF = re.compile(r"^(\d{1,18})(?:_(\d{1,9}))?$")


def parse_ref(text: str | int) -> tuple[int, int | None]:
    """Parse a job reference: ``"12"`` is job 12, ``"12_3"`` is element 3 of array 12."""
    m = _REF.match(str(text).strip())
    if not m:
        raise NotFoundError(
            f"{text!r} is not a job id",
            "give a job id as printed by `tessera submit` or `tessera ls`, e.g. 42 or 42_7",
        )
    return int(m.group(1)), (int(m.group(2)) if m.group(2) is not None else None)


@dataclass(slots=True)
class Job:
    """A job as the store holds it. Array elements are jobs with ``array_id`` set."""

    id: int
    spec: JobSpec
    state: JobState
    reason: Reason | None = None
    reason_detail: str | None = None
    array_id: int | None = None
    array_index: int | None = None
    is_array: bool = False
    attempts: int = 0
    retries_used: int = 0
    infra_retries_used: int = 0
    not_before_at: float | None = None
    submitted_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    lease_token: int | None = None
    cancel_requested: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """The id users see: ``12`` or, for an element, ``<array>_<index>``."""
        if self.array_id is not None:
            return f"{self.array_id}_{self.array_index}"
        return str(self.id)

    @property
    def name(self) -> str:
        base = self.spec.name or (self.spec.command[0] if self.spec.command else None) or (
            self.spec.function or self.spec.kernel or "python"
        )
        if self.array_id is not None:
            return f"{base}[{self.array_index}]"
        return base


@dataclass(slots=True)
class Attempt:
    """One execution of a job."""

    id: int
    job_id: int
    number: int
    token: int
    executor: str
    state: str
    placement: dict[str, Any]
    started_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    pid: int | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One state transition in a job's history."""

    job_id: int
    at: float
    src: str | None
    dst: str
    reason: str | None = None
    detail: str | None = None


def fmt_time(ts: float | None) -> str:
    """A UTC timestamp for people."""
    if ts is None:
        return "-"
    return datetime.utcfromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
