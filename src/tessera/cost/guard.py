"""The budget hook at submit: forecast each job's dollars and apply its project's budget action.

Reads budgets, the project's attempts and the rate in force; ``budget.judge`` decides. Jobs are
judged in batch order, each one's forecast added to what its project has spent, so a batch cannot
slip past a limit job by job.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tessera.cost import catalog as cat
from tessera.cost import db
from tessera.cost.budget import Verdict, judge
from tessera.cost.ledger import OPEN, Rate, attempt_cost
from tessera.errors import BudgetError
from tessera.models.spec import JobSpec
from tessera.scheduler.decide import Capacity

if TYPE_CHECKING:
    from tessera.placement.model import RuntimeModel


@dataclass
class Guarded:
    specs: list[JobSpec]
    holds: list[bool]
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def predicted_seconds(spec: JobSpec, model: RuntimeModel | None = None) -> float | None:
    """The chosen variant's predicted runtime, else the model's at the job's size, else None."""
    p = spec.placement
    if p is not None and p.chosen:
        for o in p.chosen.get("options", []):
            if o.get("variant") == p.chosen.get("variant") and o.get("predicted_s") is not None:
                return float(o["predicted_s"])
    if model is not None and p is not None and p.size_value is not None:
        from tessera.placement.apply import key_of

        return model.predict(key_of(spec), "gpu" if spec.resources.gpus else "cpu", p.size_value)
    return None


def forecast_usd(spec: JobSpec, rate: Rate, seconds: float | None) -> float | None:
    """Dollars for a job (all its elements) at ``rate``; None when its runtime is unknown."""
    if seconds is None:
        return None
    r = spec.resources
    n = spec.array.size if spec.array is not None else 1
    return n * rate.usd(r.cpus, r.memory_mb, r.gpus, seconds, spot=spec.tags.get("capacity") == "spot")


@dataclass
class _Spent:
    """What a project's attempts up to ``fixed_id`` cost, as far as it can no longer change: the
    ended ones summed in ``usd``, the ones still open then listed in ``open_ids``."""

    rates: tuple[int, float | None, float]  # the rates and pruned spend it was computed with (a change: start over)
    fixed_id: int = 0
    usd: float = 0.0
    open_ids: frozenset[int] = frozenset()


_spent: dict[tuple[str, str], _Spent] = {}
# attempts this close to the newest are read again next time: on PostgreSQL, ids come from a
# sequence and a claim may commit after a later one (SQLite hands out ids in commit order)
MARGIN_IDS = {"postgresql": 1024}


def spent_usd(store: db.Store, project: str, now: float, rates: Sequence[Rate] | None = None) -> float:
    """What ``project`` has spent: every attempt's cost, open ones until ``now``, pruned ones included.

    Incremental, since it runs at every submit to a project with a budget: an ended attempt's cost
    never changes (its rate is the one in force when it started), so only attempts added since the
    last call and those open then are read again, not the project's whole history. ``rates``: the
    store's rates, when the caller has read them already.
    """
    rates = db.rates(store) if rates is None else rates
    key = (store.url, project)
    pruned = db.pruned_usd(store, cached=True).get(project, 0.0)  # pruned attempts (``store.prune``) still count
    fingerprint = (len(rates), rates[-1].at if rates else None, pruned)  # a prune since: sum again
    known = _spent.get(key)
    if known is None or known.rates != fingerprint:
        known = _Spent(fingerprint)
    rows = db.attempt_rows(store, project=project, after_id=known.fixed_id, also=known.open_ids)
    newest = max((r.attempt_id for r in rows), default=known.fixed_id)
    fixed_id = max(known.fixed_id, newest - MARGIN_IDS.get(store.dialect, 0))
    total, fixed, still_open = known.usd, known.usd, set()
    for row in rows:
        c = attempt_cost(row, rates, now)
        usd = c.usd if c is not None else 0.0
        total += usd
        if row.attempt_id <= fixed_id:
            if row.state in OPEN:
                still_open.add(row.attempt_id)
            else:
                fixed += usd
    _spent[key] = _Spent(fingerprint, fixed_id, fixed, frozenset(still_open))
    return total + pruned


def guard(store: db.Store, specs: Sequence[JobSpec], total: Capacity, catalog: cat.Catalog | None = None,
          now: float | None = None) -> Guarded:
    """Apply budgets to a batch; raises ``BudgetError`` (nothing stored) when one refuses a job."""
    out = Guarded(list(specs), [False] * len(specs))
    budgets = db.budgets(store, cached=True)
    if not budgets or not any(s.project in budgets for s in specs):
        return out
    now = time.time() if now is None else now
    catalog = catalog or cat.load(None)
    rates = db.ensure_rates(store, total, catalog)
    rate = rates[-1]
    spent: dict[str, float] = {}
    for i, spec in enumerate(specs):
        b = budgets.get(spec.project)
        if b is None:
            continue
        if spec.project not in spent:
            spent[spec.project] = spent_usd(store, spec.project, now, rates)
        f = forecast_usd(spec, rate, predicted_seconds(spec))
        v = judge(spec.project, b, spent[spec.project], f)
        if v.action == "reject":
            raise BudgetError(
                f"job {spec.name or i + 1}: {v.message}",
                f"raise the budget (`tessera budget set {spec.project} --limit-usd N`), make the job smaller, "
                "or submit it to another project")
        if v.action == "downgrade":
            spec = downgrade(store, spec, total, rate)
            f = forecast_usd(spec, rate, predicted_seconds(spec))
        out.holds[i] = v.action == "hold"
        out.specs[i] = spec
        out.verdicts.append(v)
        if v.message:
            out.notes.append(f"job {spec.name or i + 1}: {v.message}")
        spent[spec.project] += f or 0.0
    return out


def downgrade(store: db.Store, spec: JobSpec, total: Capacity, rate: Rate) -> JobSpec:
    """The job on spot capacity and, when it offers variants, its cheapest one."""
    spec = spec.model_copy(update={"tags": {**spec.tags, "capacity": "spot"}})
    p = spec.placement
    if p is None or len(p.variants) < 2:
        return spec
    from tessera.placement import apply
    from tessera.placement.model import RuntimeModel

    model = RuntimeModel.from_rows(apply.load_profiles(store), apply.history(store))
    usable = [v for v in p.variants if v.cpus <= total.cpus and v.gpus <= len(total.gpus)] or list(p.variants)
    choice = apply.decide_for(spec, p.model_copy(update={"deadline_s": None}), usable, model,
                              apply.waits(apply.backlog(store, time.time()), total),
                              apply.rate_per_variant(rate, usable, spot=True), total, optimize="cost")
    return apply.apply_choice(spec, choice)
