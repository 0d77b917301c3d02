"""The cost tables in the store: rates in force over time, user machines, budgets; and the
attempt rows the ledger prices. Reads and writes only; the arithmetic is in ``ledger``."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, select

from tessera.cost import catalog as cat
from tessera.cost.ledger import AttemptRow, Rate
from tessera.errors import NotFoundError, SpecError
from tessera.scheduler.decide import Capacity
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated


def rates(store: Store) -> list[Rate]:
    """Every rate, oldest first."""
    r = t.rates.c
    with translated("reading rates"), store.engine.connect() as conn:
        return [Rate(row.at, row.name, row.on_demand_usd_h, row.spot_usd_h, row.cpus, row.memory_mb, row.gpus,
                     row.source) for row in conn.execute(select(t.rates).order_by(r.at, r.id))]


def add_rate(store: Store, rate: Rate, region: str | None = None) -> None:
    with translated("saving a rate"), store.engine.begin() as conn:
        conn.execute(t.rates.insert().values(
            at=rate.at, name=rate.name, source=rate.source, region=region, on_demand_usd_h=rate.on_demand_usd_h,
            spot_usd_h=rate.spot_usd_h, cpus=rate.cpus, memory_mb=rate.memory_mb, gpus=rate.gpus))


def default_rate(total: Capacity, catalog: cat.Catalog, region: str = cat.DEFAULT_REGION) -> Rate:
    """This machine priced as the cheapest catalog instance that covers it, from the beginning of time."""
    inst = catalog.cheapest_covering(total.cpus, total.memory_mb, len(total.gpus), region)
    p = inst.price(region)
    return Rate(0.0, inst.type, p.on_demand, p.spot_rate, total.cpus, total.memory_mb, len(total.gpus), "default")


def ensure_rates(store: Store, total: Capacity, catalog: cat.Catalog) -> list[Rate]:
    """The rates, writing the default one first when none was ever set."""
    out = rates(store)
    if not out:
        add_rate(store, default_rate(total, catalog))
        out = rates(store)
    return out


def rate_for(name: str, store: Store, catalog: cat.Catalog, total: Capacity, region: str, spot_usd_h: float | None,
             usd_per_hour: float | None, now: float) -> Rate:
    """A new rate for ``name``: a user machine, a catalog instance, or a manual price for this machine."""
    if usd_per_hour is not None:
        if usd_per_hour < 0:
            raise SpecError(f"--usd-per-hour {usd_per_hour} is negative", "give a price of 0 or more")
        return Rate(now, name or "this-machine", usd_per_hour, spot_usd_h, total.cpus, total.memory_mb,
                    len(total.gpus), "manual")
    m = machine(store, name)
    if m is not None:
        return Rate(now, name, m["usd_per_hour"], None, m["cpus"], m["memory_mb"], m["gpus"], "machine")
    inst = catalog.find(name)
    p = inst.price(region)
    return Rate(now, inst.type, p.on_demand, p.spot_rate, float(inst.vcpus), int(inst.memory_gib * 1024), inst.gpus,
                "catalog")


# ------------------------------------------------------------------ machines

def add_machine(store: Store, name: str, usd_per_hour: float, cpus: float, memory_mb: int, gpus: int,
                gpu_model: str | None, note: str | None) -> None:
    if usd_per_hour < 0 or cpus <= 0 or memory_mb <= 0 or gpus < 0:
        raise SpecError(f"machine {name}: price, CPUs and memory must be positive and GPUs at least 0",
                        "e.g. tessera cost machine add lab1 --usd-per-hour 0.9 --cpus 64 --memory-mb 262144 --gpus 2")
    row = {"name": name, "usd_per_hour": usd_per_hour, "cpus": cpus, "memory_mb": memory_mb, "gpus": gpus,
           "gpu_model": gpu_model, "note": note, "created_at": time.time()}
    with translated("saving a machine"), store.engine.begin() as conn:
        conn.execute(t.machines.delete().where(t.machines.c.name == name))
        conn.execute(t.machines.insert().values(**row))


def machines(store: Store) -> list[dict[str, Any]]:
    with translated("reading machines"), store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t.machines).order_by(t.machines.c.name))]


def machine(store: Store, name: str) -> dict[str, Any] | None:
    return next((m for m in machines(store) if m["name"] == name), None)


# ------------------------------------------------------------------ budgets

ACTIONS = ("warn", "hold", "downgrade", "reject")


def set_budget(store: Store, project: str, limit_usd: float, warn_at: float, action: str) -> None:
    if action not in ACTIONS:
        raise SpecError(f"unknown budget action {action!r}", f"use one of {', '.join(ACTIONS)}")
    if not limit_usd >= 0 or not 0 < warn_at <= 1:
        raise SpecError(f"budget limit {limit_usd} or warn-at {warn_at} out of range",
                        "give a limit of 0 dollars or more and --warn-at between 0 and 1, e.g. 0.8")
    with translated("saving a budget"), store.engine.begin() as conn:
        conn.execute(t.budgets.delete().where(t.budgets.c.project == project))
        conn.execute(t.budgets.insert().values(project=project, limit_usd=limit_usd, warn_at=warn_at, action=action,
                                               created_at=time.time()))
    _budget_cache.pop(store, None)


#: Submits read budgets (and what pruned attempts cost) through a short cache (a read costs about
#: as much as a small submit): a budget set, or a prune run, by another process applies to a
#: running client within this many seconds.
BUDGET_CACHE_S = 2.0
_budget_cache: weakref.WeakKeyDictionary[Store, tuple[float, dict[str, dict[str, Any]]]] = weakref.WeakKeyDictionary()
_pruned_cache: weakref.WeakKeyDictionary[Store, tuple[float, dict[str, float]]] = weakref.WeakKeyDictionary()


_T = TypeVar("_T")


def _cached(cache: weakref.WeakKeyDictionary[Store, tuple[float, _T]], store: Store, cached: bool,
            read: Callable[[], _T]) -> _T:
    if cached:
        hit = cache.get(store)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    out = read()
    cache[store] = (time.monotonic() + BUDGET_CACHE_S, out)
    return out


def budgets(store: Store, cached: bool = False) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]]:
        with translated("reading budgets"), store.engine.connect() as conn:
            return {r.project: dict(r._mapping) for r in conn.execute(select(t.budgets))}

    return _cached(_budget_cache, store, cached, read)


def pruned_usd(store: Store, cached: bool = False) -> dict[str, float]:
    """What the attempts of pruned jobs cost, per project (``store.prune`` carries it over)."""
    def read() -> dict[str, float]:
        with translated("reading pruned spend"), store.engine.connect() as conn:
            return {r.project: r.usd for r in conn.execute(select(t.pruned_spend))}

    return _cached(_pruned_cache, store, cached, read)


def forget_pruned(store: Store) -> None:
    """This process pruned: its next read of ``pruned_usd`` goes to the store."""
    _pruned_cache.pop(store, None)


def remove_budget(store: Store, project: str) -> None:
    with translated("removing a budget"), store.engine.begin() as conn:
        n = conn.execute(t.budgets.delete().where(t.budgets.c.project == project)).rowcount
    _budget_cache.pop(store, None)
    if not n:
        raise NotFoundError(f"project {project!r} has no budget", "see `tessera budget ls`")


# ------------------------------------------------------------------ attempts

def attempt_rows(store: Store, project: str | None = None, job_ids: Sequence[int] | None = None,
                 after_id: int = 0, also: Collection[int] = ()) -> list[AttemptRow]:
    """Attempts with their job's project, queue, array and resources (as placed, else as asked);
    with ``after_id``, only those with a larger id, and those in ``also``."""
    a, j, sp = t.attempts.c, t.jobs.c, t.spot_attempts.c
    q = (select(a.id, a.job_id, a.state, a.started_at, a.ended_at, a.placement, j.project, j.queue, j.array_id,
                j.array_index, j.cpus, j.memory_mb, j.gpus, j.spec, sp.capacity.label("recorded"))
         .select_from(t.attempts.join(t.jobs, j.id == a.job_id)
                      .outerjoin(t.spot_attempts, sp.attempt_id == a.id))  # what the spot side recorded
         .order_by(a.id))
    conds = []
    if project is not None:
        # with ``after_id``, compared as an expression (no index): SQLite then walks the new attempts
        # by their primary key instead of every job of the project
        conds.append((j.project + "" if after_id else j.project) == project)
    if job_ids is not None:
        conds.append(j.id.in_(list(job_ids)) | j.array_id.in_(list(job_ids)))
    if after_id:
        conds.append(a.id > after_id if not also else (a.id > after_id) | a.id.in_(sorted(also)))
    if conds:
        q = q.where(and_(*conds))
    out = []
    tags: dict[int, dict[str, str]] = {}
    with translated("reading attempts"), store.engine.connect() as conn:
        for r in conn.execute(q):
            placed = json.loads(r.placement or "{}")
            gpus = placed.get("gpus")
            own = _tags(conn, r.job_id, r.array_id, r.spec, tags)
            spot = (r.recorded == "spot" if r.recorded is not None  # what the spot side recorded wins
                    else placed.get("capacity") == "spot" or own.get("capacity") == "spot")
            out.append(AttemptRow(
                r.id, r.job_id, f"{r.array_id}_{r.array_index}" if r.array_id is not None else str(r.job_id),
                r.project, r.queue, r.array_id, r.state, r.started_at, r.ended_at,
                float(placed.get("cpus", r.cpus)), placed.get("memory_mb", r.memory_mb),
                len(gpus) if isinstance(gpus, list) else int(r.gpus), spot, own.get("workflow")))
    return out


def _tags(conn: Any, job_id: int, array_id: int | None, spec: str | None, memo: dict[int, dict[str, str]]) -> dict[str, str]:
    """The job's tags (an element's are its array's), parsed once per job."""
    owner = array_id if array_id is not None else job_id
    if owner not in memo:
        if array_id is not None:
            spec = conn.execute(select(t.jobs.c.spec).where(t.jobs.c.id == array_id)).scalar()
        memo[owner] = dict(json.loads(spec).get("tags") or {}) if spec and '"tags"' in spec else {}
    return memo[owner]
