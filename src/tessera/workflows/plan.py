"""Pure decisions about a workflow: check it against the registry, order it, key it, compile it to jobs.

``plan`` refuses cycles, unknown steps, components, ports and parameters, and port type
mismatches, each with a ``To fix:`` line; it decides which steps are mapped (fan-out) and how
each input is fed (``whole``, ``each`` element, ``gather``-ed); and it gives every step element
its cache key, the hash of its component version, parameters, item and upstream keys.
``compile_jobs`` turns a plan and the set of keys already finished into ``JobSpec``s with
Slurm-style dependencies (``afterok``, ``aftercorr``, ``afternotok``, ``afterany``).
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tessera.errors import CycleError, SpecError
from tessera.models.spec import (
    ArraySpec,
    Dependency,
    DependencyKind,
    JobSpec,
    Resources,
    RetryPolicy,
    spec_error,
)
from tessera.workflows.artifacts import digest
from tessera.workflows.components import Component
from tessera.workflows.ports import connects, element_type, is_list
from tessera.workflows.spec import StepSpec, WorkflowSpec

RUN_STEP = "tessera.workflows.runner:run_step"


@dataclass(frozen=True)
class Source:
    """Where one input port's values come from: ``how`` is ``whole``, ``one`` (one value into a
    list), ``each`` (element i from element i) or ``gather`` (every element, in index order)."""

    step: str
    output: str
    how: str
    keys: tuple[str, ...] = ()  # the upstream step's cache keys, one per element


@dataclass(frozen=True)
class PlannedStep:
    """A checked step: its component, validated parameters, sources, size and cache keys."""

    spec: StepSpec
    component: Component
    params: dict[str, Any]
    sources: dict[str, tuple[Source, ...]]
    items: tuple[Any, ...] | None
    keys: tuple[str, ...]
    upstream: frozenset[str]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def mapped(self) -> bool:
        return self.items is not None

    @property
    def conditional(self) -> bool:
        return self.spec.when is not None


@dataclass
class Plan:
    workflow: WorkflowSpec
    steps: list[PlannedStep] = field(default_factory=list)

    def step(self, name: str) -> PlannedStep:
        return next(s for s in self.steps if s.name == name)

    @property
    def keys(self) -> list[str]:
        return [k for s in self.steps for k in s.keys]


def plan(wf: WorkflowSpec, lookup: Callable[[str], Component]) -> Plan:
    """Check a workflow and key its steps (see the module docstring). Raises ``SpecError``."""
    comps = {s.name: lookup(s.component) for s in wf.steps}
    order = _order(wf)
    out = Plan(wf)
    done: dict[str, PlannedStep] = {}
    for name in order:
        step = wf.step(name)
        done[name] = _plan_step(wf, step, comps[name], done)
        out.steps.append(done[name])
    return out


def _order(wf: WorkflowSpec) -> list[str]:
    """Steps in dependency order; refuses references to unknown steps and cycles."""
    names = [s.name for s in wf.steps]
    edges: dict[str, list[str]] = {}
    for s in wf.steps:
        ups = [src for wires in s.wires().values() for src, _ in wires]
        ups += list(s.after) + (list(s.when.failed) + list(s.when.done) if s.when else [])
        for up in ups:
            if up not in names:
                raise SpecError(f"step {s.name!r} refers to step {up!r}, which the workflow does not have",
                                f"use one of the steps: {', '.join(names)}")
            if up == s.name:
                raise CycleError(f"step {s.name!r} depends on itself", "wire it from another step")
        edges[s.name] = sorted(set(ups))
    try:
        return list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        loop = list(reversed(exc.args[1]))  # graphlib names it against the edges' direction
        raise CycleError("steps form a cycle: " + " -> ".join(loop),
                         "remove one of the wires or conditions in the cycle") from None


def _plan_step(wf: WorkflowSpec, step: StepSpec, comp: Component, done: Mapping[str, PlannedStep]) -> PlannedStep:
    where = f"step {step.name!r}"
    sources: dict[str, tuple[Source, ...]] = {}
    each_sizes: dict[str, int] = {}
    for port_name, wires in step.wires().items():
        port = comp.input(port_name)
        srcs = []
        for up_name, out_name in wires:
            up = done[up_name]
            out_port = up.component.output(out_name)
            how = connects(out_port.type, port.type, up.mapped)
            if how is None and len(wires) > 1 and is_list(port.type) and not up.mapped \
                    and out_port.type == element_type(port.type):
                how = "one"
            if how is None or (len(wires) > 1 and how not in ("one", "gather")):
                raise SpecError(
                    f"{where}: input {port_name!r} is {port.type}, but {up_name}.{out_name} gives "
                    f"{out_port.type}{' from each element of a mapped step' if up.mapped else ''}",
                    _type_fix(port.type, out_port.type, up.mapped),
                )
            if how == "each":
                each_sizes[up_name] = len(up.items or ())
            srcs.append(Source(up_name, out_name, how, up.keys))
        sources[port_name] = tuple(srcs)
    missing = [p.name for p in comp.inputs if not p.optional and p.name not in sources]
    if missing:
        raise SpecError(f"{where}: inputs {missing} of component {comp.name!r} are not wired",
                        f"wire them under inputs:, e.g. {missing[0]}: STEP.OUTPUT")
    if step.when:
        read = {s.step for srcs in sources.values() for s in srcs}
        bad = read & set(step.when.failed)
        if bad:
            raise SpecError(f"{where} reads outputs of {sorted(bad)} but runs only when they fail",
                            "a failed step has no outputs: wire the inputs from another step")
    if step.placement_doc is not None and "placement" not in JobSpec.model_fields:
        raise SpecError(f"{where} offers variants, but this tessera has no placement engine",
                        "remove variants/placement from the step and give its resources instead")
    items = _items(step, each_sizes, where)
    params = dict(step.params)
    if items is not None and step.map is not None:
        if step.map.as_ in params:
            raise SpecError(f"{where}: parameter {step.map.as_!r} is both set and mapped over",
                            "set it under params or map over it, not both")
        params[step.map.as_] = items[0]  # checked against the component's model with a real item
    checked = comp.validate_params(params, where)
    if items is not None and step.map is not None:  # every item, as the component's model reads it
        as_ = step.map.as_
        items = (checked.pop(as_), *(comp.validate_params({**params, as_: item}, where)[as_] for item in items[1:]))
    upstream = frozenset(s.step for srcs in sources.values() for s in srcs) | frozenset(step.after) | (
        frozenset(step.when.failed) | frozenset(step.when.done) if step.when else frozenset())
    keys = _keys(step, comp, checked, sources, items)
    return PlannedStep(step, comp, checked, sources, items, keys, upstream)


def _type_fix(want: str, got: str, mapped: bool) -> str:
    if mapped and is_list(want):
        return f"gather a mapped step into {want} only from an output of type {element_type(want)}"
    if mapped:
        return (f"wire an output of type {want}, or declare the input as list[{got}] to gather every "
                "element of the mapped step")
    return f"wire an output of type {want} (`tessera components show` lists each component's ports)"


def _items(step: StepSpec, each_sizes: dict[str, int], where: str) -> tuple[Any, ...] | None:
    """The step's map items: its own ``map``, or one index per element of the mapped steps it follows."""
    sizes = set(each_sizes.values())
    own = step.map.items if step.map else None
    if len(sizes) > 1:
        raise SpecError(f"{where} follows mapped steps of different sizes: {each_sizes}",
                        "map the upstream steps over lists of the same length, or gather one of them")
    if own is not None and sizes and len(own) not in sizes:
        raise SpecError(f"{where} maps over {len(own)} items but follows mapped steps of size {sizes.pop()}",
                        "map over as many items as the upstream step has elements")
    if own is not None:
        return tuple(own)
    if sizes:
        return tuple(range(sizes.pop()))
    return None


def _keys(step: StepSpec, comp: Component, params: dict[str, Any], sources: dict[str, tuple[Source, ...]],
          items: tuple[Any, ...] | None) -> tuple[str, ...]:
    """One cache key per element: hash(component, version, parameters, item, upstream keys)."""
    base: dict[str, Any] = {"component": comp.name, "version": comp.version, "kind": comp.kind, "target": comp.target,
            "argv": list(comp.argv), "params": params}
    out = []
    for i in range(len(items) if items is not None else 1):
        wired: dict[str, list[Any]] = {}
        for port, srcs in sorted(sources.items()):
            wired[port] = []
            for s in srcs:
                ups = s.keys
                picked = [ups[i]] if s.how == "each" else list(ups)
                wired[port].append([s.output, s.how, picked])
        doc: dict[str, Any] = {**base, "inputs": wired}
        if items is not None and step.map is not None:
            doc["item"] = {step.map.as_: items[i]}
        elif items is not None:
            doc["index"] = i
        out.append(_hash(doc))
    return tuple(out)


def _hash(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class StepJob:
    """What compiling decided for one step: its job (or none) and why."""

    step: str
    status: str  # submitted | cached | skipped
    spec: JobSpec | None
    indices: tuple[int, ...] = ()
    body: dict[str, Any] | None = None  # what run_step reads from the artifact store (by its digest)


def job_name(workflow: str, step: str) -> str:
    return f"{workflow}.{step}"[:128]


def compile_jobs(p: Plan, finished: set[str], artifacts: str, payload: Mapping[str, str] | None = None) -> list[StepJob]:
    """Jobs for every step that still has work; steps whose elements all finished are ``cached``.

    Args:
        p: the plan.
        finished: cache keys with a complete manifest (``--resume``); empty to run everything.
        artifacts: the artifact store URL the jobs read and write.
        payload: pickled components by step name (functions that cannot be imported by name).
    """
    wf = p.workflow
    out: list[StepJob] = []
    status: dict[str, str] = {}
    indices: dict[str, tuple[int, ...]] = {}
    for ps in p.steps:
        todo = tuple(i for i, k in enumerate(ps.keys) if k not in finished or not ps.spec.cache or ps.conditional)
        handled = ps.spec.when.failed if ps.spec.when else ()
        read = {s.step for srcs in ps.sources.values() for s in srcs}
        if (handled and not any(status[u] == "submitted" for u in handled)) or any(
                status[u] == "skipped" for u in read):
            status[ps.name] = "skipped"  # what it handles cannot fail in this run, or an input never comes
            out.append(StepJob(ps.name, "skipped", None))
            continue
        if not todo:
            status[ps.name] = "cached"
            out.append(StepJob(ps.name, "cached", None))
            continue
        deps = _dependencies(wf.name, ps, status, indices, todo)
        body = _body(wf, ps, artifacts, (payload or {}).get(ps.name))
        spec = _job_spec(wf, ps, deps, todo, artifacts, digest(body))
        status[ps.name] = "submitted"
        indices[ps.name] = todo
        out.append(StepJob(ps.name, "submitted", spec, todo if ps.mapped else (), body))
    return out


def _dependencies(workflow: str, ps: PlannedStep, status: dict[str, str], indices: dict[str, tuple[int, ...]],
                  todo: tuple[int, ...]) -> tuple[Dependency, ...]:
    wf_kinds: dict[str, DependencyKind] = {}
    each = {s.step for srcs in ps.sources.values() for s in srcs if s.how == "each"}
    for up in sorted(ps.upstream):
        if status.get(up) != "submitted":
            continue  # cached or skipped: its outputs exist, or it will never run
        if ps.spec.when and up in ps.spec.when.failed:
            wf_kinds[up] = DependencyKind.AFTERNOTOK
        elif ps.spec.when and up in ps.spec.when.done:
            wf_kinds[up] = DependencyKind.AFTERANY
        elif up in each and ps.mapped and set(todo) <= set(indices[up]):
            wf_kinds[up] = DependencyKind.AFTERCORR  # element i starts when upstream element i is done
        else:
            wf_kinds[up] = DependencyKind.AFTEROK
    grouped: dict[DependencyKind, list[str]] = {}
    for up, kind in wf_kinds.items():
        grouped.setdefault(kind, []).append(up)
    return tuple(Dependency(kind=k, on=tuple(job_name(workflow, u) for u in ups)) for k, ups in grouped.items())


def _body(wf: WorkflowSpec, ps: PlannedStep, artifacts: str, pickled: str | None) -> dict[str, Any]:
    """Everything ``run_step`` needs for any element of the step (stored once, passed by digest)."""
    comp = ps.component
    return {
        "workflow": wf.name,
        "step": ps.name,
        "component": {"name": comp.name, "kind": comp.kind, "target": comp.target, "argv": list(comp.argv),
                      "outputs": {p.name: p.type for p in comp.outputs},
                      "inputs": {p.name: p.type for p in comp.inputs}},
        "pickled": pickled,
        "params": ps.params,
        "mapped": ps.mapped,
        "map_as": ps.spec.map.as_ if ps.spec.map else None,
        "items": list(ps.items) if ps.items is not None and ps.spec.map else None,
        "keys": list(ps.keys),
        "sources": {port: [{"how": s.how, "output": s.output, "keys": list(s.keys)} for s in srcs]
                    for port, srcs in ps.sources.items()},
        "artifacts": artifacts,
    }


def _job_spec(wf: WorkflowSpec, ps: PlannedStep, deps: tuple[Dependency, ...], todo: tuple[int, ...],
              artifacts: str, body: str) -> JobSpec:
    comp = ps.component
    resources = ps.spec.resources or Resources(**dict(comp.resources))
    array = None
    if ps.mapped:
        cap = ps.spec.map.max_running if ps.spec.map else None
        array = ArraySpec(spec=_compress(todo), max_running=cap)
    fields: dict[str, Any] = {
        "name": job_name(wf.name, ps.name),
        "function": RUN_STEP,
        "kwargs": {"workflow": wf.name, "step": ps.name, "artifacts": artifacts, "body": body},
        "project": wf.project,
        "queue": ps.spec.queue or "default",
        "priority": ps.spec.priority or 0,
        "tags": {"workflow": wf.name, "step": ps.name, "component": comp.name},
        "env": dict(ps.spec.env),
        "resources": resources,
        "timeout_s": ps.spec.timeout_s,
        "retry": RetryPolicy(attempts=ps.spec.retries + 1),
        "array": array,
        "dependencies": deps,
    }
    if ps.spec.placement_doc is not None:
        fields["placement"] = ps.spec.placement_doc
    try:
        return JobSpec.model_validate(fields)
    except ValidationError as exc:
        raise spec_error(exc, f"step {ps.name!r}") from None


def _compress(indices: tuple[int, ...]) -> str:
    """``(0, 1, 2, 5, 7, 8)`` -> ``"0-2,5,7-8"`` (Slurm's array syntax)."""
    parts = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = i
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)
