"""Which runnable jobs start now and where: priority order, packing, and EASY backfill.

Pure: it takes the free capacity, the running attempts and the ordered candidates, and returns
placements plus the reason each job left waiting waits. The controller does the I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tessera.models.states import Reason
from tessera.store.records import Candidate

_EPS = 1e-9
DETAILED = 64  # waiting jobs whose reason gets a worded detail; the rest get the typed reason only


@dataclass(frozen=True, slots=True)
class Capacity:
    """Resources of an executor: CPUs, memory and the indices of its GPUs."""

    cpus: float
    memory_mb: int
    gpus: tuple[int, ...] = ()

    def fits(self, cpus: float, memory_mb: int | None, gpus: int) -> bool:
        return cpus <= self.cpus + _EPS and (memory_mb or 0) <= self.memory_mb and gpus <= len(self.gpus)

    def take(self, cpus: float, memory_mb: int | None, gpus: Sequence[int]) -> Capacity:
        left = tuple(g for g in self.gpus if g not in set(gpus))
        return Capacity(self.cpus - cpus, self.memory_mb - (memory_mb or 0), left)

    def give(self, cpus: float, memory_mb: int | None, gpus: Sequence[int]) -> Capacity:
        return Capacity(self.cpus + cpus, self.memory_mb + (memory_mb or 0), tuple(sorted({*self.gpus, *gpus})))

    def for_queue(self, queue: str) -> Capacity:
        """What the executor of ``queue`` has: all of it, when one executor serves every queue."""
        return self


@dataclass(frozen=True, slots=True)
class QueueCapacity(Capacity):
    """Executors per queue (``--queue-executor``): the sum of them all, plus each routed queue's
    executor's own total and that of the executor serving every other queue, so that a job its
    queue's executor could never run is refused at submit instead of waiting forever."""

    by_queue: tuple[tuple[str, Capacity], ...] = ()
    others: Capacity | None = None  # the executor of every queue not named in ``by_queue``

    def for_queue(self, queue: str) -> Capacity:
        for name, cap in self.by_queue:
            if name == queue:
                return cap
        return self.others if self.others is not None else self


@dataclass(frozen=True, slots=True)
class Placement:
    job_id: int
    cpus: float
    memory_mb: int | None
    gpus: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {"cpus": self.cpus, "memory_mb": self.memory_mb, "gpus": list(self.gpus)}


@dataclass(frozen=True, slots=True)
class Running:
    """An attempt holding resources, and when it will have ended at the latest (inf if unknown)."""

    cpus: float
    memory_mb: int | None
    gpus: tuple[int, ...]
    ends_by: float = math.inf


@dataclass
class Decision:
    placements: list[Placement] = field(default_factory=list)
    reasons: list[tuple[int, Reason, str | None]] = field(default_factory=list)


def fits_at_all(total: Capacity, cpus: float, memory_mb: int | None, gpus: int) -> bool:
    """Whether a job could ever run on an executor of this total capacity."""
    return total.fits(cpus, memory_mb, gpus)


def _shadow(need: Candidate, free: Capacity, running: Sequence[Running]) -> tuple[float, Capacity]:
    """When the reserved job can start (the 'shadow time') and what is left over at that moment."""
    cap = free
    for r in sorted(running, key=lambda r: r.ends_by):
        cap = cap.give(r.cpus, r.memory_mb, r.gpus)
        if cap.fits(need.cpus, need.memory_mb, need.gpus):
            return r.ends_by, cap.take(need.cpus, need.memory_mb, cap.gpus[: need.gpus])
    return math.inf, cap


def decide(
    candidates: Sequence[Candidate],
    free: Capacity,
    running: Sequence[Running],
    now: float,
    array_running: Mapping[int, int] | None = None,
    array_caps: Mapping[int, int | None] | None = None,
) -> Decision:
    """Place candidates in order; once one does not fit, reserve for it and backfill around it.

    A job behind the reserved one starts only if it fits now and either ends (by its timeout)
    before the reserved job could start, or uses only what the reserved job will not need.
    """
    out = Decision()
    arr_run = dict(array_running or {})
    caps = array_caps or {}
    shadow_at: float | None = None
    extra: Capacity | None = None
    # why jobs of a shape that does not fit wait: the same for every such job until ``free`` changes
    # (a long queue of equal small jobs behind full workers is the common case)
    nofit: dict[tuple[float, int | None, int], tuple[Reason, str]] = {}
    for c in candidates:
        if c.array_id is not None:
            cap = caps.get(c.array_id)
            if cap is not None and arr_run.get(c.array_id, 0) >= cap:
                out.reasons.append((c.id, Reason.ARRAY_CAP, f"at most {cap} elements of array {c.array_id} run at once"))
                continue
        shape = (c.cpus, c.memory_mb, c.gpus)
        known = nofit.get(shape)
        if known is None and not free.fits(c.cpus, c.memory_mb, c.gpus):
            known = nofit[shape] = (Reason.NO_FREE_GPU if c.gpus > len(free.gpus) else Reason.RESOURCES,
                                    _short(c, free))
        if known is not None:
            if shadow_at is None:
                shadow_at, extra = _shadow(c, free, running)
            out.reasons.append((c.id, known[0], known[1] if len(out.reasons) < DETAILED else None))
            continue
        if shadow_at is not None:
            assert extra is not None
            ends = now + c.timeout_s if c.timeout_s else math.inf
            if ends <= shadow_at:
                pass  # finishes before the reserved job could start anyway
            elif extra.fits(c.cpus, c.memory_mb, c.gpus):
                extra = extra.take(c.cpus, c.memory_mb, extra.gpus[: c.gpus])
            elif math.isinf(shadow_at):
                pass  # nothing running has a known end: plain first-fit, as nothing can be promised
            else:
                out.reasons.append((c.id, Reason.RESERVED, "resources are held for a larger job ahead"))
                continue
        gpus = free.gpus[: c.gpus]
        free = free.take(c.cpus, c.memory_mb, gpus)
        nofit.clear()  # less is free now: only shapes that did not fit before still do not
        running = [*running, Running(c.cpus, c.memory_mb, gpus, now + c.timeout_s if c.timeout_s else math.inf)]
        out.placements.append(Placement(c.id, c.cpus, c.memory_mb, gpus))
        if c.array_id is not None:
            arr_run[c.array_id] = arr_run.get(c.array_id, 0) + 1
    return out


def _short(c: Candidate, free: Capacity) -> str:
    parts = []
    if c.cpus > free.cpus + _EPS:
        parts.append(f"needs {c.cpus:g} CPUs, {free.cpus:g} free")
    if (c.memory_mb or 0) > free.memory_mb:
        parts.append(f"needs {c.memory_mb} MB, {free.memory_mb} MB free")
    if c.gpus > len(free.gpus):
        parts.append(f"needs {c.gpus} GPUs, {len(free.gpus)} free")
    return "; ".join(parts)
