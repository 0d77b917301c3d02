"""``RayExecutor``: runs attempts as Ray tasks on a Ray cluster (``tessera up --executor ray``).

Each attempt is one Ray task (``ray_task.run_attempt``) asking for the job's CPUs, GPUs and
memory. Ray's own retries are off (``max_retries=0``, ``retry_exceptions=False``): tessera's
ledger decides what runs again. Ray has no per-task timeout, so deadlines are kept here; a timeout
or a cancel is ``ray.cancel`` (a KeyboardInterrupt in the task: commands get SIGTERM and the
grace period), then ``ray.cancel(force=True)`` once the grace period is over. A task whose worker
or node died is reported ``lost`` (requeued on the infrastructure budget; it resumes from its
checkpoint), or ``preempted`` when its node was a spot node (a node with the ``tessera-spot``
resource or a ``market-type: spot`` label). ``ray`` is imported only when this executor is built.

Coalesced arrays (``placement.coalesce``: ``TESSERA_COALESCE=N`` in an element's environment) run
up to N pipelined elements per Ray task, one after the other (``ray_task.runner`` given a list): each
element keeps its own attempt, environment, logs, result and exit status, and the task returns
every element's outcome at once. A chunk holds one slot of Ray's. Only what the controller
queued behind busy slots is chunked, and never an element with a timeout (a chunk reports when it
ends, so tessera could not tell which element overran); those run one per task, as before. A
chunk lost with its worker or node requeues its elements (the one that held the slot as lost, the
others as unstarted: nothing of theirs was committed); a cancel or a timeout of one element stops
its chunk: that element ends cancelled (or timed out), the others are requeued unstarted.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tessera.executors import coalesce, procs
from tessera.executors.base import Feature, Launch, Outcome, Started, attempt_env, next_clock
from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity

logger = logging.getLogger(__name__)

SPOT_RESOURCE = "tessera-spot"  # a custom resource a spot node advertises (any amount)
SPOT_LABELS = {"ray.io/market-type": "spot", "tessera.io/capacity": "spot"}
CAPACITY_TTL_S = 2.0  # how often the cluster's resources are read again
MIN_DEPTH = 128  # small attempts per busy slot Ray may hold queued: its round trip is longer than a pipe's
# While at least BATCH_DEPTH attempts wait in Ray's queue (its slots stay busy meanwhile), poll gathers
# results for up to BATCH_WAIT_S or BATCH_MAX of them, so that the controller commits, claims and
# submits in batches (one transaction each) rather than one attempt at a time.
BATCH_WAIT_S = 0.025
BATCH_MAX = 64
BATCH_DEPTH = 16
INLINE_PAYLOAD = 64 << 10  # an array's shared payload up to this size travels with each task, not by object ref


@dataclass
class _Chunk:
    """One Ray task running several elements of a coalesced array, one after the other."""

    runs: list[_Run]
    ref: Any = None  # ray.ObjectRef of the list of the elements' outcomes, once submitted
    stopped_for: int | None = None  # the element whose cancel or timeout stopped the chunk
    held: set[int] | None = None  # its elements that held a slot when its result came (set then)
    spot: bool | None = None  # whether the node it was lost with was a spot node (asked once)


@dataclass
class _Run:
    launch: Launch
    ref: Any  # ray.ObjectRef (a chunk's, shared by its elements)
    future: Any  # concurrent.futures.Future of the ref
    submitted: float  # wall clock
    queued: bool
    deadline: float | None = None  # monotonic
    killing: Reason | None = None
    kill_at: float | None = None  # monotonic time for ray.cancel(force=True)
    chunk: _Chunk | None = None
    index: int = 0  # its place in its chunk


class RayExecutor:
    """Runs attempts on a Ray cluster. Not thread-safe: one controller loop drives it (``wake`` and
    the completion callbacks Ray runs on its own threads only touch a lock-free deque and an event)."""

    name = "ray"
    features = frozenset({Feature.COMMANDS, Feature.FUNCTIONS, Feature.GPU, Feature.PREEMPTIBLE, Feature.MULTI_NODE})

    def __init__(self, address: str | None = None, declared: Capacity | None = None, kill_grace_s: float = 5.0,
                 scope: str = "", init_kwargs: dict[str, Any] | None = None) -> None:
        import ray

        self._ray = ray
        self.scope = scope
        self.kill_grace_s = kill_grace_s
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address or "local", logging_level=logging.WARNING, log_to_driver=False,
                     **(init_kwargs or {}))
        from tessera.executors.ray_task import runner

        self._host = socket.gethostname()
        # what every attempt shares travels once, with the function Ray exports, not with each task
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(
            runner(tuple(sys.path), self._host, kill_grace_s))
        self._options: dict[tuple[float, float, int], Any] = {}
        self._declared = declared
        self._total = declared or self._cluster_capacity()
        self._read_at = time.monotonic()
        self._runs: dict[int, _Run] = {}
        self._queued: dict[int, None] = {}  # pipelined attempts, in launch order
        self._ready: collections.deque[int] = collections.deque()  # appended by Ray's callback threads
        self._timed: set[int] = set()  # attempts with a deadline or a pending hard kill
        self._gathering = False  # poll is gathering a batch: a result wakes it only once the batch is full
        self._event = threading.Event()
        self._started: list[Started] = []
        self._done: list[Outcome] = []
        self._made: set[str] = set()
        self._array_refs: dict[int, Any] = {}  # array id -> its payload, put once in Ray's object store
        self._forming: dict[tuple[int, int, tuple[float, float, int]], _Chunk] = {}  # chunks not yet submitted
        self.notify: Callable[[], None] | None = None  # also called when a task ends (executors/routed.py)

    # ------------------------------------------------------------------ protocol

    def capacity(self) -> Capacity:
        """The declared capacity, or the cluster's resources now (read again every few seconds, so
        nodes that join or leave change what the controller places)."""
        if self._declared is None and time.monotonic() - self._read_at >= CAPACITY_TTL_S:
            self._read_at = time.monotonic()
            self._total = self._cluster_capacity()
        return self._total

    def wake(self) -> None:
        self._event.set()

    def pending(self) -> bool:
        """Whether ``poll`` has something to report without waiting."""
        return bool(self._started or self._done or self._ready or self._forming)

    def next_due(self) -> float:
        """When (monotonic) a deadline or a hard kill is next due; inf when none is."""
        return self._next_timer()

    def pipeline_room(self, depth: int) -> int:
        """Small attempts that may wait in Ray's queue behind busy CPU slots. The controller's depth
        covers ~20 ms of work, enough for a local pipe; a Ray task's round trip takes longer, so at
        least ``MIN_DEPTH`` per slot (the controller passes depth 1 when pipelining is off)."""
        if depth <= 1:
            return 0
        busy = sum(1 for r in self._runs.values() if not r.queued and not r.launch.placement.gpus)
        return max(0, busy * (max(depth, MIN_DEPTH) - 1) - len(self._queued))

    def launch(self, launch: Launch, queued: bool = False) -> None:
        logs = os.path.dirname(launch.stdout_path)
        if logs not in self._made:
            os.makedirs(logs, exist_ok=True)
            self._made.add(logs)
        size = _chunk_size(launch) if queued else 1
        if size > 1:
            self._add_to_chunk(launch, size)
            return
        try:
            ref = self._submit(launch)
        except Exception as e:  # noqa: BLE001 - a submit that fails is this attempt's outcome
            self._done.append(Outcome(launch.attempt_id, launch.job_id, "failed", Reason.LAUNCH_FAILED,
                                      detail=f"{type(e).__name__}: {e}", exit_code=127, ended_at=time.time()))
            return
        run = _Run(launch, ref, ref.future(), time.time(), queued)
        self._runs[launch.attempt_id] = run
        aid = launch.attempt_id
        run.future.add_done_callback(lambda _f: self._on_done(aid))
        if queued:
            self._queued[aid] = None
            if launch.timeout_s:  # until it inherits a slot, the wait in Ray's queue counts too
                run.deadline = time.monotonic() + launch.timeout_s
                self._timed.add(aid)
        else:
            self._begin(run)

    def kill(self, attempt_id: int, reason: Reason) -> None:
        run = self._runs.get(attempt_id)
        if run is None or run.killing is not None:
            return
        run.killing = reason
        chunk = run.chunk
        if chunk is not None:
            if chunk.ref is None:  # still forming: it never reaches Ray
                self._drop_unsubmitted(run)
                return
            if chunk.stopped_for is not None:
                return  # its chunk is being stopped already; this element ends with its own reason
            chunk.stopped_for = attempt_id
        try:
            self._ray.cancel(run.ref, force=False)  # KeyboardInterrupt in the task: a command gets SIGTERM
        except Exception as e:  # noqa: BLE001 - the task may have just ended; its outcome will say
            logger.debug("ray.cancel(%s): %s", attempt_id, e)
        run.kill_at = time.monotonic() + self.kill_grace_s + 1.0
        self._timed.add(attempt_id)
        self._event.set()

    def poll(self, timeout: float) -> tuple[list[Started], list[Outcome]]:
        for key in list(self._forming):  # the controller's launches of this round are in: submit the rest
            self._submit_chunk(self._forming.pop(key))
        if not (self._started or self._done or self._ready):
            wait = min(timeout, self._next_timer() - time.monotonic())
            self._event.wait(max(0.0, wait))
        self._event.clear()
        if self._ready and self.notify is None and len(self._queued) >= BATCH_DEPTH:  # not when routed
            self._gather()
        while self._ready:
            self._finish(self._ready.popleft())
        self._check_clocks()
        started, done = self._started, self._done
        self._started, self._done = [], []
        return started, done

    def _gather(self) -> None:
        """Wait a little for more results while Ray's queue keeps every slot busy: a batch of
        outcomes costs the controller one commit and one claim, not one of each per attempt."""
        self._gathering = True
        try:
            if len(self._ready) < BATCH_MAX:
                self._event.wait(min(BATCH_WAIT_S, max(0.0, self._next_timer() - time.monotonic())))
        finally:
            self._gathering = False
            self._event.clear()

    def close(self, grace_s: float = 5.0) -> list[Outcome]:
        """Stop: queued attempts come back ``unstarted``, running ones are cancelled and ``lost``."""
        out: list[Outcome] = []
        self._forming.clear()  # their elements are queued: they come back unstarted below
        for aid in list(self._queued):
            run = self._runs.pop(aid, None)
            if run is not None:
                if run.ref is not None:
                    self._cancel(run.ref, force=True)
                out.append(Outcome(aid, run.launch.job_id, "unstarted", Reason.CONTROLLER_LOST,
                                   detail="queued in Ray when the controller stopped", ended_at=time.time()))
        self._queued.clear()
        for aid in list(self._runs):
            self.kill(aid, Reason.CONTROLLER_LOST)
        deadline = time.monotonic() + grace_s
        while self._runs and time.monotonic() < deadline:
            out += self.poll(0.05)[1]
        for run in self._runs.values():
            if run.ref is not None:
                self._cancel(run.ref, force=True)
        end = time.monotonic() + 5
        while self._runs and time.monotonic() < end:
            out += self.poll(0.05)[1]
        for aid, run in list(self._runs.items()):  # Ray never answered: the attempt is lost all the same
            out.append(self._killed(run, time.time(), "Ray did not confirm the cancel"))
            del self._runs[aid]
        out += self._done
        self._done = []
        self._array_refs.clear()  # dropped while Ray is up: a ref released after ray.shutdown ends the process
        if self._owns:
            self._ray.shutdown()
        return out

    # ------------------------------------------------------------------ submit and finish

    def _on_done(self, *attempt_ids: int) -> None:
        """Called on one of Ray's threads when a task's result is in (a chunk's: all its elements')."""
        self._ready.extend(attempt_ids)
        if self._gathering and len(self._ready) < BATCH_MAX:
            return  # one wake per batch, not one thread switch per result
        self._event.set()
        if self.notify is not None:
            self.notify()

    def _submit(self, la: Launch) -> Any:
        return self._call(la, self._message(la))

    def _call(self, la: Launch, msg: Any) -> Any:
        """Submit ``msg`` (one attempt's message, or a chunk's list of them) with ``la``'s resources."""
        p = la.placement
        key = (p.cpus, float(len(p.gpus)), p.memory_mb or 0)
        fn = self._options.get(key)
        if fn is None:
            opts: dict[str, Any] = {"num_cpus": p.cpus, "num_gpus": len(p.gpus)}
            if p.memory_mb:
                opts["memory"] = p.memory_mb << 20
            fn = self._options[key] = self._remote.options(**opts)
        if la.array_payload is not None and la.array_id is not None:
            if len(la.array_payload) <= INLINE_PAYLOAD:  # no object-store round trip per task
                return fn.remote(msg, la.array_payload)
            shared = self._array_refs.get(la.array_id)
            if shared is None:
                self._array_refs.clear()
                shared = self._array_refs[la.array_id] = self._ray.put(la.array_payload)
            return fn.remote(msg, [shared])  # in a list: not fetched per task (``ray_task.shared_payload``)
        return fn.remote(msg)

    def _message(self, la: Launch) -> dict[str, Any]:
        p = la.placement
        msg: dict[str, Any] = {
            "attempt_id": la.attempt_id, "kind": la.kind, "env": self._env(la), "stdout_path": la.stdout_path,
            "stderr_path": la.stderr_path, "scratch_dir": la.scratch_dir,
        }
        for name, value in (("command", la.command), ("function", la.function), ("args", la.args),
                           ("kwargs", la.kwargs), ("kernel", la.kernel), ("params", la.params),
                           ("payload", la.payload), ("array_id", la.array_id), ("array_index", la.array_index),
                           ("cwd", la.cwd), ("memory_mb", p.memory_mb), ("gpus", len(p.gpus) or None)):
            if value is not None and value != () and value != {}:
                msg[name] = value  # only what this attempt has: Ray pickles every byte of it per task
        return msg

    # ------------------------------------------------------------------ coalesced chunks

    def _add_to_chunk(self, la: Launch, size: int) -> None:
        """Queue a coalesced element in its array's forming chunk; a full chunk goes to Ray now,
        the others at the next ``poll`` (after the controller's launches of this round)."""
        p = la.placement
        key = (la.array_id or 0, size, (p.cpus, float(len(p.gpus)), p.memory_mb or 0))
        chunk = self._forming.get(key)
        if chunk is None:
            chunk = self._forming[key] = _Chunk([])
        run = _Run(la, None, None, time.time(), True, chunk=chunk, index=len(chunk.runs))
        chunk.runs.append(run)
        self._runs[la.attempt_id] = run
        self._queued[la.attempt_id] = None
        if len(chunk.runs) >= size:
            del self._forming[key]
            self._submit_chunk(chunk)

    def _submit_chunk(self, chunk: _Chunk) -> None:
        first = chunk.runs[0].launch
        try:
            ref = self._call(first, [self._message(r.launch) for r in chunk.runs])
        except Exception as e:  # noqa: BLE001 - a submit that fails is each element's outcome
            for r in chunk.runs:
                self._forget(r.launch.attempt_id)
                self._done.append(Outcome(r.launch.attempt_id, r.launch.job_id, "failed", Reason.LAUNCH_FAILED,
                                          detail=f"{type(e).__name__}: {e}", exit_code=127, ended_at=time.time()))
            return
        chunk.ref = ref
        future = ref.future()
        for r in chunk.runs:
            r.ref, r.future = ref, future
        aids = [r.launch.attempt_id for r in chunk.runs]
        future.add_done_callback(lambda _f: self._on_done(*aids))

    def _drop_unsubmitted(self, run: _Run) -> None:
        """A forming chunk's element was cancelled: it leaves the chunk and never runs."""
        assert run.chunk is not None
        run.chunk.runs.remove(run)
        for i, r in enumerate(run.chunk.runs):
            r.index = i
        if not run.chunk.runs:
            self._forming = {k: c for k, c in self._forming.items() if c is not run.chunk}
        la = run.launch
        self._forget(la.attempt_id)
        self._done.append(Outcome(la.attempt_id, la.job_id, "cancelled", run.killing or Reason.CANCELLED_BY_USER,
                                  detail="cancelled before it started", ended_at=time.time()))

    def _forget(self, aid: int) -> None:
        self._runs.pop(aid, None)
        self._queued.pop(aid, None)
        self._timed.discard(aid)

    def _finish(self, aid: int) -> None:
        run = self._runs.pop(aid, None)
        if run is None:
            return
        self._timed.discard(aid)
        if run.chunk is not None and run.chunk.held is None:  # before its elements pass the slot along
            run.chunk.held = {r.launch.attempt_id for r in run.chunk.runs if not r.queued}
        if aid in self._queued:
            del self._queued[aid]
        else:  # it held a slot: the oldest queued attempt like it takes the slot
            self._inherit(run)
        la = run.launch
        ended = time.time()
        try:
            value = run.future.result()
        except Exception as e:  # noqa: BLE001 - Ray's errors are sorted below
            self._done.append(self._failure(run, e, ended))
            return
        header, data, logs = value if run.chunk is None else value[run.index]
        for key, body in (logs or {}).items():
            with open(getattr(la, key), "ab") as f:
                f.write(body)
        if run.killing is not None:  # it finished before the cancel landed: the kill's reason decides
            self._done.append(self._killed(run, header.get("ended_at", ended)))
            return
        reason = Reason(header["reason"]) if header.get("reason") else None
        usage = {**header.get("usage", {}), "node": header.get("node")}
        self._done.append(Outcome(
            aid, la.job_id, header["status"], reason, detail=header.get("exc_type"),
            exit_code=header.get("exit_code", 0 if header["status"] == "succeeded" else 1),
            ran_at=header["ran_at"], ended_at=header["ended_at"], result_encoding=header.get("encoding"),
            result=data, error=header.get("error"), usage=usage))

    def _failure(self, run: _Run, exc: Exception, ended: float) -> Outcome:
        """A task that did not return: cancelled by us, or its worker or node died (lost/preempted)."""
        ray = self._ray
        la = run.launch
        if run.killing is not None:
            return self._killed(run, ended)
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        chunk = run.chunk
        if chunk is not None and chunk.stopped_for is not None:  # stopped for a sibling's cancel or timeout
            return Outcome(la.attempt_id, la.job_id, "unstarted", Reason.WORKER_LOST,
                           detail=f"its chunk was stopped for attempt {chunk.stopped_for}; requeued", ended_at=ended)
        if isinstance(exc, ray.exceptions.RayTaskError) and not isinstance(
                exc, ray.exceptions.TaskCancelledError | ray.exceptions.WorkerCrashedError):
            return Outcome(la.attempt_id, la.job_id, "failed", Reason.LAUNCH_FAILED, detail=what[:500], exit_code=1,
                           ran_at=None, ended_at=ended, error=str(exc)[-4000:])
        if chunk is None:
            spot = self._on_spot(run)
        else:  # one look-up for the whole chunk
            if chunk.spot is None:
                chunk.spot = self._on_spot(run)
            spot = chunk.spot
            if chunk.held is not None and la.attempt_id not in chunk.held:
                # it never held the slot: nothing of it was committed; it runs again at no cost
                return Outcome(la.attempt_id, la.job_id, "unstarted", Reason.WORKER_LOST,
                               detail=f"its chunk was lost with its {'spot node' if spot else 'Ray worker or node'}: "
                                      f"{what}"[:500], ended_at=ended)
        logger.warning("attempt %d of job %s lost with its %s: %s", la.attempt_id, la.ref,
                       "spot node" if spot else "Ray worker or node", what)
        if spot:  # the spot path: requeued at no cost to any retry budget (preemptions have their own cap)
            return Outcome(la.attempt_id, la.job_id, "preempted", Reason.PREEMPTED, detail=f"spot node lost: {what}"[:500],
                           ran_at=run.submitted, ended_at=ended)
        return Outcome(la.attempt_id, la.job_id, "lost", Reason.WORKER_LOST,
                       detail=f"Ray worker or node lost: {what}"[:500], ran_at=run.submitted, ended_at=ended)

    def _killed(self, run: _Run, ended: float, detail: str | None = None) -> Outcome:
        la = run.launch
        why = run.killing or Reason.CONTROLLER_LOST
        status = {Reason.TIMEOUT: "timed_out", Reason.CANCELLED_BY_USER: "cancelled", Reason.OOM: "failed",
                  Reason.PREEMPTED: "preempted"}.get(why, "lost")
        if detail is None and why is Reason.TIMEOUT:
            detail = f"ran past its timeout of {la.timeout_s:g} s" if la.timeout_s else "timeout"
        return Outcome(la.attempt_id, la.job_id, status, why, detail=detail, ran_at=run.submitted, ended_at=ended)

    def _inherit(self, ended: _Run) -> None:
        """A slot-holding attempt ended: the oldest queued attempt with the same placement takes its slot."""
        p = ended.launch.placement
        for aid in self._queued:
            nxt = self._runs[aid]
            q = nxt.launch.placement
            if (q.cpus, q.memory_mb, q.gpus) == (p.cpus, p.memory_mb, p.gpus) and nxt.killing is None:
                del self._queued[aid]
                nxt.queued = False
                self._begin(nxt, inherits=ended.launch.attempt_id)
                return

    def _begin(self, run: _Run, inherits: int | None = None) -> None:
        la = run.launch
        if la.timeout_s:
            run.deadline = time.monotonic() + la.timeout_s
            self._timed.add(la.attempt_id)
        self._started.append(Started(la.attempt_id, la.job_id, time.time(), None, inherits))

    # ------------------------------------------------------------------ clocks and cluster

    def _next_timer(self) -> float:
        return next_clock(self._runs[a] for a in self._timed if a in self._runs)

    def _check_clocks(self) -> None:
        now = time.monotonic()
        for aid in list(self._timed):
            run = self._runs.get(aid)
            if run is None:
                self._timed.discard(aid)
                continue
            if run.kill_at is not None and now >= run.kill_at:
                run.kill_at = float("inf")
                self._cancel(run.ref, force=True)
            elif run.killing is None and run.deadline is not None and now >= run.deadline:
                self.kill(aid, Reason.TIMEOUT)

    def _cancel(self, ref: Any, force: bool) -> None:
        try:
            self._ray.cancel(ref, force=force)
        except Exception as e:  # noqa: BLE001 - already ended, or its node is gone
            logger.debug("ray.cancel: %s", e)

    def _cluster_capacity(self) -> Capacity:
        res = self._ray.cluster_resources()
        return Capacity(cpus=float(res.get("CPU", 0.0)), memory_mb=int(res.get("memory", 0)) >> 20,
                        gpus=tuple(range(int(res.get("GPU", 0)))))

    def _on_spot(self, run: _Run) -> bool:
        """Whether the node that ran this task was a spot node (asked of Ray's state API on loss only)."""
        try:
            from ray.util.state import get_task

            task = get_task(run.ref.task_id().hex(), timeout=5)
            task = task[-1] if isinstance(task, list) else task
            node_id = getattr(task, "node_id", None)
            if not node_id:
                return False
            return any(n["NodeID"] == node_id and is_spot(n) for n in self._ray.nodes())
        except Exception as e:  # noqa: BLE001 - without the state API, a lost node counts as lost
            logger.debug("spot lookup: %s", e)
            return False

    def _env(self, la: Launch) -> dict[str, str]:
        return attempt_env(la, procs.attempt_key(self.scope, la.attempt_id))  # the task adds Ray's GPUs


def is_spot(node: dict[str, Any]) -> bool:
    """Whether a node of ``ray.nodes()`` is a spot node: the ``tessera-spot`` resource or a spot label."""
    if node.get("Resources", {}).get(SPOT_RESOURCE):
        return True
    labels = node.get("Labels") or {}
    return any(labels.get(k) == v for k, v in SPOT_LABELS.items())


def _chunk_size(la: Launch) -> int:
    """How many elements of a coalesced array one Ray task may run: ``TESSERA_COALESCE`` for a
    Python array element without a timeout or GPU, else 1 (its own task)."""
    if la.array_id is None or la.kind == "command" or la.timeout_s or la.placement.gpus:
        return 1
    return coalesce.chunk_of(la.env)
