"""Submitting a workflow: plan it, find what is already finished (``--resume``), submit its jobs, record it.

Every step becomes one job (or one array job when mapped) in a single ``submit`` transaction,
with dependencies between them, so the controller starts each step as soon as its inputs
exist; nothing here waits or polls. ``Run`` follows a submitted workflow and reads its outputs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tessera.errors import NotFoundError, SpecError, WaitTimeoutError
from tessera.scheduler.decide import Capacity
from tessera.store import Store
from tessera.submit import submit as submit_specs
from tessera.workflows import records, registry
from tessera.workflows.artifacts import ArtifactStore, Ref, default_url
from tessera.workflows.components import Component, from_argv
from tessera.workflows.plan import Plan, compile_jobs, plan
from tessera.workflows.records import StepRecord
from tessera.workflows.spec import WorkflowSpec

if TYPE_CHECKING:
    from tessera.client import Client


@dataclass(frozen=True)
class Submitted:
    """What ``submit`` did: the workflow id, the plan, and each step's status and job id."""

    id: int
    plan: Plan
    steps: tuple[StepRecord, ...]

    @property
    def job_ids(self) -> list[int]:
        return [s.job_id for s in self.steps if s.job_id is not None]


def prepare(wf: WorkflowSpec, extra: Mapping[str, Component] | None = None) -> Plan:
    """Import the workflow's modules, check it against the registry, and check container engines."""
    registry.import_modules(wf.imports, f"workflow {wf.name!r}")
    known = {**declared(wf), **dict(extra or {})}

    def lookup(name: str) -> Component:
        return known[name] if name in known else registry.get(name)

    p = plan(wf, lookup)
    if any(s.component.kind == "container" for s in p.steps):
        from tessera.workflows.containers import find_engine

        find_engine()
    return p


_ARGV_FIELDS = {"argv", "image", "version", "inputs", "outputs", "params", "resources", "summary"}


def declared(wf: WorkflowSpec) -> dict[str, Component]:
    """The command and container components a workflow file declares under ``components:``."""
    out = {}
    for name, fields in wf.components.items():
        unknown = set(fields) - _ARGV_FIELDS
        if unknown or "argv" not in fields:
            raise SpecError(
                f"workflow {wf.name!r}: component {name!r} " + (f"has unknown fields {sorted(unknown)}" if unknown
                                                                 else "has no argv"),
                f"declare it with {', '.join(sorted(_ARGV_FIELDS))} (argv required)",
            )
        try:
            out[name] = from_argv(name, **fields)
        except (TypeError, AttributeError, ValueError) as exc:
            raise SpecError(f"workflow {wf.name!r}: component {name!r}: {exc}",
                            "write inputs and outputs as {name: type} mappings and argv as a list") from None
    return out


def submit(store: Store, total: Capacity, wf: WorkflowSpec, *, home: Any, resume: bool = False,
           extra: Mapping[str, Component] | None = None) -> Submitted:
    """Check, compile and submit a workflow; returns its id and what each step became.

    Args:
        store: the durable store.
        total: this machine's capacity (jobs that can never fit are refused).
        wf: the workflow.
        home: ``TESSERA_HOME`` (the default artifact store is ``$TESSERA_HOME/artifacts``).
        resume: skip every step element whose cache key already has a complete manifest.
        extra: components by name that are not in the registry (the Python API passes its own).
    """
    p = prepare(wf, extra)
    url = wf.artifacts or default_url(home)
    arts = ArtifactStore(url)
    finished = arts.finished(p.keys) if resume else set()
    compiled = compile_jobs(p, finished, url, _pickled(p))
    for c in compiled:
        if c.body is not None:
            arts.put_value(c.body, "json")  # before the job exists: its worker reads it by digest
    specs = [c.spec for c in compiled if c.spec is not None]
    ids = iter(submit_specs(store, specs, total)) if specs else iter(())
    steps = []
    for position, c in enumerate(compiled):
        ps = p.step(c.step)
        steps.append(StepRecord(c.step, position, ps.component.name, c.status,
                                next(ids) if c.spec is not None else None,
                                len(ps.keys) if ps.mapped else None, ps.keys, ps.conditional))
    wf_id = records.insert(store, wf.model_dump(mode="json", by_alias=True), url, resume, steps)
    return Submitted(wf_id, p, tuple(steps))


def _pickled(p: Plan) -> dict[str, str]:
    """Python components a worker cannot import by name (defined in ``__main__`` or in a function)."""
    out = {}
    for ps in p.steps:
        comp = ps.component
        module, _, qualname = comp.target.partition(":")
        if comp.kind == "python" and comp.fn is not None and (module == "__main__" or "<locals>" in qualname):
            import cloudpickle

            out[ps.name] = base64.b64encode(cloudpickle.dumps(comp.fn)).decode()
    return out


class Run:
    """A submitted workflow: its state, waiting, and its outputs."""

    def __init__(self, store: Store, workflow_id: int, client: Client | None = None) -> None:
        self.store = store
        self.id = workflow_id
        self._client = client

    @property
    def record(self) -> records.WorkflowRecord:
        return records.get(self.store, self.id)

    def states(self) -> dict[str, str]:
        return records.states(self.store, self.record)

    @property
    def state(self) -> str:
        return records.workflow_state(self.states().values())

    def wait(self, timeout: float | None = None, poll_s: float = 0.05) -> str:
        """Wait until every step ended; returns the workflow's state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        record = self.record
        if self._client is not None:  # woken by the embedded controller instead of polling
            from tessera.client import JobHandle

            self._client.wait([JobHandle(self._client, j, str(j)) for j in records.job_ids(record)], timeout)
        while True:
            state = records.workflow_state(records.states(self.store, record).values())
            if state != "running":
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"workflow {self.id} is still running after {timeout:g} s",
                                       f"wait longer, or see it with `tessera workflow show {self.id}`")
            time.sleep(poll_s)

    def cancel(self) -> int:
        n = self.store.request_cancel(records.job_ids(self.record))
        if self._client is not None:
            self._client._poke()
        return n

    def outputs(self, step: str) -> list[dict[str, Ref | list[Ref]]]:
        """A finished step's outputs by name, one mapping per element (one for an unmapped step)."""
        record = self.record
        found = next((s for s in record.steps if s.step == step), None)
        if found is None:
            raise NotFoundError(f"workflow {self.id} has no step {step!r}",
                                f"use one of: {', '.join(s.step for s in record.steps)}")
        arts = ArtifactStore(record.artifacts)
        return [arts.outputs(key) for key in found.keys]

    def refs(self, step: str, output: str | None = None) -> list[Ref]:
        """One output's references, one per element; ``output`` defaults to the component's first."""
        out: list[Ref] = []
        for outputs in self.outputs(step):
            name = output or next(iter(outputs))
            if name not in outputs:
                raise NotFoundError(f"step {step!r} has no output {name!r}", f"use one of: {', '.join(outputs)}")
            ref = outputs[name]
            out.extend(ref if isinstance(ref, list) else [ref])
        return out

    def values(self, step: str, output: str | None = None) -> list[Any]:
        """A finished step's output values (arrays, JSON values, or file paths), one per element."""
        arts = ArtifactStore(self.record.artifacts)
        return [arts.load(r) for r in self.refs(step, output)]

    def value(self, step: str, output: str | None = None) -> Any:
        """The output value of an unmapped step."""
        return self.values(step, output)[0]
