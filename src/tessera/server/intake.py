"""Accepting submissions with group commit: concurrent requests share one store transaction.

Each request is validated on its own first (spec, project, dependencies). Then whoever takes the
commit lock submits every request queued so far as one batch (one transaction for the jobs, one
for their audit entries) and each caller gets its own ids back. Requests are combined only when
that cannot change their meaning: a request whose dependencies name jobs of its own batch goes
alone, and no combined request may name a job that another one defines. If the combined batch is
refused, each request is retried alone, so every caller gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tessera.models.spec import JobSpec
from tessera.scheduler.decide import Capacity
from tessera.server.audit import GroupWriter
from tessera.store import Store
from tessera.submit import submit as submit_specs

Payloads = dict[int, tuple[bytes, ...]]


@dataclass
class Request:
    actor: str
    project: str
    specs: Sequence[JobSpec]
    payloads: Payloads
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False

    @property
    def names(self) -> set[str]:
        return {s.name for s in self.specs if s.name}

    @property
    def refs(self) -> set[str]:
        return {r for s in self.specs for d in s.dependencies for r in d.on}


def alone(specs: Sequence[JobSpec]) -> bool:
    """Whether a request refers to its own jobs by name (it must then be submitted on its own)."""
    names = {s.name for s in specs if s.name}
    return any(r in names for s in specs for d in s.dependencies for r in d.on)


def groups(batch: Sequence[Request]) -> list[list[Request]]:
    """Split queued requests into groups whose names and references do not meet (pure)."""
    out: list[list[Request]] = []
    for req in batch:
        for g in out:
            names = set().union(*(r.names for r in g))
            refs = set().union(*(r.refs for r in g))
            if not (req.names & refs or req.refs & names or req.names & names):
                g.append(req)
                break
        else:
            out.append([req])
    return out


class Intake:
    """Submits jobs for the server's routes; thread-safe."""

    def __init__(self, store: Store, total: Capacity, audit: GroupWriter, poke: Callable[..., None]) -> None:
        self.store, self.total, self.audit, self.poke = store, total, audit, poke
        self._queue: list[Request] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def submit(self, actor: str, project: str, specs: Sequence[JobSpec], payloads: Payloads) -> list[int]:
        req = Request(actor, project, specs, payloads)
        if alone(specs):
            self._commit([req])
        else:
            with self._queue_lock:
                self._queue.append(req)
            with self._commit_lock:
                if not req.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    for g in groups(batch):
                        self._commit(g)
        if req.error is not None:
            raise req.error
        return req.ids

    def _commit(self, group: list[Request]) -> None:
        try:
            if len(group) == 1:
                r = group[0]
                r.ids = submit_specs(self.store, r.specs, self.total, element_payloads=r.payloads or None)
            else:
                self._together(group)
        except Exception as e:  # noqa: BLE001 - retried alone below, or handed to the caller
            if len(group) == 1:
                group[0].error = e
            else:
                for r in group:
                    self._commit([r])
                return
        ok = [r for r in group if r.error is None]
        try:
            if ok:
                self.poke(any(s.dependencies for r in ok for s in r.specs), False)
                self.audit.record_many([(r.actor, "job.submit", r.project, ",".join(map(str, r.ids)),
                                         {"jobs": [{"name": s.name, "kind": s.kind, "queue": s.queue,
                                                    "array": s.array.size if s.array else None} for s in r.specs]})
                                        for r in ok])
        except Exception as e:  # noqa: BLE001 - the jobs are stored; the caller learns the audit failed
            for r in ok:
                r.error = e
        for r in group:
            r.done = True

    def _together(self, group: list[Request]) -> None:
        specs: list[JobSpec] = []
        payloads: Payloads = {}
        for r in group:
            for i, p in r.payloads.items():
                payloads[len(specs) + i] = p
            specs.extend(r.specs)
        ids = submit_specs(self.store, specs, self.total, element_payloads=payloads or None)
        at = 0
        for r in group:
            r.ids = ids[at:at + len(r.specs)]
            at += len(r.specs)
