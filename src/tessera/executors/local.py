"""``LocalExecutor``: runs attempts on this machine — commands as process groups, Python on warm workers.

One selector watches worker pipes, command pidfds and a wake pipe. Timeouts and cancels send
SIGTERM, wait the grace period without blocking the loop, then SIGKILL the whole tree, including
grandchildren that left the group with setsid (found by the attempt marker in their environment).
Memory limits: RLIMIT_AS for commands, and an RSS watchdog for every attempt with a limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tessera.executors import frames, procs
from tessera.executors.base import Feature, Launch, Outcome, Started, attempt_env, next_clock
from tessera.executors.cgroup import CgroupV2
from tessera.executors.frames import FrameReader
from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity

logger = logging.getLogger(__name__)

SAMPLE_S = 0.25
SWEEP_S = 1.0


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    key: tuple[int, ...]
    queue: list[int] = field(default_factory=list)  # attempt ids in send order; the head is running
    idle_since: float = field(default_factory=time.monotonic)
    out: list[bytes] = field(default_factory=list)  # messages to send, in one write, before the next wait
    reader: FrameReader = field(default_factory=FrameReader)  # replies read so far
    header: dict[str, Any] | None = None  # a reply's header whose result frame has not fully arrived
    dead: bool = False
    array_payload: bytes | None = None  # the array payload last sent: the worker keeps it (see _launch_python)


@dataclass
class _Run:
    launch: Launch
    since: float  # wall clock, for the marker scan
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    pidfd: int | None = None
    worker: _Worker | None = None
    deadline: float | None = None  # monotonic
    killing: Reason | None = None
    kill_at: float | None = None  # monotonic time to SIGKILL
    peak_rss_mb: float = 0.0
    began: bool = False
    cgroup: Path | None = None  # the attempt's cgroup v2, when memory is limited that way


_header = json.JSONDecoder().decode  # a reply's header (UTF-8 JSON): no encoding sniffing per reply


class LocalExecutor:
    """Runs attempts on this machine. Not thread-safe: one controller loop drives it."""

    name = "local"
    features = frozenset({Feature.COMMANDS, Feature.FUNCTIONS, Feature.WARM_WORKERS, Feature.GPU, Feature.MEMORY_LIMIT})

    def __init__(self, total: Capacity, workers: int | None = None, kill_grace_s: float = 5.0,
                 scope: str = "") -> None:
        self.total = total
        self.scope = scope  # see procs.MARKER: the store this executor's attempts belong to
        self.kill_grace_s = kill_grace_s
        self.warm = workers if workers is not None else max(1, int(total.cpus))
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._workers: list[_Worker] = []
        self._cgroup = CgroupV2.detect()  # None where cgroup v2 is not delegated: rlimits then
        self._closing = False
        self._runs: dict[int, _Run] = {}
        # attempts with a clock (a deadline or a pending kill) and with a memory limit: the only ones
        # each poll looks at (ids of ended attempts are dropped lazily, see _watched)
        self._clocked: set[int] = set()
        self._limited: set[int] = set()
        self._started: list[Started] = []
        self._done: list[Outcome] = []
        self._next_sample = 0.0
        self._made: set[str] = set()
        self._sweep: dict[str, float] = {}  # finished Python attempts -> start time, for the marker sweep
        self._next_sweep = 0.0
        for _ in range(self.warm):
            self._spawn(())

    # ------------------------------------------------------------------ protocol

    def capacity(self) -> Capacity:
        return self.total

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def pipeline_room(self, depth: int) -> int:
        """How many more attempts could queue behind busy CPU workers at this pipeline depth."""
        busy = [w for w in self._workers if not w.key and w.queue]
        return sum(max(0, depth - len(w.queue)) for w in busy)

    def launch(self, launch: Launch, queued: bool = False) -> None:
        """Start an attempt; ``queued`` puts a Python attempt behind the least busy CPU worker
        instead (it starts, and inherits that worker's slot, when the one ahead of it ends)."""
        if launch.kind == "command":  # Python jobs: the worker makes the log folder, the job its scratch
            logs = os.path.dirname(launch.stdout_path)
            if logs not in self._made:
                os.makedirs(logs, exist_ok=True)
                self._made.add(logs)
            os.makedirs(launch.scratch_dir, exist_ok=True)
        run = _Run(launch=launch, since=time.time())
        self._runs[launch.attempt_id] = run
        if launch.placement.memory_mb:
            self._limited.add(launch.attempt_id)
        try:
            if launch.kind == "command":
                self._launch_command(run)
            else:
                self._launch_python(run, queued)
        except OSError as e:
            del self._runs[launch.attempt_id]
            if launch.kind != "command" and isinstance(e, BrokenPipeError | ConnectionResetError):
                # the worker died before its death was seen: the attempt never started (requeued free)
                self._done.append(Outcome(launch.attempt_id, launch.job_id, "unstarted", Reason.WORKER_LOST,
                                          detail=f"its worker exited before it started ({e})", ended_at=time.time()))
                return
            self._done.append(Outcome(launch.attempt_id, launch.job_id, "failed", Reason.LAUNCH_FAILED,
                                      detail=f"{type(e).__name__}: {e}", exit_code=127, ended_at=time.time()))

    def kill(self, attempt_id: int, reason: Reason) -> None:
        run = self._runs.get(attempt_id)
        if run is None or run.killing is not None:
            return
        run.killing = reason
        w = run.worker
        if w is not None and w.queue and w.queue[0] != attempt_id:
            # still queued behind another attempt: ask the worker to skip it
            w.out.append(pickle.dumps({"op": "skip", "attempt_id": attempt_id}))
            self._flush(w)
            return
        if run.pid is None:
            return
        self._clocked.add(attempt_id)
        if reason is Reason.OOM:
            run.kill_at = time.monotonic()
        else:
            run.kill_at = time.monotonic() + self.kill_grace_s
            procs.kill_group(run.pid, signal.SIGTERM)
            procs.signal_all(procs.tree(run.pid), signal.SIGTERM)
            procs.signal_all(procs.marked(self._key(attempt_id), run.since), signal.SIGTERM)
        self.wake()

    def poll(self, timeout: float) -> tuple[list[Started], list[Outcome]]:
        for w in self._workers:
            if w.out:
                self._flush(w)
        if self._started or self._done:
            timeout = 0.0
        timeout = min(timeout, self._next_timer() - time.monotonic())
        for key, _ in self._sel.select(max(0.0, timeout)):
            what, obj = key.data
            if what == "wake":
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            elif what == "worker":
                self._on_readable(obj)
            elif what == "proc":
                self._on_exit(obj)
        self._check_clocks()
        started, done = self._started, self._done
        self._started, self._done = [], []
        return started, done

    def close(self, grace_s: float = 5.0) -> list[Outcome]:
        """Stop everything: running attempts are killed and reported ``lost`` to be requeued."""
        self._closing = True
        out: list[Outcome] = []  # poll hands outcomes over once: keep them, they are the requeues
        for w in self._workers:
            for aid in w.queue[1:]:
                run = self._runs.pop(aid, None)
                if run is not None:
                    out.append(Outcome(aid, run.launch.job_id, "unstarted", Reason.CONTROLLER_LOST,
                                       detail="queued when the controller stopped", ended_at=time.time()))
            del w.queue[1:]
        for aid in list(self._runs):
            self.kill(aid, Reason.CONTROLLER_LOST)
        deadline = time.monotonic() + grace_s
        while self._runs and time.monotonic() < deadline:
            out += self.poll(0.05)[1]
        for run in list(self._runs.values()):
            self._hard_kill(run)
        end = time.monotonic() + 2
        while self._runs and time.monotonic() < end:
            out += self.poll(0.05)[1]
        procs.sweep(self._sweep)
        for w in self._workers:
            self._stop_worker(w)
        self._workers.clear()
        out += self._done
        self._done = []
        return out

    def set_pool(self, n: int) -> None:
        """Keep ``n`` warm CPU workers (the autoscaler's target): start idle ones, or stop idle ones."""
        self.warm = max(0, n)
        cpu = [w for w in self._workers if not w.key]
        for _ in range(self.warm - len(cpu)):
            self._spawn(())
        idle = [w for w in cpu if not w.queue]
        for w in idle[: max(0, len(cpu) - self.warm)]:
            self._stop_worker(w)
            self._workers.remove(w)

    # ------------------------------------------------------------------ commands

    def _launch_command(self, run: _Run) -> None:
        la = run.launch
        assert la.command is not None
        env = {**os.environ, **self._env(la)}
        limit = procs.limit_memory(la.placement.memory_mb)
        if la.placement.memory_mb and self._cgroup is not None:
            run.cgroup = self._cgroup.make(f"a{la.attempt_id}", la.placement.memory_mb)
            limit = CgroupV2.enter(run.cgroup)
        with open(la.stdout_path, "ab") as out, open(la.stderr_path, "ab") as err:
            proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell string
                list(la.command), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=la.cwd or None,
                env=env, start_new_session=True, close_fds=True,
                preexec_fn=limit,
            )
        run.proc, run.pid = proc, proc.pid
        run.pidfd = os.pidfd_open(proc.pid)
        self._sel.register(run.pidfd, selectors.EVENT_READ, ("proc", run))
        self._begin(run)

    def _on_exit(self, run: _Run) -> None:
        assert run.proc is not None and run.pidfd is not None
        code = run.proc.wait()
        self._sel.unregister(run.pidfd)
        os.close(run.pidfd)
        la = run.launch
        procs.reap(run.pid, self._key(la.attempt_id), run.since)
        ended = time.time()
        usage = {"peak_rss_mb": round(run.peak_rss_mb, 1), "wall_s": round(ended - run.since, 6)}
        cgroup_oom = run.cgroup is not None and CgroupV2.oom_killed(run.cgroup)
        if run.cgroup is not None:
            CgroupV2.remove(run.cgroup)
        if cgroup_oom and run.killing is None:
            run.killing = Reason.OOM
        if run.killing is not None:
            out = self._killed(run, code, ended, usage)
        elif code == 0:
            out = Outcome(la.attempt_id, la.job_id, "succeeded", exit_code=0, ran_at=run.since, ended_at=ended, usage=usage)
        elif code < 0:
            out = Outcome(la.attempt_id, la.job_id, "failed", Reason.SIGNAL, detail=f"killed by {signal.Signals(-code).name}",
                          exit_code=128 - code, ran_at=run.since, ended_at=ended, usage=usage)
        else:
            oom = la.placement.memory_mb is not None and procs.looks_oom(la.stderr_path)
            out = Outcome(la.attempt_id, la.job_id, "failed", Reason.OOM if oom else Reason.EXIT_CODE,
                          detail=f"exit code {code}" + (" after failing to allocate memory" if oom else ""),
                          exit_code=code, ran_at=run.since, ended_at=ended, usage=usage)
        del self._runs[la.attempt_id]
        self._done.append(out)

    def _killed(self, run: _Run, code: int | None, ended: float, usage: dict[str, float]) -> Outcome:
        la = run.launch
        why = run.killing
        status = {Reason.TIMEOUT: "timed_out", Reason.CANCELLED_BY_USER: "cancelled", Reason.OOM: "failed",
                  Reason.PREEMPTED: "preempted"}.get(
            why, "lost")  # type: ignore[arg-type]
        detail = {
            Reason.TIMEOUT: f"ran past its timeout of {la.timeout_s:g} s" if la.timeout_s else "timeout",
            Reason.OOM: (f"killed by the kernel's OOM killer at its cgroup limit of {la.placement.memory_mb} MB"
                         if run.cgroup is not None else
                         f"resident memory {run.peak_rss_mb:.0f} MB over its limit of {la.placement.memory_mb} MB"),
        }.get(why)  # type: ignore[arg-type]
        return Outcome(la.attempt_id, la.job_id, status, why, detail=detail, exit_code=code,
                       ran_at=run.since, ended_at=ended, usage=usage)

    # ------------------------------------------------------------------ python workers

    def _spawn(self, key: tuple[int, ...]) -> _Worker:
        ours, theirs = socket.socketpair()
        env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, key)), "TESSERA_SYS_PATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tessera.executors._boot", str(theirs.fileno()), json.dumps(env)],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True,
        )
        theirs.close()
        conn = Connection(ours.detach())
        w = _Worker(proc=proc, conn=conn, key=key)
        self._sel.register(conn.fileno(), selectors.EVENT_READ, ("worker", w))
        self._workers.append(w)
        return w

    def _launch_python(self, run: _Run, queued: bool = False) -> None:
        la = run.launch
        key = tuple(la.placement.gpus)
        w = None
        if queued:
            busy = [w for w in self._workers if w.key == key and w.queue]
            w = min(busy, key=lambda w: len(w.queue)) if busy else None
        if w is None:
            w = next((w for w in self._workers if w.key == key and not w.queue), None) or self._spawn(key)
        w.queue.append(la.attempt_id)
        run.worker, run.pid = w, w.proc.pid
        # An array's shared payload (its function, and what that captured) goes to a worker once:
        # the next elements say "the one you kept" instead of sending megabytes each (the store hands
        # out one bytes object per array, so identity says it is the same)
        arr, kept = la.array_payload, False
        if arr is not None:
            kept = w.array_payload is arr
            w.array_payload = arr
        msg = {
            "attempt_id": la.attempt_id, "kind": la.kind, "function": la.function, "args": la.args,
            "kwargs": la.kwargs, "kernel": la.kernel, "params": la.params, "payload": la.payload,
            "array_payload": None if kept else arr, "array_kept": kept, "array_id": la.array_id,
            "array_index": la.array_index,
            "env": self._env(la), "cwd": la.cwd, "stdout_path": la.stdout_path, "stderr_path": la.stderr_path,
            "timeout_s": la.timeout_s,  # a coalesced element with a timeout has its reply sent, never held
        }
        w.out.append(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))  # sent by the next poll
        if len(w.queue) == 1:
            self._begin(run)

    def _begin(self, run: _Run, inherits: int | None = None) -> None:
        la = run.launch
        run.began = True
        run.since = time.time()
        if la.timeout_s:
            run.deadline = time.monotonic() + la.timeout_s
            self._clocked.add(la.attempt_id)
        self._started.append(Started(la.attempt_id, la.job_id, run.since, run.pid, inherits))

    def _next(self, w: _Worker, done: int) -> None:
        """The head of ``w`` ended: the next queued attempt starts and inherits its slot."""
        if w.queue and w.queue[0] == done:
            w.queue.pop(0)
        if w.queue:
            nxt = self._runs.get(w.queue[0])
            if nxt is not None:
                self._begin(nxt, inherits=done)
        else:
            w.idle_since = time.monotonic()

    def _flush(self, w: _Worker) -> None:
        data, w.out = frames.encode(w.out), []
        try:
            frames.write_all(w.conn.fileno(), data)
        except OSError:  # it died: the read side reports it and requeues its attempts
            logger.warning("worker %s stopped taking attempts", w.proc.pid)

    def _on_readable(self, w: _Worker) -> None:
        """Read every reply the worker has sent so far (a pipelined worker may have sent several)."""
        try:
            alive = w.reader.fill(w.conn.fileno())
        except OSError:
            alive = False
        while not w.dead and self._reply(w):
            pass
        if not alive and not w.dead:
            self._worker_died(w)

    def _reply(self, w: _Worker) -> bool:
        """Handle the next complete reply (a JSON header, then the result frame it announces)."""
        if w.header is None:
            raw = w.reader.next()
            if raw is None:
                return False
            try:
                w.header = _header(raw.decode())
            except ValueError:
                self._worker_died(w)
                return False
        header = w.header
        assert header is not None
        data = None
        if header.get("has_data"):
            data = w.reader.next()
            if data is None:
                return False
        w.header = None
        self._on_reply(w, header, data)
        return True

    def _on_reply(self, w: _Worker, header: dict[str, Any], data: bytes | None) -> None:
        head = w.queue[0] if w.queue else None
        run = self._runs.get(head) if head is not None else None
        if run is None or header.get("attempt_id") != head:
            logger.error("worker %s answered for attempt %s, expected %s", w.proc.pid, header.get("attempt_id"), head)
            if head is not None:
                self._next(w, head)
            return
        la = run.launch
        del self._runs[la.attempt_id]
        suspect = run.killing is not None and run.killing is not Reason.CANCELLED_BY_USER
        if not suspect:
            self._next(w, la.attempt_id)
        if header["status"] == "skipped":
            self._done.append(Outcome(la.attempt_id, la.job_id, "cancelled", run.killing or Reason.CANCELLED_BY_USER,
                                      detail="cancelled before it started", ended_at=time.time()))
            return
        usage = {**header.get("usage", {}), "peak_rss_mb": round(run.peak_rss_mb, 1)}
        self._sweep[self._key(la.attempt_id)] = run.since
        if suspect:
            # It finished before the kill landed: the kill's reason still decides, and the worker is suspect.
            self._done.append(self._killed(run, None, header["ended_at"], usage))
            w.queue.pop(0)
            self._stop_worker(w)
            self._worker_died(w, stopped=True)
            return
        reason = Reason(header["reason"]) if header.get("reason") else None
        self._done.append(Outcome(
            la.attempt_id, la.job_id, header["status"], reason,
            detail=header.get("exc_type"), exit_code=header.get("exit_code", 0 if header["status"] == "succeeded" else 1),
            ran_at=header["ran_at"], ended_at=header["ended_at"], result_encoding=header.get("encoding"),
            result=data, error=header.get("error"), usage=usage, checkpoints=header.get("checkpoints")))

    def _worker_died(self, w: _Worker, stopped: bool = False) -> None:
        """A worker exited: its running attempt ends (killed or lost), the queued ones never started."""
        if w.dead:
            return
        w.dead = True
        if not stopped:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(w.conn.fileno())
            w.conn.close()
        code = w.proc.wait()
        if w in self._workers:
            self._workers.remove(w)
        ended = time.time()
        for aid in w.queue:
            run = self._runs.pop(aid, None)
            if run is None:
                continue
            la = run.launch
            usage = {"peak_rss_mb": round(run.peak_rss_mb, 1)}
            if not run.began:
                self._done.append(Outcome(aid, la.job_id, "unstarted", Reason.WORKER_LOST,
                                          detail=f"queued on worker pid {w.proc.pid}, which exited", ended_at=ended))
                continue
            procs.reap(w.proc.pid, self._key(aid), run.since)
            if run.killing is not None:
                self._done.append(self._killed(run, code, ended, usage))
            else:
                self._done.append(Outcome(aid, la.job_id, "lost", Reason.WORKER_LOST,
                                          detail=f"worker pid {w.proc.pid} exited with {code}", exit_code=code,
                                          ran_at=run.since, ended_at=ended, usage=usage))
        w.queue.clear()
        if sum(1 for x in self._workers if not x.key) < self.warm and not w.key and not self._closing:
            self._spawn(())

    def _stop_worker(self, w: _Worker) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(w.conn.fileno())
        procs.kill_group(w.proc.pid, signal.SIGKILL)
        w.conn.close()
        w.proc.wait()

    # ------------------------------------------------------------------ clocks

    def _next_timer(self) -> float:
        t = next_clock(run for _aid, run in self._watched(self._clocked))
        if self._watched(self._limited):
            t = min(t, self._next_sample)
        if self._sweep:
            t = min(t, self._next_sweep)
        return t

    def _check_clocks(self) -> None:
        now = time.monotonic()
        for aid, run in self._watched(self._clocked):
            if run.kill_at is not None and now >= run.kill_at:
                self._hard_kill(run)
            elif run.killing is None and run.deadline is not None and now >= run.deadline:
                self.kill(aid, Reason.TIMEOUT)
        if self._sweep and now >= self._next_sweep:
            self._next_sweep = now + SWEEP_S
            procs.sweep(self._sweep)
            self._sweep.clear()
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_S
            for aid, run in self._watched(self._limited):
                limit = run.launch.placement.memory_mb
                if not limit or run.pid is None or run.killing is not None:
                    continue
                rss = procs.rss_mb(run.pid)
                run.peak_rss_mb = max(run.peak_rss_mb, rss)
                if rss > limit:
                    self.kill(aid, Reason.OOM)
                    self._hard_kill(run)

    def _watched(self, ids: set[int]) -> list[tuple[int, _Run]]:
        """The attempts of ``ids`` that still run (the others leave ``ids``)."""
        out = []
        for aid in list(ids):
            run = self._runs.get(aid)
            if run is None:
                ids.discard(aid)
            else:
                out.append((aid, run))
        return out

    def _hard_kill(self, run: _Run) -> None:
        run.kill_at = float("inf")
        self._clocked.add(run.launch.attempt_id)
        procs.reap(run.pid, self._key(run.launch.attempt_id), run.since)
        if run.worker is not None:
            procs.kill_group(run.worker.proc.pid, signal.SIGKILL)

    def _key(self, attempt_id: int) -> str:
        return procs.attempt_key(self.scope, attempt_id)

    def _env(self, la: Launch) -> dict[str, str]:
        env = attempt_env(la, self._key(la.attempt_id))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, la.placement.gpus))
        return env
