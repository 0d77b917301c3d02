"""The submit hook: choose a variant for each job that offers some, from what the store knows.

It reads the benchmark profiles of this machine (plus a JSON file named by
``TESSERA_PROFILES``, for recorded profiles), the runtime history of earlier placed jobs, the
rate in force and the queue's backlog per device, calls the pure ``decide.choose``, and returns
the spec rewritten to the chosen variant: its resources, ``params.device`` for a kernel, and
``TESSERA_VARIANT`` in its environment. The decision and its figures go in
``spec.placement.chosen`` and are stored with the job, for ``tessera explain``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tessera.bench.hardware import hardware_fingerprint
from tessera.cost import catalog as cat
from tessera.cost import db
from tessera.executors import coalesce as coalesce_env
from tessera.models.placement import PlacementSpec, Variant
from tessera.models.spec import JobSpec
from tessera.placement import coalesce
from tessera.placement.decide import Choice, choose
from tessera.placement.model import RuntimeModel, model_key, with_threads
from tessera.scheduler.decide import Capacity
from tessera.spot.policy import WORK_TAG
from tessera.store import Store
from tessera.store import schema as t
from tessera.store.engine import translated

logger = logging.getLogger(__name__)
HISTORY_JOBS = 2000  # the most recent placed jobs whose runtimes feed the model
RECENT_JOBS = 50_000  # how far back (in job ids) the runtime history and the coalescing figures look
_ACTIVE = ("runnable", "starting", "running")


def key_of(spec: JobSpec) -> str:
    """What the runtime model is keyed by: the placement's ``model``, the kernel, or the job name."""
    p = spec.placement
    if p is not None and p.model:
        return p.model
    if spec.kernel:
        return model_key(spec.kernel, spec.params)
    return spec.name or (spec.function or " ".join(spec.command or ()))[:64]


def load_profiles(store: Store) -> list[dict[str, Any]]:
    rows = store.profiles(hardware_fingerprint())
    extra = os.environ.get("TESSERA_PROFILES")
    if extra:
        try:
            doc = json.loads(Path(extra).read_text())
        except (OSError, ValueError) as exc:
            logger.warning("ignoring TESSERA_PROFILES=%s: %s", extra, exc)
        else:
            found = doc.get("profiles") or doc.get("results") or [] if isinstance(doc, dict) else doc
            rows += [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
    return rows


def history(store: Store) -> list[tuple[str, str, float, float]]:
    """(model key, device, size, seconds) of succeeded attempts of recently placed jobs (among the
    last ``RECENT_JOBS`` jobs: a read that does not grow with the store's history)."""
    j, a = t.jobs.c, t.attempts.c
    recent = select(func.max(j.id) - RECENT_JOBS).scalar_subquery()
    q = (select(j.spec, a.started_at, a.ended_at).join(t.attempts, a.job_id == j.id)
         .where(j.id > recent, j.state == "succeeded", a.state == "succeeded", j.spec.like('%"chosen"%'))
         .order_by(j.id.desc()).limit(HISTORY_JOBS))
    out = []
    with translated("reading placement history"), store.engine.connect() as conn:
        for spec_json, started, ended in conn.execute(q):
            spec = JobSpec.model_validate_json(spec_json)
            p = spec.placement
            if p is None or p.chosen is None or p.size_value is None or ended is None:
                continue
            v = next((v for v in p.variants if v.name == p.chosen.get("variant")), None)
            if v is not None and ended > started:
                out.append((key_of(spec), with_threads(v.device, _threads(v)), p.size_value, ended - started))
    return out


def backlog(store: Store, now: float) -> list[tuple[str, float, float]]:
    """(device, cpus, seconds left) of each job queued or running, from its placement forecast
    (else its timeout, else 0: unknown)."""
    j = t.jobs.c
    q = select(j.cpus, j.gpus, j.timeout_s, j.started_at, j.state, j.spec).where(
        j.state.in_(_ACTIVE), j.is_array.is_(False))
    out = []
    with translated("reading the queue"), store.engine.connect() as conn:
        for cpus, gpus, timeout_s, started, state, spec_json in conn.execute(q):
            left = timeout_s or 0.0
            if spec_json and '"chosen"' in spec_json:
                chosen = json.loads(spec_json).get("placement", {}).get("chosen") or {}
                pred = next((o.get("predicted_s") for o in chosen.get("options", [])
                             if o.get("variant") == chosen.get("variant")), None)
                left = pred if pred is not None else left
            if state == "running" and started:
                left = max(0.0, left - (now - started))
            out.append(("gpu" if gpus else "cpu", float(cpus), float(left)))
    return out


def waits(items: Iterable[tuple[str, float, float]], total: Capacity) -> dict[str, float]:
    """Seconds until a device frees up: its backlog spread over its slots (pure)."""
    cpu_work = sum(c * s for d, c, s in items if d == "cpu")
    gpu_work = sum(s for d, _c, s in items if d == "gpu")
    return {"cpu": cpu_work / max(total.cpus, 1.0), "gpu": gpu_work / max(len(total.gpus), 1)}


def place(store: Store, specs: Sequence[JobSpec], total: Capacity, catalog: cat.Catalog | None = None,
          now: float | None = None) -> list[JobSpec]:
    """Each spec with variants rewritten to its chosen variant, each array that asks for coalescing
    given its chunk; others unchanged (no reads)."""
    out = _place_variants(store, specs, total, catalog, now)
    if any(s.array is not None and s.kind != "command" for s in out):
        out = coalesce_arrays(store, out, total)
    return out


def _place_variants(store: Store, specs: Sequence[JobSpec], total: Capacity, catalog: cat.Catalog | None,
                    now: float | None) -> list[JobSpec]:
    if not any(s.placement is not None and s.placement.variants for s in specs):
        return list(specs)
    now = time.time() if now is None else now
    catalog = catalog or cat.load(None)
    model = RuntimeModel.from_rows(load_profiles(store), history(store))
    rate = db.ensure_rates(store, total, catalog)[-1]
    wait = waits(backlog(store, now), total)
    out = []
    for s in specs:
        p = s.placement
        if p is None or not p.variants:
            out.append(s)
            continue
        fits = [v for v in p.variants if v.cpus <= total.cpus and v.gpus <= len(total.gpus)
                and (v.memory_mb or 0) <= total.memory_mb]
        dropped = [v.name for v in p.variants if v not in fits]
        usable = fits or list(p.variants[:1])  # none fits: keep the first, so feasibility refuses it clearly
        choice = decide_for(s, p, usable, model, wait, rate_per_variant(rate, usable, spot=_spot(s)), total)
        out.append(apply_choice(s, choice, dropped))
    return out


def _spot(spec: JobSpec) -> bool:
    return spec.tags.get("capacity") == "spot"


def rate_per_variant(rate: db.Rate, variants: Sequence[Variant], spot: bool = False) -> dict[str, float]:
    return {v.name: rate.share(v.cpus, v.memory_mb, v.gpus) * rate.usd_per_hour(spot) for v in variants}


def decide_for(spec: JobSpec, p: PlacementSpec, variants: Sequence[Variant], model: RuntimeModel,
               wait: dict[str, float], usd_per_hour: dict[str, float], total: Capacity,
               optimize: str | None = None) -> Choice:
    key, size = key_of(spec), p.size_value
    label = ", ".join(f"{k}={v:g}" for k, v in p.size.items())
    pred = {v.name: (model.predict(key, v.device, size, threads=_threads(v)) if size is not None else None)
            for v in variants}
    return choose(variants, pred, wait, usd_per_hour, optimize or p.optimize, p.deadline_s, p.max_cost_usd, label,
                  count=spec.array.size if spec.array is not None else 1, slots=slots(variants, total))


def _threads(v: Variant) -> int | None:
    return max(1, int(v.cpus)) if v.device == "cpu" else None


def slots(variants: Sequence[Variant], total: Capacity) -> dict[str, int]:
    """How many runs of each variant fit side by side on the machine."""
    out = {}
    for v in variants:
        n = int(total.cpus // v.cpus) if v.cpus > 0 else 1
        if v.gpus:
            n = min(n, len(total.gpus) // v.gpus)
        out[v.name] = max(1, n)
    return out


def apply_choice(spec: JobSpec, choice: Choice, dropped: Sequence[str] = ()) -> JobSpec:
    """The spec rewritten to the chosen variant, with the decision recorded."""
    assert spec.placement is not None
    v = next(v for v in spec.placement.variants if v.name == choice.variant)
    resources = spec.resources.model_copy(update={
        "cpus": v.cpus, "gpus": v.gpus, "memory_mb": v.memory_mb or spec.resources.memory_mb})
    update: dict[str, Any] = {"resources": resources, "env": {**spec.env, "TESSERA_VARIANT": v.name}}
    predicted = choice.option(v.name).predicted_s
    if predicted is not None and WORK_TAG not in spec.tags:  # the spot side's deadline slack reads it
        update["tags"] = {**spec.tags, WORK_TAG: f"{predicted:.6g}"}
    if spec.kernel:
        update["params"] = {**spec.params, "device": "cuda:0" if v.gpus else "cpu"}
        if not v.gpus:
            update["params"]["threads"] = max(1, int(v.cpus))  # the threads it holds, as measured
    chosen = choice.as_dict()
    if dropped:
        chosen["dropped"] = {"variants": list(dropped), "why": "more than this machine has"}
    update["placement"] = spec.placement.model_copy(update={"chosen": chosen})
    return JobSpec.model_validate({**spec.model_dump(), **update})


# ------------------------------------------------------------------ coalescing (see placement.coalesce)

SAMPLE_ELEMENTS = 2_000  # the elements of that array they are taken from (its last ones)


def coalesce_arrays(store: Store, specs: Sequence[JobSpec], total: Capacity) -> list[JobSpec]:
    """Arrays of Python jobs: the coalescing decision (``placement.coalesce``, ``auto`` when not
    given), recorded in ``placement.coalesced``, and ``TESSERA_COALESCE`` in the environment when it
    coalesces. An array that did not ask and is not coalesced is left as it was."""
    out = []
    slots = max(1, int(total.cpus))
    for s in specs:
        p = s.placement
        mode = (p.coalesce if p is not None else None) or "auto"
        if s.array is None or s.kind == "command" or coalesce_env.ENV in s.env:  # set: a re-submitted spec keeps it
            out.append(s)
            continue
        element_s, overhead_s = element_figures(store, key_of(s), slots) if mode == "auto" else (None, None)
        d = coalesce.decide(mode, element_s, overhead_s, s.array.size, slots, s.timeout_s)
        if d.chunk <= 1 and (p is None or not p.coalesce):
            out.append(s)
            continue
        env = {**s.env, coalesce_env.ENV: str(d.chunk)} if d.chunk > 1 else s.env
        p = p or PlacementSpec()
        out.append(s.model_copy(update={"env": env, "placement": p.model_copy(update={"coalesced": d.as_dict()})}))
    return out


def element_figures(store: Store, key: str, slots: int) -> tuple[float | None, float | None]:
    """(median run time of an element, overhead of a round trip) from the recent finished arrays named ``key``.

    An element's run time is from its start on the worker (its ``running`` event, stamped by the
    worker) to its end. An array's overhead per element is its wall time per element on one slot
    (first start to last end × slots ÷ elements) minus that median. At chunk ``c`` it is ``a + b / c``:
    ``a`` what each element costs whatever the chunk (its claim, commit, environment), ``b`` what a
    round trip costs, the part coalescing spreads over a chunk. ``b`` is what the decision needs:

    * from the last array run one by one (overhead ``o1``) and the last coalesced one (``oc`` at
      chunk ``c``): ``b = (o1 - oc) / (1 - 1/c)``, at least 0. Coalescing that did not pay gives
      ``b`` near 0, and ``auto`` stops coalescing; one that paid keeps its chunk;
    * from an array run one by one only: ``b = o1`` (an upper bound: it includes ``a``);
    * from coalesced arrays only: ``b = oc × c`` (an upper bound too).

    A coalesced array does not make the next one look cheap to run one by one (``auto`` would swing
    on and off), and one whose elements cost more than their run time whatever the chunk does not
    make the next chunk larger (``auto`` would ratchet up to ``MAX_CHUNK``).
    At most three reads: the arrays, then the last ``SAMPLE_ELEMENTS`` elements of one or two of them.
    """
    j = t.jobs.c
    with translated("reading array history"), store.engine.connect() as conn:
        recent = select(func.max(j.id) - RECENT_JOBS).scalar_subquery()
        found = [(arr, _chunk_of(spec)) for arr, spec in conn.execute(
            select(j.id, j.spec).where(j.is_array.is_(True), j.name == key, j.state == "succeeded", j.id > recent)
            .order_by(j.id.desc()).limit(16))]  # newest first
        plain = next((arr for arr, chunk in found if chunk == 1), None)
        packed, c = next(((arr, chunk) for arr, chunk in found if chunk > 1), (None, 1))
        one = _measured(conn, plain, slots) if plain is not None else None
        many = _measured(conn, packed, slots) if packed is not None else None
    if one is None and many is None:
        return None, None
    plain_newer = one is not None and (many is None or (plain or 0) > (packed or 0))
    newest = one if plain_newer else many
    assert newest is not None
    run = newest[0]  # the run time of an element: from the newest array measured
    if one is not None and many is not None:
        return run, max(0.0, (one[1] - many[1]) / (1 - 1 / c))
    if one is not None:
        return run, one[1]
    assert many is not None
    return run, many[1] * c


def _measured(conn: Any, arr: int, slots: int) -> tuple[float, float] | None:
    """(median run time, overhead per element) of array ``arr``, from its last ``SAMPLE_ELEMENTS``."""
    j, e = t.jobs.c, t.events.c
    last = (select(j.id, j.ended_at).where(j.array_id == arr, j.state == "succeeded", j.ended_at.is_not(None))
            .order_by(j.id.desc()).limit(SAMPLE_ELEMENTS).subquery())
    rows = [(float(began), float(ended)) for began, ended in conn.execute(
        select(func.max(e.at), last.c.ended_at).join(last, last.c.id == e.job_id)
        .where(e.dst == "running").group_by(last.c.id, last.c.ended_at)).all()]
    if not rows:
        return None
    runs = sorted(max(0.0, b - a) for a, b in rows)
    run = runs[len(runs) // 2]
    span = max(b for _, b in rows) - min(a for a, _ in rows)
    return run, max(0.0, span * min(slots, len(rows)) / len(rows) - run)


def _chunk_of(spec_json: str | None) -> int:
    """The chunk an array ran with (``TESSERA_COALESCE`` in its spec's environment), 1 if none."""
    try:
        return coalesce_env.chunk_of(json.loads(spec_json or "{}").get("env") or {})
    except (ValueError, AttributeError):  # not JSON, or not an object
        return 1
