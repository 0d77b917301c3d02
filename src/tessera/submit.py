"""Accepting work: feasibility against this machine, dependency references, job files; then the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from tessera.errors import CycleError, InfeasibleError, NotFoundError, SpecError
from tessera.models.job import parse_ref
from tessera.models.spec import JobSpec
from tessera.remote import RemoteStore
from tessera.scheduler.decide import Capacity, fits_at_all
from tessera.store import Candidate, NewJob, Store
from tessera.store.hot import Tx


def check_feasible(spec: JobSpec, total: Capacity) -> None:
    """Refuse a job that could never run here (more CPUs, memory or GPUs than exist); with
    executors per queue, more than its own queue's executor has."""
    r = spec.resources
    own = total.for_queue(spec.queue)
    if fits_at_all(own, r.cpus, r.memory_mb, r.gpus):
        return
    have = f"{own.cpus:g} CPUs, {own.memory_mb} MB memory and {len(own.gpus)} GPUs"
    want = f"{r.cpus:g} CPUs, {r.memory_mb or 0} MB and {r.gpus} GPUs"
    where, fix = "this machine has", ("ask for at most what the machine has (`tessera status` shows it), or "
                                      "declare logical GPUs with TESSERA_GPUS for testing")
    if own is not total:
        where = f"the executor of queue {spec.queue!r} has"
        fix = ("submit it to a queue whose executor has that much (`tessera status` lists each executor's "
               "queues and resources), or ask for less")
    raise InfeasibleError(
        f"job {spec.name or ''} asks for {want}, but {where} only {have}".replace("job  ", "job "),
        fix,
        want=want,
        have=have,
    )


def submit(
    store: Store,
    specs: Sequence[JobSpec],
    total: Capacity,
    element_payloads: dict[int, tuple[bytes, ...]] | None = None,
    notes: list[str] | None = None,
    accepted: list[Candidate] | None = None,
    admit: Callable[[Tx, list[Candidate]], None] | None = None,
    final: list[JobSpec] | None = None,
    spec_json: Sequence[str | None] | None = None,
    then: Callable[[Tx, list[int]], None] | None = None,
) -> list[int]:
    """Validate and store jobs in one transaction. Dependencies name job ids (``12``, ``12_3``) or,
    within one batch, the ``name`` of an earlier or later job of the batch; returns the ids.
    Jobs with variants are placed first, then budgets apply (their messages go to ``notes``).
    ``accepted`` and ``admit``: see ``Store.submit``; ``final`` receives the specs as stored (placement
    and budgets may rewrite them), in the order given; ``spec_json``, each spec's stored JSON when
    the caller keeps it (``Client.submit`` reuses one per set of options); ``then``: see
    ``Store.submit`` (it gets the ids in the order given)."""
    if isinstance(store, RemoteStore):  # TESSERA_URL: the server does all of this on its side
        return store.submit_specs(specs, element_payloads)
    batch_names = {s.name: i for i, s in enumerate(specs) if s.name}
    one = len(specs) == 1 and not specs[0].dependencies  # the SDK's common case: nothing to order
    order = [0] if one else _topological(specs, batch_names)
    position = {old: new for new, old in enumerate(order)}
    deps_of: dict[int, tuple[tuple[str, int | tuple[str, int]], ...]] = {}
    for i in order:
        spec = specs[i]
        if spec.placement is None:
            check_feasible(spec, total)
        deps: list[tuple[str, int | tuple[str, int]]] = []
        for dep in spec.dependencies:
            for ref in dep.on:
                if ref in batch_names:
                    deps.append((dep.kind.value, ("batch", position[batch_names[ref]])))
                else:
                    deps.append((dep.kind.value, _existing(store, ref)))
        deps_of[i] = tuple(deps)
    placed, holds = _cost_hooks(store, specs, total, notes)  # after validation: bad input never reaches them
    if any(a is not b for a, b in zip(placed, specs, strict=True)):
        admit = None  # placement or a budget rewrote a spec: the controller claims it the ordinary way
    items = []
    for i in order:
        same = placed[i] is specs[i]
        if not same or specs[i].placement is not None:  # checked above unless rewritten or placed
            check_feasible(placed[i], total)
        items.append(NewJob(placed[i], deps_of[i], (element_payloads or {}).get(i), hold=holds[i],
                            spec_json=spec_json[i] if spec_json is not None and same else None))
    in_order = None if then is None else (
        lambda tx, got: then(tx, [got[position[i]] for i in range(len(specs))]))
    ids = store.submit(items, accepted=accepted, admit=admit, then=in_order)
    if final is not None:
        final.extend(placed)
    return [ids[position[i]] for i in range(len(specs))]


def _cost_hooks(store: Store, specs: Sequence[JobSpec], total: Capacity,
                notes: list[str] | None) -> tuple[list[JobSpec], list[bool]]:
    """Placement (jobs with variants) and budgets (projects with one): see ``tessera.cost.guard``.
    A remote store (``TESSERA_URL``) has no database here: the server applies them when it submits."""
    if getattr(store, "engine", None) is None:
        return list(specs), [False] * len(specs)
    if any(s.placement is not None or (s.array is not None and s.kind != "command") for s in specs):
        from tessera.placement.apply import place  # variants; arrays of Python jobs: coalescing

        specs = place(store, specs, total)
    from tessera.cost.guard import guard

    g = guard(store, specs, total)
    if notes is not None:
        notes.extend(g.notes)
    else:
        for note in g.notes:  # the SDK has no console: say it through logging
            logging.getLogger("tessera.budget").warning("%s", note)
    return g.specs, g.holds


def _existing(store: Store, ref: str) -> int:
    try:
        job_id, index = parse_ref(ref)
    except NotFoundError:
        raise SpecError(
            f"dependency on {ref!r}, which is neither a job id nor a job of this file",
            "name an existing job id (see `tessera ls`) or the name of a job in the same file",
        ) from None
    if index is None:
        return job_id
    try:
        return store.job(ref).id
    except NotFoundError:
        raise SpecError(f"dependency on {ref}, which does not exist", "depend on a job `tessera ls` shows") from None


def _topological(specs: Sequence[JobSpec], names: dict[str, int]) -> list[int]:
    """Order a batch so every job comes after the batch jobs it depends on; refuse cycles."""
    edges = {i: {names[r] for d in s.dependencies for r in d.on if r in names} for i, s in enumerate(specs)}
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int, path: list[int]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            loop = [specs[j].name or str(j) for j in [*path[path.index(i):], i]]
            raise CycleError(
                "dependencies form a cycle: " + " -> ".join(loop),
                "remove one of the dependencies in the cycle so the jobs can be ordered",
            )
        state[i] = 1
        for j in sorted(edges[i]):
            visit(j, [*path, i])
        state[i] = 2
        order.append(i)

    for i in range(len(specs)):
        visit(i, [])
    return order
