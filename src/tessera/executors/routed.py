"""``RoutedExecutor``: one controller, several executors, each attempt sent to its job's queue's executor.

``tessera up --executor local --queue-executor gpu=ray`` (or ``queue_executors: gpu=ray`` in
config.yaml, ``TESSERA_QUEUE_EXECUTORS``) runs jobs of queue ``gpu`` on Ray and every other queue
on this machine. Each executor is a *lane* with its own capacity: the controller asks
``decide`` once per lane, with that lane's free resources and that lane's running attempts, so a
queue is packed onto its own executor only (``decide_by_lane``, pure). GPU indices of lane ``k``
are shifted by ``k * GPU_STRIDE`` in the combined capacity the controller keeps, so the lanes'
GPUs never collide there; the shift is taken off again before an attempt reaches its executor.

The controller blocks in the local executor's ``poll``; the other lanes (Ray) wake it through their
``notify`` hook when one of their tasks ends, and their clocks (deadlines, hard kills) bound the wait.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tessera.errors import SpecError
from tessera.executors.base import Executor, Feature, Launch, Outcome, Started
from tessera.models.spec import _QUEUE
from tessera.models.states import Reason
from tessera.scheduler.decide import Capacity, Decision, QueueCapacity, Running, decide
from tessera.store.records import Candidate

GPU_STRIDE = 1 << 16  # lane k's GPU i is k * GPU_STRIDE + i in the combined capacity


def parse_routes(text: str, executors: Sequence[str]) -> dict[str, str]:
    """``"gpu=ray,big=ray"`` (commas or spaces) as {queue: executor}; refuses what it cannot read."""
    routes: dict[str, str] = {}
    for item in (p for p in re.split(r"[,\s]+", text.strip()) if p):
        queue, sep, name = item.partition("=")
        if not sep or not queue or not name:
            raise SpecError(f"queue executor {item!r} is not QUEUE=EXECUTOR",
                            "write it as QUEUE=EXECUTOR, e.g. --queue-executor gpu=ray")
        if not _QUEUE.match(queue):
            raise SpecError(f"queue name {queue!r} in {item!r} is not a queue name",
                            "use 1-63 lower-case letters, digits, '_' or '-'")
        if name not in executors:
            raise SpecError(f"unknown executor {name!r} for queue {queue!r}",
                            f"use one of {', '.join(executors)}, e.g. --queue-executor {queue}={executors[-1]}")
        if routes.get(queue, name) != name:
            raise SpecError(f"queue {queue!r} is given two executors ({routes[queue]} and {name})",
                            f"give {queue} one executor")
        routes[queue] = name
    return routes


class RoutedExecutor:
    """Holds one executor per name (the default one first) and routes each attempt by its queue."""

    name = "routed"

    def __init__(self, lanes: Mapping[str, Executor], routes: Mapping[str, str], default: str) -> None:
        if default not in lanes or any(n not in lanes for n in routes.values()):
            raise ValueError("every routed executor must be given")
        self.default = default
        self.lanes: dict[str, Executor] = {default: lanes[default], **{n: e for n, e in lanes.items() if n != default}}
        self.routes = dict(routes)
        self._shift = {n: k * GPU_STRIDE for k, n in enumerate(self.lanes)}
        self._where: dict[int, str] = {}  # attempt id -> its lane
        self.features = frozenset[Feature]().union(*(e.features for e in self.lanes.values()))
        # the loop blocks in the local executor's poll when there is one (it has no hook to wake
        # another); the others (Ray) wake it through their ``notify`` hook when a task ends
        self._blocker = "local" if "local" in self.lanes else default
        for n, e in self.lanes.items():
            if n != self._blocker and hasattr(e, "notify"):
                e.notify = self.lanes[self._blocker].wake

    # ------------------------------------------------------------------ routing

    def lane_of(self, queue: str) -> str:
        return self.routes.get(queue, self.default)

    def lane_capacity(self, name: str) -> Capacity:
        c, shift = self.lanes[name].capacity(), self._shift[name]
        return Capacity(c.cpus, c.memory_mb, tuple(g + shift for g in c.gpus))

    def queues(self, name: str) -> list[str]:
        """The queues a lane serves; ``*`` stands for every queue not routed elsewhere."""
        own = sorted(q for q, n in self.routes.items() if n == name)
        return [*own, "*"] if name == self.default else own

    def lane_room(self, depth: int) -> dict[str, int]:
        return {n: e.pipeline_room(depth) for n, e in self.lanes.items()}

    # ------------------------------------------------------------------ protocol

    def capacity(self) -> QueueCapacity:
        caps = {n: self.lane_capacity(n) for n in self.lanes}
        return QueueCapacity(sum(c.cpus for c in caps.values()), sum(c.memory_mb for c in caps.values()),
                             tuple(g for c in caps.values() for g in c.gpus),
                             by_queue=tuple((q, caps[n]) for q, n in sorted(self.routes.items())),
                             others=caps[self.default])

    def pipeline_room(self, depth: int) -> int:
        return sum(self.lane_room(depth).values())

    def launch(self, launch: Launch, queued: bool = False) -> None:
        name = self.lane_of(launch.queue)
        shift = self._shift[name]
        if shift:
            p = launch.placement
            launch = dataclasses.replace(launch, placement=dataclasses.replace(p, gpus=tuple(g - shift for g in p.gpus)))
        self._where[launch.attempt_id] = name
        self.lanes[name].launch(launch, queued=queued)

    def kill(self, attempt_id: int, reason: Reason) -> None:
        name = self._where.get(attempt_id)
        if name is not None:
            self.lanes[name].kill(attempt_id, reason)

    def wake(self) -> None:
        self.lanes[self._blocker].wake()

    def poll(self, timeout: float) -> tuple[list[Started], list[Outcome]]:
        others = [e for n, e in self.lanes.items() if n != self._blocker]
        now = time.monotonic()
        for e in others:
            if getattr(e, "pending", lambda: False)():
                timeout = 0.0
            timeout = min(timeout, max(0.0, getattr(e, "next_due", lambda: float("inf"))() - now))
        started, done = self.lanes[self._blocker].poll(timeout)
        for e in others:
            s, d = e.poll(0.0)
            started += s
            done += d
        for o in done:
            self._where.pop(o.attempt_id, None)
        return started, done

    def close(self, grace_s: float = 5.0) -> list[Outcome]:
        out: list[Outcome] = []
        for e in reversed(self.lanes.values()):
            out += e.close(grace_s)
        self._where.clear()
        return out

    # ------------------------------------------------------------------ what the controller shows

    def status(self, held: Iterable[tuple[str, Running]], cap: Any) -> list[dict[str, object]]:
        """One entry per lane: total and free resources (``cap`` renders a Capacity), the attempts
        it runs, and the queues it serves."""
        held = list(held)
        out = []
        for n, e in self.lanes.items():
            total = self.lane_capacity(n)
            mine = [r for q, r in held if self.lane_of(q) == n]
            out.append({"name": n, "features": sorted(e.features), "total": cap(total), "free": cap(_free(total, mine)),
                        "running": sum(1 for a in self._where.values() if a == n), "queues": self.queues(n)})
        return out


def _free(total: Capacity, running: Iterable[Running]) -> Capacity:
    free = total
    for r in running:
        free = free.take(r.cpus, r.memory_mb, r.gpus)
    return free


def decide_by_lane(router: RoutedExecutor, window: Sequence[Candidate], held: Sequence[tuple[str, Running]],
                   now: float, array_running: Mapping[int, int], caps: Mapping[int, int | None]) -> Decision:
    """``decide`` once per lane: its own candidates (by queue), its free capacity (its total less
    what its running attempts hold) and its running attempts (for backfill). Pure but for reading
    the lanes' capacities. ``held`` pairs each resource-holding attempt with its job's queue."""
    out = Decision()
    for name in router.lanes:
        mine = [c for c in window if router.lane_of(c.queue) == name]
        if not mine:
            continue
        running = [r for q, r in held if router.lane_of(q) == name]
        d = decide(mine, _free(router.lane_capacity(name), running), running, now, array_running, caps)
        out.placements += d.placements
        out.reasons += d.reasons
    return out
