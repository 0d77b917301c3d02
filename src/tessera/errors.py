"""The one error tree of tessera; every message a user sees ends with a ``To fix:`` line.

    TesseraError
    ├── SpecError            bad input: unknown field, bad resources, bad array or dependency (exit 2)
    │   ├── InfeasibleError  the job can never fit on the capacity that exists
    │   ├── CycleError       dependencies that form a loop
    │   └── BudgetError      a submission its project's budget refuses
    ├── NotFoundError        no job, attempt or queue by that name (exit 2)
    ├── StoreError           the durable store failed (driver errors are translated into this)
    ├── ControllerError      the controller could not be started, reached or stopped
    ├── JobFailedError       a job ended without success; carries the remote traceback (exit 1)
    └── WaitTimeoutError     a wait ran out of time before the jobs ended (exit 1)

    Shutdown (BaseException)  travels through user code's ``except Exception`` on stop and preemption
"""

from __future__ import annotations

from typing import Any


class TesseraError(Exception):
    """Root of every error tessera raises on purpose.

    Args:
        what: what was wrong, in one or two sentences.
        fix: what the user should do about it (printed after ``To fix:``).
        **fields: structured details (a job id, a field name) for programs.
    """

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None, **fields: Any) -> None:
        self.what = what
        self.fix = fix
        self.fields = fields
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.fix:
            return f"{self.what}\nTo fix: {self.fix}"
        return self.what


class SpecError(TesseraError):
    """A job specification, job file or command line that tessera refuses; nothing is stored."""


class InfeasibleError(SpecError):
    """The job asks for more than this executor will ever have."""


class CycleError(SpecError):
    """Dependencies form a cycle."""


class BudgetError(SpecError):
    """A submission whose forecast cost exceeds what is left of its project's budget."""


class NotFoundError(TesseraError):
    """No object by that id or name."""


class StoreError(TesseraError):
    """The store failed; wraps the driver's error."""

    exit_code = 3


class ControllerError(TesseraError):
    """The controller could not be started, reached or stopped."""

    exit_code = 3


class JobFailedError(TesseraError):
    """A job ended without success.

    Attributes:
        job_id: the job.
        state: its terminal state.
        remote_traceback: the traceback text from the job's process, if it raised.
    """

    exit_code = 1

    def __init__(
        self,
        job_id: str,
        state: str,
        reason: str | None = None,
        remote_traceback: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.reason = reason
        self.remote_traceback = remote_traceback
        what = f"job {job_id} ended {state}" + (f" ({reason})" if reason else "")
        if remote_traceback:
            what += "\n\nRemote traceback:\n" + remote_traceback.rstrip()
        super().__init__(
            what,
            f"read its logs with `tessera logs {job_id}` and its history with `tessera show {job_id}`",
            job_id=job_id,
            state=state,
        )


class WaitTimeoutError(TesseraError):
    """Waiting for jobs ran out of time."""

    exit_code = 1


class Shutdown(BaseException):  # noqa: N818 - a signal, not an error
    """Raised inside a job when it must stop (cancel, timeout, preemption).

    It derives from ``BaseException`` so that ``except Exception`` in user code does not swallow it.
    """
