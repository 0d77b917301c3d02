"""Accepting submissions with group commit: concurrent requests share one store transaction.

Each request is validated on its own first (spec, project). Then whoever takes the commit lock
submits every request queued so far as one batch, in ONE transaction that also checks that each
request's dependencies name jobs of its own project and still-live tokens, and appends each
request's audit entry; each caller gets its own ids back. So an accepted submission is always
audited, and a refused one leaves neither jobs nor an entry. Requests are combined only when that
cannot change their meaning: a request whose dependencies name jobs of its own batch goes alone,
and no combined request may name a job that another one defines. If the combined batch is
refused, each request is retried alone, so every caller gets its own answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tessera.errors import NotFoundError, SpecError
from tessera.models.job import parse_ref
from tessera.models.spec import JobSpec
from tessera.scheduler.decide import Capacity
from tessera.server.audit import Item, append_all
from tessera.server.security import Refused
from tessera.store import Store
from tessera.store.hot import Tx
from tessera.submit import submit as submit_specs

logger = logging.getLogger(__name__)
Payloads = dict[int, tuple[bytes, ...]]


@dataclass
class Request:
    actor: str
    project: str
    specs: Sequence[JobSpec]
    payloads: Payloads
    token_id: int | None = None  # checked live in the transaction (revocation is immediate)
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False
    names: set[str] = field(init=False)  # the names its jobs define
    refs: set[str] = field(init=False)  # the refs its dependencies name

    def __post_init__(self) -> None:
        self.names = {s.name for s in self.specs if s.name}
        self.refs = {r for s in self.specs for d in s.dependencies for r in d.on}

    def outside(self) -> dict[str, int]:
        """Dependencies on jobs outside the request, as {ref: job id} (an element ``12_3`` counts as
        its array 12; a ref that is no job id as -1) (pure)."""
        names = self.names
        out: dict[str, int] = {}
        for ref in self.refs - names:
            try:
                out[ref] = parse_ref(ref)[0]
            except NotFoundError:
                out[ref] = -1
        return out

    def alone(self) -> bool:
        """Whether it refers to its own jobs by name (it must then be submitted on its own)."""
        return bool(self.names & self.refs)

    def entry(self) -> Item:
        return (self.actor, "job.submit", self.project, ",".join(map(str, self.ids)),
                {"jobs": [{"name": s.name, "kind": s.kind, "queue": s.queue,
                           "array": s.array.size if s.array else None} for s in self.specs]})


def groups(batch: Sequence[Request]) -> list[list[Request]]:
    """Split queued requests into groups whose names and references do not meet (pure)."""
    out: list[tuple[list[Request], set[str], set[str]]] = []  # (group, its names, its refs)
    for req in batch:
        for g, names, refs in out:
            if not (req.names & refs or req.refs & names or req.names & names):
                g.append(req)
                names |= req.names
                refs |= req.refs
                break
        else:
            out.append(([req], set(req.names), set(req.refs)))
    return [g for g, _n, _r in out]


def check_in(tx: Tx, group: Sequence[Request]) -> None:
    """Inside the submitting transaction: every token is still live, and every dependency outside a
    request names a job of the request's project (others are refused as if they did not exist)."""
    tokens = sorted({r.token_id for r in group if r.token_id is not None})
    if tokens:
        live = {i for (i,) in tx.all("SELECT id FROM api_tokens WHERE id IN (@) AND revoked_at IS NULL",
                                     tuple(tokens), len(tokens))}
        if len(live) < len(tokens):
            raise Refused(401, "the token was revoked", "use a live token (`tessera token ls`)",
                          {"WWW-Authenticate": "Bearer"})
    outside = [r.outside() for r in group]
    ids = sorted({i for o in outside for i in o.values() if i >= 0})
    owners = dict(tx.all("SELECT id, project FROM jobs WHERE id IN (@)", tuple(ids), len(ids))) if ids else {}
    for r, refs in zip(group, outside, strict=True):
        for ref, job_id in refs.items():
            if owners.get(job_id) != r.project:
                raise SpecError(f"dependency on {ref!r}, which does not exist",
                                "depend on a job id GET /api/v1/jobs lists, or a job of the same batch")


class Intake:
    """Submits jobs for the server's routes; thread-safe. ``poke`` tells the controller after commit."""

    def __init__(self, store: Store, total: Capacity, poke: Callable[..., None]) -> None:
        self.store, self.total, self.poke = store, total, poke
        self._queue: list[Request] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def submit(self, actor: str, project: str, specs: Sequence[JobSpec], payloads: Payloads,
               token_id: int | None = None) -> list[int]:
        req = Request(actor, project, specs, payloads, token_id)
        if req.alone():
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
        specs: list[JobSpec] = []
        payloads: Payloads = {}
        for r in group:
            for i, p in r.payloads.items():
                payloads[len(specs) + i] = p
            specs.extend(r.specs)

        def then(tx: Tx, ids: list[int]) -> None:
            at = 0
            for r in group:
                r.ids = ids[at:at + len(r.specs)]
                at += len(r.specs)
            check_in(tx, group)
            append_all(tx, [r.entry() for r in group])

        try:
            submit_specs(self.store, specs, self.total, element_payloads=payloads or None, then=then)
        except Exception as e:  # noqa: BLE001 - retried alone below, or handed to the caller
            if len(group) == 1:
                group[0].error = e
                group[0].ids = []
                group[0].done = True
            else:
                for r in group:
                    self._commit([r])
            return
        for r in group:
            r.done = True
        try:
            self.poke(any(s.dependencies for s in specs), False)
        except Exception:  # noqa: BLE001 - stored and audited; the controller also looks on its heartbeat
            logger.exception("could not poke the controller")
