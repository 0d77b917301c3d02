"""``SpotManager``: the controller's spot side. It gives each attempt its capacity class and runtime
variables, preempts spot slots on the schedule (notice file + SIGUSR1, then after the notice period
the executor's kill: SIGTERM, grace, SIGKILL), requeues preempted jobs at no cost to any retry
budget, and records what every classed attempt cost and lost.

The controller calls it through four hooks: ``env`` at launch, ``tick`` every step, ``after_commit``
when outcomes are committed and ``recover`` at start. With no spot slots configured, ``env`` only
adds the runtime variables and ``after_commit`` only looks for preempted outcomes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tessera import failpoints
from tessera.config import Settings
from tessera.executors import procs
from tessera.executors.base import Executor, Outcome, Started
from tessera.models.states import JobState, Reason
from tessera.runtime.env import NOTICE_NAME, PROGRESS_NAME, attempt_env, checkpoint_root, local_dir
from tessera.spot import ledger, policy
from tessera.spot.pricing import Pricer
from tessera.spot.schedule import Schedule, parse_rate, parse_trace
from tessera.store import End, Move, Store

if TYPE_CHECKING:
    from tessera.models.job import Job

logger = logging.getLogger(__name__)


@dataclass
class _Slot:
    job_id: int
    capacity: str
    cpus: float
    scratch: str
    fallback: str | None
    pid: int | None = None
    notice_at: float | None = None
    kill_at: float | None = None
    killed: bool = False
    memory_mb: int | None = None
    gpus: int = 0


class SpotManager:
    """One per controller; driven by the controller's thread only."""

    def __init__(self, settings: Settings, store: Store, executor: Executor, now: float | None = None) -> None:
        self.store = store
        self.executor = executor
        self.home = str(settings.home)
        self.root = checkpoint_root(settings.checkpoint_url, self.home)
        self._local_root = local_dir(self.root, 0) is not None
        self.spot_slots = settings.spot_slots
        self.live = self.spot_slots > 0
        self.notice_s = settings.notice_s
        self.cap = settings.preemption_cap
        self.pricer = Pricer(store, executor.capacity(), settings.home)  # the cost ledger's rates
        self.rng = random.Random(settings.preemption_seed)
        self.schedule: Schedule | None = None
        start = time.time() if now is None else now
        if self.live and settings.preemption_trace:
            self.schedule = Schedule(start, trace=parse_trace(settings.preemption_trace))
        elif self.live and settings.preemption_rate:
            self.schedule = Schedule(start, parse_rate(settings.preemption_rate), seed=settings.preemption_seed)
        self.slots: dict[int, _Slot] = {}
        self.preemptions: Counter[int] = Counter(ledger.preemption_counts(store) if self.live else {})
        self.progress: dict[int, float] = {}
        self.idle_events = 0  # preemptions that found no spot attempt running
        self.sent = 0

    # ------------------------------------------------------------------ hooks

    def env(self, job: Job, attempt_id: int, scratch: str, cpus: float) -> dict[str, str]:
        """The attempt's environment: the job's own plus the runtime variables; picks its class."""
        capacity = policy.ON_DEMAND
        if self.live:
            busy = sum(1 for s in self.slots.values() if s.capacity == policy.SPOT)
            spec = job.spec
            work = spec.tags.get(policy.WORK_TAG)
            slack = policy.slack_s(time.time(), policy.deadline_of(spec.tags), float(work) if work else None,
                                   self.progress.get(job.id))
            capacity, why = policy.choose(self.preemptions[job.id], self.cap, slack, self.notice_s,
                                          busy < self.spot_slots)
            res = spec.resources
            self.slots[attempt_id] = _Slot(job.id, capacity, cpus, scratch, why, memory_mb=res.memory_mb,
                                           gpus=res.gpus)
        return {**job.spec.env, **attempt_env(self.root, self.home, job.id, scratch, capacity)}

    def timeout(self, timeout: float, now: float) -> float:
        """Shorten the controller's wait so that the next notice or kill is on time."""
        if not self.live:
            return timeout
        due = [s.kill_at for s in self.slots.values() if s.kill_at is not None and not s.killed]
        if self.schedule is not None and self.schedule.next_at is not None:
            due.append(self.schedule.next_at)
        return max(0.0, min([timeout, *(d - now for d in due)]))

    def tick(self, now: float, started: Sequence[Started]) -> None:
        """Note started attempts' processes; send notices that fell due; kill at notice deadlines."""
        for st in started:
            slot = self.slots.get(st.attempt_id)
            if slot is not None:
                slot.pid = st.pid
        if self.schedule is not None:
            for _ in range(self.schedule.due(now)):
                self._preempt_one(now)
        for aid, slot in self.slots.items():
            if slot.kill_at is not None and not slot.killed and now >= slot.kill_at:
                slot.killed = True
                self.executor.kill(aid, Reason.PREEMPTED)

    def preempt(self, attempt_id: int, now: float | None = None, notice_s: float | None = None) -> bool:
        """Preempt one attempt now (the schedule's path, and the Ray backend's later)."""
        slot = self.slots.get(attempt_id)
        if slot is None or slot.notice_at is not None:
            return False
        now = time.time() if now is None else now
        slot.notice_at = now
        slot.kill_at = now + (self.notice_s if notice_s is None else notice_s)
        path = os.path.join(slot.scratch, NOTICE_NAME)
        with contextlib.suppress(OSError):
            os.makedirs(slot.scratch, exist_ok=True)
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                json.dump({"sent_at": now, "deadline": slot.kill_at, "attempt": attempt_id}, f)
            os.replace(tmp, path)
        if slot.pid is not None:
            for p in procs.tree(slot.pid):
                if _catches(p.pid, signal.SIGUSR1):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(p.pid, signal.SIGUSR1)
        self.sent += 1
        logger.info("preemption notice to attempt %d (job %d), kill at +%.1f s", attempt_id, slot.job_id,
                    slot.kill_at - now)
        return True

    def _preempt_one(self, now: float) -> None:
        victims = sorted(aid for aid, s in self.slots.items()
                         if s.capacity == policy.SPOT and s.pid is not None and s.notice_at is None)
        if not victims:
            self.idle_events += 1
            return
        self.preempt(self.rng.choice(victims), now)

    def after_commit(self, outcomes: Sequence[Outcome], ends: Sequence[End], committed: set[int]) -> bool:
        """Record classed attempts, requeue committed preemptions, drop succeeded jobs' checkpoints.

        Returns whether any job was requeued (the controller then reads its candidates again).
        """
        rows: list[ledger.Row] = []
        requeue: list[int] = []
        for o in outcomes:
            slot = self.slots.pop(o.attempt_id, None)
            preempted = o.status == "preempted"
            if slot is None and not preempted:
                continue
            if slot is None:  # preempted by the executor itself, without a class from us
                slot = _Slot(o.job_id, policy.SPOT, 1.0, "", None)
            ended = o.ended_at or time.time()
            ran_s = max(0.0, ended - o.ran_at) if o.ran_at else 0.0
            lost = None
            ckpt_at = None
            if preempted:
                ckpt_at = self._checkpoint_at(o.job_id)
                lost = policy.work_lost_s(o.ran_at, ended, ckpt_at)
            usd, od_usd, lost_usd = self.pricer.price(o.ran_at or ended, ended, slot.cpus, slot.memory_mb, slot.gpus,
                                                      slot.capacity == policy.SPOT, lost)
            rows.append(ledger.Row(
                o.attempt_id, o.job_id, slot.capacity, slot.cpus, ran_s, usd, od_usd, preempted, slot.notice_at, ended,
                ckpt_at, lost, lost_usd, slot.fallback))
            if preempted and o.job_id in committed:
                self.preemptions[o.job_id] += 1
                requeue.append(o.job_id)
                if slot.scratch:
                    self._read_progress(o.job_id, slot.scratch)
        bare = {o.job_id for o in outcomes if o.checkpoints is False}  # the worker saw no checkpoint folder
        for e in ends:
            if e.job_dst is JobState.SUCCEEDED and e.job_id in committed:
                self._drop_checkpoints(e.job_id, look=e.job_id not in bare)
        if rows:
            ledger.record(self.store, rows)
        if not requeue:
            return False
        failpoints.hit("mid_requeue")
        self.store.move([Move(j, JobState.RUNNABLE, frozenset({JobState.PREEMPTED}), Reason.PREEMPTED,
                              f"preempted {self.preemptions[j]} time(s); resumes from its last checkpoint")
                         for j in requeue])
        return True

    def recover(self) -> int:
        """Jobs a dead controller left between preempted and runnable go back to runnable."""
        stuck = self.store.jobs(states=[JobState.PREEMPTED], limit=10**7)
        if not stuck:
            return 0
        return len(self.store.move([Move(j.id, JobState.RUNNABLE, frozenset({JobState.PREEMPTED}), Reason.PREEMPTED,
                                         "preempted; requeued by a new controller") for j in stuck]))

    # ------------------------------------------------------------------ files

    def _checkpoint_at(self, job_id: int) -> float | None:
        """When the job's newest verified checkpoint was written, or None."""
        from tessera.runtime.checkpoint import CheckpointStore

        try:
            found = CheckpointStore(self.root, str(job_id)).load()
        except (OSError, ValueError):
            return None
        return found.generation.at if found.generation is not None else None

    def _read_progress(self, job_id: int, scratch: str) -> None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError), \
                open(os.path.join(scratch, PROGRESS_NAME)) as f:
            self.progress[job_id] = float(json.load(f)["fraction"])

    def _drop_checkpoints(self, job_id: int, look: bool = True) -> None:
        self.preemptions.pop(job_id, None)
        self.progress.pop(job_id, None)
        if look and self._local_root:
            path = local_dir(self.root, job_id)
            if path is not None and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)

    def status(self) -> dict[str, object]:
        return {"spot_slots": self.spot_slots, "spot_running": sum(1 for s in self.slots.values()
                                                                   if s.capacity == policy.SPOT),
                "notices_sent": self.sent, "idle_preemptions": self.idle_events,
                "next_preemption_at": self.schedule.next_at if self.schedule else None}


def _catches(pid: int, sig: int) -> bool:
    """Whether a process has a handler for ``sig`` (Linux: the SigCgt mask in /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool((int(line.split()[1], 16) >> (sig - 1)) & 1)
    except (OSError, ValueError):
        return False
    return False
