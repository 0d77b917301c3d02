"""``tessera.context()``: what a running job knows about its attempt, and how it checkpoints.

Everything comes from the attempt's environment (set by the executor for Python jobs on warm
workers and for commands alike), so a command that is a Python script gets the same context:

* ``TESSERA_JOB_ID``, ``TESSERA_ATTEMPT_ID``, ``TESSERA_ATTEMPT_NUMBER``, ``TESSERA_ARRAY_INDEX``,
  ``TESSERA_SCRATCH_DIR``, ``CUDA_VISIBLE_DEVICES``: the attempt;
* ``TESSERA_CHECKPOINT_URL`` + ``TESSERA_CHECKPOINT_KEY``: where ``checkpoint``/``restore`` keep the
  job's checkpoints (any fsspec URL); ``TESSERA_CHECKPOINT_DIR``: a local directory for commands
  that write their own files;
* ``TESSERA_NOTICE_FILE``: written by the controller when the attempt's slot is being reclaimed
  (a spot preemption); it holds the time at which SIGTERM follows;
* ``TESSERA_PROGRESS_FILE``: where ``progress`` records how far the job got;
* ``TESSERA_CAPACITY``: ``spot`` or ``on_demand``.

A job that asks for its context gets a SIGUSR1 handler: the controller sends SIGUSR1 with the
notice to processes that handle it (and to no other, so a job that never asked is not killed by
it), and the handler runs the callbacks given to ``on_notice`` in the job's main thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENV_CHECKPOINT_URL = "TESSERA_CHECKPOINT_URL"
ENV_CHECKPOINT_KEY = "TESSERA_CHECKPOINT_KEY"
ENV_CHECKPOINT_DIR = "TESSERA_CHECKPOINT_DIR"
ENV_NOTICE_FILE = "TESSERA_NOTICE_FILE"
ENV_PROGRESS_FILE = "TESSERA_PROGRESS_FILE"
ENV_CAPACITY = "TESSERA_CAPACITY"
NOTICE_SIGNAL = signal.SIGUSR1


@dataclass
class Context:
    """One attempt's view of itself. Get it with ``tessera.context()``."""

    job_id: str
    attempt_id: int | None
    attempt: int
    array_index: int | None
    scratch_dir: str
    device: str
    capacity: str
    checkpoint_url: str | None
    checkpoint_key: str | None
    notice_file: str | None
    progress_file: str | None
    _callbacks: list[Callable[[Context], None]] = field(default_factory=list, repr=False)
    _noticed: bool = field(default=False, repr=False)
    _fired: bool = field(default=False, repr=False)
    _saving: bool = field(default=False, repr=False)
    _pending: bytes | None = field(default=None, repr=False)
    restored_generation: int | None = None
    corrupt_checkpoints: list[tuple[int, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ checkpoints

    def _store(self) -> Any:
        from tessera.runtime.checkpoint import CheckpointStore

        if not self.checkpoint_url or not self.checkpoint_key:
            raise RuntimeError("this process is not a tessera attempt: it has no checkpoint location. "
                               "To fix: call checkpoint()/restore() from a job that tessera runs")
        return CheckpointStore(self.checkpoint_url, self.checkpoint_key)

    def checkpoint(self, state: Any) -> int:
        """Save ``state`` (anything picklable) as the job's newest checkpoint; returns its generation.

        Called from a notice callback while the job itself is saving, the state is pickled at once
        and written right after that save (returns 0 then): two saves never interleave.
        """
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        if self._saving:
            self._pending = data
            return 0
        self._saving = True
        try:
            store = self._store()
            gen = store.save(data, str(self.attempt_id))
            while self._pending is not None:
                data, self._pending = self._pending, None
                gen = store.save(data, str(self.attempt_id))
        finally:
            self._saving = False
        return int(gen.number)

    def restore(self, default: Any = None) -> Any:
        """The newest checkpoint that verifies (an older one if the newest is corrupt), else ``default``."""
        found = self._store().load()
        self.corrupt_checkpoints = found.corrupt
        if found.data is None:
            return default
        self.restored_generation = found.generation.number if found.generation else None
        return pickle.loads(found.data)  # noqa: S301 - the job's own checkpoint, verified by checksum

    # ------------------------------------------------------------------ progress and notices

    def progress(self, fraction: float) -> None:
        """Record how far the job got (0 to 1); ``tessera show`` prints it."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress {fraction!r} is outside 0..1. To fix: pass a fraction between 0 and 1")
        if not self.progress_file:
            return
        _write_json(self.progress_file, {"fraction": fraction, "at": time.time(), "attempt": self.attempt_id})

    @property
    def preempted(self) -> bool:
        """Whether a preemption notice has arrived for this attempt (SIGTERM follows at its deadline)."""
        if self._noticed:
            return True
        self._noticed = bool(self.notice_file and os.path.exists(self.notice_file))
        return self._noticed

    def notice(self) -> dict[str, Any] | None:
        """The notice (``deadline``: when SIGTERM comes, ``sent_at``), or None."""
        if not self.notice_file:
            return None
        try:
            with open(self.notice_file) as f:
                out: dict[str, Any] = json.load(f)
                return out
        except (FileNotFoundError, ValueError):
            return None

    def on_notice(self, callback: Callable[[Context], None]) -> None:
        """Call ``callback(ctx)`` in the job's main thread when a preemption notice arrives."""
        self._callbacks.append(callback)
        if self._fired or self.preempted:  # it came before the callback was given
            self._fired = True
            callback(self)

    def _fire(self) -> None:
        if self._fired:
            return
        self._fired = self._noticed = True
        for cb in list(self._callbacks):
            cb(self)


_current: Context | None = None


def context() -> Context:
    """The running attempt's context (the same object for the whole attempt)."""
    global _current
    env = os.environ
    aid = env.get("TESSERA_ATTEMPT_ID")
    if _current is not None and str(_current.attempt_id) == str(aid):
        return _current
    gpus = env.get("CUDA_VISIBLE_DEVICES", "")
    index = env.get("TESSERA_ARRAY_INDEX")
    _current = Context(
        job_id=env.get("TESSERA_JOB_ID", ""), attempt_id=int(aid) if aid else None,
        attempt=int(env.get("TESSERA_ATTEMPT_NUMBER", "1")), array_index=int(index) if index else None,
        scratch_dir=env.get("TESSERA_SCRATCH_DIR", os.getcwd()), device="cuda:0" if gpus else "cpu",
        capacity=env.get(ENV_CAPACITY, "on_demand"), checkpoint_url=env.get(ENV_CHECKPOINT_URL),
        checkpoint_key=env.get(ENV_CHECKPOINT_KEY), notice_file=env.get(ENV_NOTICE_FILE),
        progress_file=env.get(ENV_PROGRESS_FILE),
    )
    _install_handler()
    return _current


def _on_signal(_signum: int, _frame: object) -> None:
    ctx = _current
    if ctx is not None and str(ctx.attempt_id) == os.environ.get("TESSERA_ATTEMPT_ID") and ctx.preempted:
        ctx._fire()


def _install_handler() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only; ``preempted`` still works by polling
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(NOTICE_SIGNAL) is not _on_signal:
            signal.signal(NOTICE_SIGNAL, _on_signal)


def _write_json(path: str, value: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
