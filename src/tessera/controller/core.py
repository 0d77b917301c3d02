"""``Controller``: the thin loop that turns store state and executor events into decisions and writes.

Each ``step`` polls the executor, commits outcomes (fenced by lease token), resolves dependencies
and backoffs, acts on cancel requests, then asks the pure scheduler which runnable jobs start.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import logging
import math
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tessera import failpoints
from tessera.config import Settings
from tessera.executors import procs
from tessera.executors.base import Executor, Launch, Outcome, Started
from tessera.executors.routed import RoutedExecutor, decide_by_lane
from tessera.models.job import Attempt, Job
from tessera.models.spec import JobSpec, RetryPolicy
from tessera.models.states import TERMINAL, WAITING, JobState, Reason
from tessera.scheduler.decide import Capacity, Decision, Placement, Running, decide
from tessera.scheduler.deps import DepStatus, evaluate
from tessera.scheduler.outcome import next_state
from tessera.spot.manager import SpotManager
from tessera.store import Candidate, Claim, End, Finished, Move, Store
from tessera.store.hot import Tx

logger = logging.getLogger(__name__)


WINDOW = 256  # runnable jobs considered per scheduling round
PIPELINE_TARGET_S = 0.02
REASON_LAG_S = 0.2  # why a job waits reaches the store within this (see _write_reasons)
HELD_RESULT_MAX = 1 << 16  # results up to this size reach an embedding client's waiters in memory
RUNNING_LAG_S = 0.02  # an attempt is written as running once it has run this long
GATHER_S = 0.01  # while others run, a small job's success waits this long at most to be committed with others
GATHER_MAX = 64  # ... or until this many are waiting (see _gather)


@dataclass
class _Active:
    job_id: int
    placement: Placement
    ends_by: float
    array_id: int | None
    policy: RetryPolicy
    retries_used: int
    infra_used: int
    stdout_path: str = ""
    stderr_path: str = ""
    ran: bool = False
    holds: bool = True  # holds its placement's resources (a queued attempt holds none until it inherits)
    small: bool = False  # a Python job of at most one CPU, no GPU, no memory limit: may be pipelined
    command: bool = False  # a command: its scratch folder is made before it starts, and removed here
    queue: str = "default"  # with routed queues, its queue's executor holds its placement


class Controller:
    """Owns one executor and drives jobs through their lifecycle. One thread calls ``step``."""

    refill_on_beat = True  # the safety net in ``_beat``; tests turn it off to catch a missed hand-off

    def __init__(self, settings: Settings, store: Store, executor: Executor) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self._router = executor if isinstance(executor, RoutedExecutor) else None  # executors per queue
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.total: Capacity = executor.capacity()
        self.free = self.total
        self.active: dict[int, _Active] = {}
        self.array_running: Counter[int] = Counter()
        # told, after each commit, which jobs ended; with the committed results it holds in memory
        self.on_terminal: Callable[[list[int], dict[int, Finished]], None] | None = None
        self._offers: collections.deque[tuple[Candidate, JobSpec]] = collections.deque()
        self._known: dict[int, tuple[JobSpec, bytes | None]] = {}  # offered jobs' launch data, until claimed
        self._claimed: set[int] = set()  # jobs this controller claimed: a later offer of one is stale
        self._idle = False  # waiting in the executor's poll: an offer must wake it
        self._lock = threading.Lock()  # held by the loop except while it waits; see admitting()
        self._admitted: list[Launch] = []  # claimed in a submit transaction, to launch
        self.on_beat: Callable[[Controller, float], None] | None = None  # e.g. the autoscaler, every heartbeat
        self.extra_status: dict[str, object] = {}  # published with the heartbeat (the autoscaler's decision)
        self._poked = threading.Event()
        self._poked.set()  # the first step looks at everything: dependencies, cancels, runnable jobs
        self._poke_deps = self._poke_cancels = True
        self._unrecorded: dict[int, Started] = {}  # started attempts not yet written as running
        self._gathered: list[Outcome] = []  # small jobs' successes waiting to be committed together
        self._gathered_since = 0.0
        self._dirty = True
        self._hwm = 0
        self._next_backoff: float | None = 0.0
        self._next_beat = 0.0
        self._next_cancel_check = 0.0
        self._reasons: dict[int, tuple[Reason, str | None]] = {}
        self._unwritten: dict[int, tuple[Reason, str | None]] = {}  # reasons not yet in the store
        self._next_reasons = 0.0
        self._parent: dict[int, int] = {}
        self._deps = True  # whether any dependency exists; refreshed on every poke
        self._refill = True  # the candidate cache must be read again
        self._cands: list[Candidate] = []
        self._exhausted = False  # the cache holds every runnable job: no need to read again when empty
        self._caps: dict[int, int | None] = {}
        self._small_run_s: float | None = None  # moving average of small Python jobs' run time
        self.started_at = time.time()
        store.checkpoint_in_background()
        store.register_controller(self.id, os.getpid(), socket.gethostname(), self.started_at)
        self.spot = SpotManager(settings, store, executor)  # capacity classes, preemptions, checkpoints
        self._recover()
        self.spot.recover()

    # ------------------------------------------------------------------ public

    def poke(self, deps: bool = True, cancels: bool = True) -> None:
        """Something changed in the store (a submit, a cancel): look again soon. Thread-safe.

        An in-process caller that knows it added no dependency (``deps=False``) or no cancel
        request (``cancels=False``) spares the controller those reads.
        """
        self._poke_deps |= deps
        self._poke_cancels |= cancels
        self._poked.set()
        self.executor.wake()

    def offer(self, jobs: list[tuple[Candidate, JobSpec]]) -> None:
        """Jobs this process just submitted (committed, runnable, single): schedule them without
        reading them back. Thread-safe; the store stays the truth (a claim still checks each job)."""
        self._offers.extend(jobs)
        if self._idle:  # a busy loop looks at the offers before it next waits
            self.executor.wake()

    @contextlib.contextmanager
    def admitting(self, spec: JobSpec) -> Iterator[Admission | None]:
        """Let one job being submitted from another thread be claimed in its own submit transaction.

        Yields a callback for ``Store.submit`` when this controller is idle and knows of no other
        runnable job, so that ``decide`` would pick the new job first anyway; else None (the caller
        offers the job instead). The callback claims the job only if ``decide`` places it now. The
        claim is handed to the loop, which launches it, only once the submit has committed; if it
        did not, the claim is undone here. Until then the loop waits (it needs ``self._lock``).
        """
        if not self._lock.acquire(blocking=False):
            yield None
            return
        adm = Admission(self, spec)
        try:
            idle = not (self._cands or self._offers or self._admitted or self._refill
                        or not self._exhausted or self._poked.is_set())
            yield adm if idle else None
        except BaseException:
            for la in adm.staged:
                self._unregister(la)
            raise
        else:
            self._admitted.extend(adm.staged)
        finally:
            self._lock.release()
        if adm.staged:
            self.executor.wake()

    def _admit(self, tx: Tx, cands: list[Candidate], spec: JobSpec, staged: list[Launch]) -> None:
        now = time.time()
        decision = self._decide(cands, self._held(), now)
        if not decision.placements:
            return
        by_id = {p.job_id: p for p in decision.placements}
        info: dict[int, tuple[Job, bytes | None, bytes | None]] = {}
        attempts = self.store.claim(tx, self._claims(list(by_id.values()), cands),
                                    self.id, self.settings.lease_s, now, launch=info,
                                    known={c.id: (spec, spec.payload) for c in cands})
        staged += self._register(attempts, by_id, info, now, queued=False)

    def _unregister(self, launch: Launch) -> None:
        """Undo ``_register`` for an attempt whose claim did not commit."""
        act = self.active.pop(launch.attempt_id, None)
        if act is not None:
            self._release(act)

    def step(self, timeout: float = 0.5) -> None:
        if self._unrecorded:
            timeout = min(timeout, RUNNING_LAG_S)
        if self.spot.live:
            timeout = self.spot.timeout(timeout, time.time())
        if self._unwritten:
            timeout = min(timeout, max(0.0, self._next_reasons - time.time()))
        if self._gathered:
            timeout = min(timeout, max(0.0, self._gathered_since + GATHER_S - time.time()))
        self._idle = True  # set before looking at the offers: an offer made after the look wakes us
        started, outcomes = self.executor.poll(
            timeout if not (self._poked.is_set() or self._offers or self._admitted) else 0.0)
        self._idle = False
        with self._lock, self.store.turn():  # see ``Store.turn``
            self._step(started, outcomes)

    def _step(self, started: list[Started], outcomes: list[Outcome]) -> None:
        if self._admitted:
            launches, self._admitted = self._admitted, []
            for la in launches:
                self.executor.launch(la)
        now = time.time()
        if self.spot.live:
            self.spot.tick(now, started)
        for s in started:
            act = self.active.get(s.attempt_id)
            if act is None:
                continue
            act.ran = True
            self._unrecorded[s.attempt_id] = s
            if s.inherits is not None:  # a pipelined attempt takes over the slot of the one that ended
                prev = self.active.get(s.inherits)
                act.holds = prev.holds if prev is not None else True
                if prev is not None:
                    prev.holds = False
        for o in outcomes:
            self._unrecorded.pop(o.attempt_id, None)
        # Attempts still running a moment after they started are recorded as running; one that ends
        # sooner gets its starting→running event, with the true time, in the commit of its outcome.
        due = [st for st in self._unrecorded.values() if now - st.at >= RUNNING_LAG_S]
        if due:
            for st in due:
                del self._unrecorded[st.attempt_id]
            self.store.running([(st.job_id, st.attempt_id, st.at, st.pid, self.active[st.attempt_id].stdout_path,
                                 self.active[st.attempt_id].stderr_path) for st in due if st.attempt_id in self.active])
        if outcomes or self._gathered:
            outcomes = self._gather(outcomes, now)
            if outcomes:
                self._commit(outcomes, now)
        poked = self._poked.is_set()
        check_cancels = False
        if poked:
            self._poked.clear()
            self._dirty = self._refill = True
            if self._poke_deps:
                self._poke_deps = False
                self._deps = self.store.has_deps()
                if self._deps:
                    self._new_jobs()
            check_cancels, self._poke_cancels = self._poke_cancels, False
        if self._offers:
            self._take_offers()
        if check_cancels or now >= self._next_cancel_check:
            self._next_cancel_check = now + 1.0
            self._cancels()
        if self._next_backoff is not None and now >= self._next_backoff:
            self._backoffs(now)
        if self._dirty:
            self._schedule(now)
        elif self._unwritten and now >= self._next_reasons:
            self._write_reasons(now)
        if now >= self._next_beat:
            self._beat(now)

    def _gather(self, outcomes: list[Outcome], now: float) -> list[Outcome]:
        """The outcomes to commit now (``commit_now`` decides); the others wait in ``_gathered``."""
        for o in outcomes:  # they ended: their room is free now, whenever their ends are committed
            act = self.active.get(o.attempt_id)
            if act is None:
                continue
            if self._release(act):
                self._dirty = True
            if act.small and o.ran_at is not None and o.ended_at:  # how deep to pipeline (see _depth)
                run_s = max(0.0, o.ended_at - o.ran_at)
                self._small_run_s = run_s if self._small_run_s is None else 0.8 * self._small_run_s + 0.2 * run_s
        self._gathered += outcomes
        if not self._gathered:
            return []
        if not self._gathered_since:
            self._gathered_since = now
        gathered = self._gathered
        head = self._cands[0] if self._cands else None
        if commit_now(len(gathered), now - self._gathered_since, len(self.active) - len(gathered),
                      all(self._plain(o) for o in outcomes), self.spot.live,
                      head is not None and not _small(head.kind, head.cpus, head.gpus, head.memory_mb)):
            self._gathered, self._gathered_since = [], 0.0
            return gathered
        return []

    def _release(self, act: _Active) -> bool:
        """An ended attempt gives its room back (once); whether it held any."""
        if not act.holds:
            return False
        self.free = self.free.give(act.placement.cpus, act.placement.memory_mb, act.placement.gpus)
        act.holds = False
        return True

    def _plain(self, o: Outcome) -> bool:
        act = self.active.get(o.attempt_id)
        return o.status == "succeeded" and act is not None and act.small

    def status(self) -> dict[str, object]:
        def cap(c: Capacity) -> dict[str, object]:
            return {"cpus": c.cpus, "memory_mb": c.memory_mb, "gpus": len(c.gpus), "gpu_ids": list(c.gpus)}

        return {
            **self.extra_status, "id": self.id, "pid": os.getpid(), "started_at": self.started_at, "store": _safe_url(self.store.url),
            "executors": [{"name": self.executor.name, "features": sorted(self.executor.features),
                           "total": cap(self.total), "free": cap(self.free), "running": len(self.active)}]
            if self._router is None else self._router.status(self._held(), cap),
            "spot": self.spot.status(),
        }

    def close(self, grace_s: float | None = None) -> None:
        """Stop: running attempts are killed and requeued on the infrastructure budget."""
        with self._lock:
            outcomes = [Outcome(la.attempt_id, la.job_id, "unstarted", Reason.CONTROLLER_LOST, ended_at=time.time(),
                                detail="claimed when the controller stopped") for la in self._admitted]
            self._admitted = []  # claimed but never launched: requeued at no cost
            outcomes += self._gathered  # ended and reported: committed as they are
            self._gathered = []
            outcomes += self.executor.close(self.settings.kill_grace_s if grace_s is None else grace_s)
            if outcomes:
                self._commit(outcomes, time.time())
            self.store.controller_beat(self.id, self.status(), stopped=True)

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        """Attempts left open by a dead controller: kill their leftovers, requeue them (infra budget)."""
        open_ = self.store.expired_attempts(time.time(), exclude_owner=self.id)
        if not open_:
            return
        jobs = {j.id: j for j in self.store.jobs(ids=[a.job_id for a in open_], limit=len(open_) + 1)}
        ends = []
        for a in open_:
            procs.reap(a.pid, procs.attempt_key(procs.store_scope(self.settings.db_url), a.id), a.started_at)
            job = jobs.get(a.job_id)
            if job is None:
                continue
            nxt = next_state("lost", Reason.CONTROLLER_LOST, None, job.spec.retry, job.retries_used,
                             job.infra_retries_used, self.settings.infra_retries, time.time())
            ends.append(End(a.id, a.job_id, "lost", nxt.state, nxt.reason, nxt.detail, ended_at=time.time(),
                            infra_inc=nxt.infra_inc, error="the controller running this attempt died"
                            if nxt.state in TERMINAL else None, attempt_reason=Reason.CONTROLLER_LOST))
        committed = self.store.finish(ends)
        logger.warning("recovered %d attempts left by a previous controller", len(committed))
        self._after_terminal([e.job_id for e in ends if e.job_dst in TERMINAL])

    # ------------------------------------------------------------------ outcomes

    def _commit(self, outcomes: list[Outcome], now: float) -> None:
        ends = []
        failed_arrays: set[int] = set()
        commands: set[int] = set()  # attempts whose scratch folder the executor made
        for o in outcomes:
            act = self.active.pop(o.attempt_id, None)
            if act is None:
                continue
            if act.command:
                commands.add(o.attempt_id)
            self._release(act)
            if act.array_id is not None:
                self.array_running[act.array_id] -= 1
            nxt = next_state(o.status, o.reason, o.exit_code, act.policy, act.retries_used, act.infra_used,
                             self.settings.infra_retries, now, o.detail)
            if act.array_id is not None and nxt.state in (JobState.FAILED, JobState.TIMED_OUT):
                failed_arrays.add(act.array_id)
            if nxt.state is JobState.PENDING and nxt.not_before_at is not None:
                self._next_backoff = min(self._next_backoff or math.inf, nxt.not_before_at)
            ends.append(End(
                o.attempt_id, o.job_id, o.status, nxt.state, nxt.reason, nxt.detail, o.exit_code,
                ran_at=o.ran_at if act.ran or o.ran_at else None, ended_at=o.ended_at or now,
                not_before_at=nxt.not_before_at, retries_inc=nxt.retries_inc, infra_inc=nxt.infra_inc,
                result_encoding=o.result_encoding, result=o.result, error=o.error, usage=o.usage,
                stdout_path=act.stdout_path, stderr_path=act.stderr_path, attempt_reason=o.reason))
        ended_arrays: list[int] = []
        failpoints.hit("after_finish_before_commit")
        committed = set(self.store.finish(ends, ended_arrays))
        failpoints.hit("after_commit_before_ack")
        self._dirty = True
        if self.spot.after_commit(outcomes, ends, committed) or any(e.job_dst is JobState.RUNNABLE for e in ends):
            self._refill = True
        done = [e.job_id for e in ends if e.job_id in committed and e.job_dst in TERMINAL]
        for e in ends:
            self._reasons.pop(e.job_id, None)
            if e.attempt_id in commands and e.job_id in committed and e.job_dst is JobState.SUCCEEDED:
                shutil.rmtree(self.settings.scratch_path(e.attempt_id), ignore_errors=True)  # workers clear their own
        if failed_arrays:
            self._array_failures(failed_arrays)
        for e in ends:
            self._parent.pop(e.job_id, None)
        finished = {e.job_id: (e.job_dst, e.result_encoding, e.result, e.error) for e in ends
                    if e.job_id in committed and e.job_dst in TERMINAL and len(e.result or b"") <= HELD_RESULT_MAX}
        self._after_terminal(done, ended_arrays, finished)

    def _array_failures(self, arrays: set[int]) -> None:
        for arr, (_cap, max_fail, failed) in self.store.array_limits(arrays).items():
            if max_fail is not None and failed >= max_fail:
                self._cancel([arr], Reason.ARRAY_MAX_FAILURES, f"{failed} elements failed (max {max_fail})")

    def _after_terminal(self, job_ids: list[int], ended_arrays: list[int] | None = None,
                        finished: dict[int, Finished] | None = None) -> None:
        """Jobs ended: resolve their dependents and tell the embedding client.

        ``ended_arrays`` are arrays the same commit ended; None means "look them up". ``finished``
        holds the committed outcomes at hand (small results only), passed on to ``on_terminal``.
        """
        if not job_ids:
            return
        if ended_arrays is None:
            parents = {j.array_id for j in self.store.jobs(ids=job_ids, limit=len(job_ids) + 1) if j.array_id}
            ended_arrays = [j.id for j in self.store.jobs(ids=parents, limit=len(parents) + 1)
                            if j.state in TERMINAL] if parents else []
        if self._deps:
            self._resolve(self.store.dependents([*job_ids, *ended_arrays]))
        if self.on_terminal is not None:
            self.on_terminal([*job_ids, *ended_arrays], finished or {})

    # ------------------------------------------------------------------ dependencies and backoff

    def _new_jobs(self) -> None:
        waiting = self.store.waiting_on_deps(self._hwm)
        self._hwm = max([self._hwm, self.store.max_job_id()])
        if waiting:
            self._resolve(waiting)

    def _resolve(self, job_ids: Iterable[int]) -> None:
        ids = list(job_ids)
        if not ids:
            return
        states = self.store.dependency_states(ids)
        jobs = {j.id: j for j in self.store.jobs(ids=ids, limit=len(ids) + 1)}
        moves, released, never = [], [], []
        for jid, deps in states.items():
            job = jobs.get(jid)
            if job is None or job.state is not JobState.PENDING or job.reason is not Reason.DEPENDENCY:
                continue
            status = evaluate((kind, state) for kind, _on, state in deps)
            if status is DepStatus.SATISFIED:
                if job.array_id is not None and self.store.job(job.array_id).state is JobState.PENDING:
                    continue  # its array as a whole still waits
                moves.append(Move(jid, JobState.RUNNABLE, frozenset({JobState.PENDING}), None, "dependencies satisfied"))
                if job.is_array:
                    released.append(jid)
            elif status is DepStatus.NEVER:
                bad = [f"{kind}:{on} ({state})" for kind, on, state in deps if state in {s.value for s in TERMINAL}]
                never.append((jid, ", ".join(bad)))
        if moves:
            self.store.move(moves)
            self._dirty = self._refill = True
        for parent in released:
            self.store.release_elements(parent)
            own = [j.id for j in self.store.jobs(states=[JobState.PENDING], array_id=parent, limit=10**7)
                   if j.reason is Reason.DEPENDENCY]
            self._resolve(own)
        for jid, why in never:
            self._cancel([jid], Reason.DEPENDENCY_NEVER, why)

    def _backoffs(self, now: float) -> None:
        due, self._next_backoff = self.store.due_backoffs(now)
        if due:
            self.store.move([Move(j, JobState.RUNNABLE, frozenset({JobState.PENDING}), Reason.RETRY, "backoff over")
                             for j in due])
            self._dirty = self._refill = True

    # ------------------------------------------------------------------ cancel

    def _cancels(self) -> None:
        reqs = self.store.cancel_requests()
        if reqs:
            self._refill = True
            self._cancel([jid for jid, _ in reqs], Reason.CANCELLED_BY_USER, "cancelled on request")

    def _cancel(self, job_ids: list[int], reason: Reason, detail: str | None) -> None:
        jobs = self.store.jobs(ids=job_ids, limit=len(job_ids) + 1)
        targets = [j for j in jobs if not j.is_array]
        for arr in (j for j in jobs if j.is_array):
            targets += self.store.jobs(array_id=arr.id, states=[*WAITING, JobState.STARTING, JobState.RUNNING],
                                       limit=10**7)
        targets = list({j.id: j for j in targets}.values())  # an array and its elements may both be listed
        waiting = [j.id for j in targets if j.state in WAITING]
        # array rows themselves end through their elements; an array with no element left waiting ends here
        moved = self.store.move([Move(j, JobState.CANCELLED, frozenset(WAITING), reason, detail) for j in waiting])
        failpoints.hit("mid_cancel")
        for arr in (j for j in jobs if j.is_array and j.state in WAITING and not j.counts.get("size")):
            self.store.move([Move(arr.id, JobState.CANCELLED, frozenset(WAITING), reason, detail)])
        by_job = {a.job_id: aid for aid, a in self.active.items()}
        for j in targets:
            if j.state in (JobState.STARTING, JobState.RUNNING) and j.id in by_job:
                self.executor.kill(by_job[j.id], Reason.CANCELLED_BY_USER if reason is Reason.CANCELLED_BY_USER else reason)
        if moved:
            self._after_terminal(moved)

    # ------------------------------------------------------------------ scheduling

    def _take_offers(self) -> None:
        """Merge offered jobs into the candidate cache, in scheduling order. An offer beyond the end
        of a partial cache is left for a later read; a job the cache already holds is not added twice."""
        while self._offers:
            cand, spec = self._offers.popleft()
            if cand.id in self._claimed:
                # a store read found it first (its submit committed before that read; the offer
                # came after): it was claimed already, so no place in the cache
                self._claimed.discard(cand.id)
                continue
            if len(self._known) > 65536:
                self._known.clear()  # only a shortcut: claims read what they do not know
            self._known[cand.id] = (spec, spec.payload)
            if self._refill:
                continue  # the next round reads every runnable job anyway
            key = _order(cand)
            at = bisect.bisect_left(self._cands, key, key=_order)
            if at < len(self._cands) and self._cands[at].id == cand.id:
                continue
            if at == len(self._cands) and not self._exhausted:
                continue
            self._cands.insert(at, cand)
        self._dirty = True

    def _schedule(self, now: float) -> None:
        """Start what fits now; then queue small Python jobs behind busy workers (pipelining)."""
        self._dirty = False
        full = self._refill or (not self._cands and not self._exhausted)
        if full:
            self._refill = False
            self._cands = self.store.candidates(WINDOW)
            self._exhausted = len(self._cands) < WINDOW  # all runnable jobs are in the cache
            new = {c.array_id for c in self._cands if c.array_id is not None} - self._caps.keys()
            if new:
                self._caps.update({a: lim[0] for a, lim in self.store.array_limits(new).items()})
        if not self._cands:
            return
        held = self._held()
        window = self._cands if full else self._cands[: 32 + 4 * len(held)]  # queued attempts hold nothing
        decision = self._decide(window, held, now)
        taken = {p.job_id for p in decision.placements}
        if decision.placements:
            self._launch(decision.placements, now, cands=window)
        extra = self._pipelined(window, taken)
        taken |= {p.job_id for p in extra}
        changed = [r for r in decision.reasons if r[0] not in taken and self._reasons.get(r[0]) != r[1:]]
        for jid, why, detail in changed:
            self._reasons[jid] = self._unwritten[jid] = (why, detail)
        if self._unwritten and now >= self._next_reasons:
            self._write_reasons(now)
        if extra:
            self._launch(extra, now, queued=True, cands=window)
        if taken:  # all taken jobs are in the window, a prefix of the cache
            self._cands[:len(window)] = [c for c in window if c.id not in taken]

    def _held(self) -> list[tuple[str, Running]]:
        """What the active attempts hold (queued ones hold nothing), each with its job's queue."""
        return [(a.queue, Running(a.placement.cpus, a.placement.memory_mb, a.placement.gpus, a.ends_by))
                for a in self.active.values() if a.holds]

    def _decide(self, cands: list[Candidate], held: list[tuple[str, Running]], now: float) -> Decision:
        if self._router is None:
            return decide(cands, self.free, [r for _, r in held], now, self.array_running, self._caps)
        return decide_by_lane(self._router, cands, held, now, self.array_running, self._caps)

    def _write_reasons(self, now: float) -> None:
        """Persist why jobs wait, at most every ``REASON_LAG_S``: most small jobs start sooner,
        and a reason write per scheduling round would cost as much as their claims."""
        self._next_reasons = now + REASON_LAG_S
        rows = [(jid, why, detail) for jid, (why, detail) in self._unwritten.items()]
        self._unwritten.clear()
        self.store.set_reasons(rows)  # jobs started meanwhile are no longer runnable: skipped

    def _pipelined(self, window: list[Candidate], taken: set[int]) -> list[Placement]:
        """Small Python jobs (≤ 1 CPU, no GPU, no memory limit) next in line, up to the room the
        workers have for queued attempts; stops at the first job that is not small, so pipelining
        never delays a larger job ahead in the queue."""
        depth = self._depth()
        if depth <= 1:
            return []
        room = self.executor.pipeline_room(depth)
        rooms = self._router.lane_room(depth) if self._router is not None else {}  # per executor
        out: list[Placement] = []
        per_array: Counter[int] = Counter()
        for c in window:
            if room <= 0:
                break
            if c.id in taken:
                continue
            if not _small(c.kind, c.cpus, c.gpus, c.memory_mb):
                break
            if c.array_id is not None:
                cap = self._caps.get(c.array_id)
                if cap is not None and self.array_running[c.array_id] + per_array[c.array_id] >= cap:
                    continue
            if rooms:
                lane = self._router.lane_of(c.queue) if self._router is not None else ""
                if rooms[lane] <= 0:
                    continue
                rooms[lane] -= 1
            if c.array_id is not None:
                per_array[c.array_id] += 1
            out.append(Placement(c.id, c.cpus, None, ()))
            room -= 1
        return out

    def _depth(self) -> int:
        """How deep to pipeline: enough queued work to cover ~20 ms of the recent small jobs' run time,
        so short jobs keep workers busy while the controller writes, and long ones are not queued."""
        limit = self.settings.pipeline
        if limit <= 1 or self._small_run_s is None:
            return min(limit, 2)
        return max(1, min(limit, int(PIPELINE_TARGET_S / max(self._small_run_s, 1e-6))))

    def _claims(self, placements: list[Placement], cands: Iterable[Candidate]) -> list[Claim]:
        """One claim per placement, naming the executor that runs it (its queue's, when routed)."""
        if self._router is None:
            return [Claim(p.job_id, self.executor.name, p.as_dict()) for p in placements]
        queues = {c.id: c.queue for c in cands}
        return [Claim(p.job_id, self._router.lane_of(queues.get(p.job_id, "default")), p.as_dict())
                for p in placements]

    def _launch(self, placements: list[Placement], now: float, queued: bool = False,
                cands: Iterable[Candidate] = ()) -> None:
        by_id = {p.job_id: p for p in placements}
        info: dict[int, tuple[Job, bytes | None, bytes | None]] = {}
        known = {p.job_id: k for p in placements if (k := self._known.pop(p.job_id, None)) is not None}
        attempts = self.store.start(self._claims(placements, cands),
                                    self.id, self.settings.lease_s, now, launch=info, known=known)
        self._dirty = True  # a placed job not claimed (no longer runnable) leaves its capacity to the others
        if not attempts:
            return
        failpoints.hit("after_claim")
        for launch in self._register(attempts, by_id, info, now, queued):
            self.executor.launch(launch, queued=queued)

    def _register(self, attempts: list[Attempt], by_id: dict[int, Placement],
                  info: dict[int, tuple[Job, bytes | None, bytes | None]], now: float, queued: bool) -> list[Launch]:
        """Claimed attempts become active: they take their placement (unless queued) and get a Launch."""
        out = []
        if len(self._claimed) > 65536:
            self._claimed.clear()  # only spares stale offers a failed claim; see _take_offers
        for a in attempts:
            self._claimed.add(a.job_id)
            self._unwritten.pop(a.job_id, None)  # it no longer waits: no reason to write
            job, own, arr = info[a.job_id]
            p = by_id[a.job_id]
            spec = job.spec
            if not queued:
                self.free = self.free.take(p.cpus, p.memory_mb, p.gpus)
            if job.array_id is not None:
                self.array_running[job.array_id] += 1
                self._parent[job.id] = job.array_id
            launch = self._launch_of(job, a.id, a.number, p, (own, arr))
            self.active[a.id] = _Active(job.id, p, now + spec.timeout_s if spec.timeout_s else math.inf,
                                        job.array_id, spec.retry, job.retries_used, job.infra_retries_used,
                                        launch.stdout_path, launch.stderr_path, holds=not queued,
                                        small=_small(spec.kind, p.cpus, len(p.gpus), p.memory_mb),
                                        command=spec.kind == "command", queue=spec.queue)
            out.append(launch)
        return out

    def _launch_of(self, job: Job, attempt_id: int, number: int, p: Placement,
                   payload: tuple[bytes | None, bytes | None] | None) -> Launch:
        spec = job.spec
        own, arr = payload if payload is not None else (None, None)
        if job.array_id is None:
            arr = None  # only array elements run their array's payload
        scratch = self.settings.scratch_path(attempt_id)
        return Launch(
            attempt_id=attempt_id, job_id=job.id, ref=job.ref, kind=spec.kind, placement=p, attempt_number=number,
            command=spec.command, function=spec.function, args=spec.args, kwargs=spec.kwargs,
            kernel=spec.kernel, params=spec.params, payload=own, array_payload=arr, array_id=job.array_id,
            array_index=job.array_index, env=self.spot.env(job, attempt_id, scratch, p.cpus),
            cwd=spec.cwd, timeout_s=spec.timeout_s,
            stdout_path=self.settings.log_path(job, number, "stdout"),
            stderr_path=self.settings.log_path(job, number, "stderr"),
            scratch_dir=scratch, queue=spec.queue,
        )

    def _beat(self, now: float) -> None:
        self._next_beat = now + self.settings.heartbeat_s
        if self.refill_on_beat and (self.free.cpus > 0 or self.free.gpus):
            # the store is the truth: with room free, read the runnable jobs again every heartbeat,
            # so a job the in-memory hand-off missed waits one heartbeat at most, never forever
            self._dirty = self._refill = True
        total = self.executor.capacity()
        if total != self.total:
            self._resize(total)
        if self.on_beat is not None:
            self.on_beat(self, now)
        if self.active:
            self.store.renew_leases(self.id, self.settings.lease_s, now)
        self.store.controller_beat(self.id, self.status())

    def _resize(self, total: Capacity) -> None:
        """The executor's capacity changed (Ray nodes joined or left): free capacity follows."""
        held = {g for a in self.active.values() if a.holds for g in a.placement.gpus}
        self.free = Capacity(self.free.cpus + total.cpus - self.total.cpus,
                             self.free.memory_mb + total.memory_mb - self.total.memory_mb,
                             tuple(g for g in total.gpus if g not in held))
        self.total = total
        self._dirty = True


class Admission:
    """Claims a job inside its own submit transaction, for ``Controller.admitting``; ``claimed``
    says which jobs it claimed (the others are offered as usual)."""

    def __init__(self, controller: Controller, spec: JobSpec) -> None:
        self.controller = controller
        self.spec = spec
        self.staged: list[Launch] = []

    def __call__(self, tx: Tx, cands: list[Candidate]) -> None:
        self.controller._admit(tx, cands, self.spec, self.staged)

    @property
    def claimed(self) -> set[int]:
        return {la.job_id for la in self.staged}


def _order(c: Candidate) -> tuple[int, int, int]:
    """The scheduling order of runnable jobs (``Store.candidates``): queue priority, priority, id."""
    return (-c.queue_priority, -c.priority, c.id)


def commit_now(gathered: int, age_s: float, others_running: int, plain: bool, spot: bool, big_waiting: bool) -> bool:
    """Whether gathered outcomes are committed now (pure; ``Controller._gather``).

    While other attempts run, successes of small Python jobs (``plain``) wait up to ``GATHER_S``,
    or until ``GATHER_MAX`` have gathered, to be committed in one transaction: a stream of tiny jobs
    then takes a few large commits instead of many small ones (a commit's fixed cost is shared by
    its ends), and leaves the store's write lock to submitters more often.
    A job alone is committed at once, so a round trip stays short; so is anything else: a failure,
    a command, a preemption, spot slots, or any outcome while a larger job waits for capacity.
    """
    return (gathered >= GATHER_MAX or age_s >= GATHER_S or others_running <= 0 or not plain or spot
            or big_waiting)


def _small(kind: str, cpus: float, gpus: int, memory_mb: int | None) -> bool:
    return kind != "command" and cpus <= 1 and not gpus and not memory_mb


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
