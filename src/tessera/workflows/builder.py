"""The Python way to write a workflow: ``Workflow.step`` returns a ``StepRef`` whose attributes are its outputs.

::

    wf = Workflow("squares")
    make = wf.step("make", "array.random", params={"shape": [4], "seed": 1})
    scaled = wf.step("scale", scale, inputs={"x": make.out}, map={"over": [1, 2, 3], "as": "factor"})
    wf.step("total", "array.sum", inputs={"items": scaled.out})
    with tessera.Client() as client:
        run = wf.run(client)
        print(run.value("total"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tessera.workflows import engine
from tessera.workflows.components import Component
from tessera.workflows.registry import of
from tessera.workflows.spec import WorkflowSpec, from_dict

if TYPE_CHECKING:
    from tessera.client import Client


class StepRef:
    """A step of a ``Workflow``; ``ref.NAME`` (or ``ref["NAME"]``) wires its output ``NAME``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, output: str) -> str:
        if output.startswith("__"):
            raise AttributeError(output)
        return f"{self.name}.{output}"

    def __getitem__(self, output: str) -> str:
        return f"{self.name}.{output}"

    def __repr__(self) -> str:
        return f"<StepRef {self.name}>"


class Workflow:
    """A workflow built in Python; ``spec()`` is the same ``WorkflowSpec`` a YAML file gives."""

    def __init__(self, name: str, *, artifacts: str | None = None, project: str = "default",
                 imports: Sequence[str] = (), defaults: Mapping[str, Any] | None = None) -> None:
        self.doc: dict[str, Any] = {"name": name, "project": project, "imports": list(imports), "steps": []}
        if artifacts:
            self.doc["artifacts"] = artifacts
        if defaults:
            self.doc["defaults"] = dict(defaults)
        self.components: dict[str, Component] = {}

    def step(self, name: str, component: str | Component | Callable[..., Any], *,
             params: Mapping[str, Any] | None = None, inputs: Mapping[str, str | Sequence[str]] | None = None,
             map: Sequence[Any] | range | Mapping[str, Any] | None = None, map_as: str = "item",
             when: Mapping[str, Sequence[str]] | None = None, after: Sequence[str | StepRef] = (),
             **options: Any) -> StepRef:
        """Add a step. ``component`` is a registered name, a ``Component`` or a decorated function;
        ``map`` a list, a ``range`` or a ``{over|range, as}`` mapping; ``when`` ``{failed|done: [steps]}``;
        ``options`` are ``resources``, ``retries``, ``timeout_s``, ``queue``, ``priority``, ``env``, ``cache``."""
        if isinstance(component, str):
            comp_name = component
        else:
            comp = of(component)
            self.components[comp.name] = comp
            comp_name = comp.name
        raw: dict[str, Any] = {"name": name, "component": comp_name, **options}
        if params:
            raw["params"] = dict(params)
        if inputs:
            raw["inputs"] = {k: v if isinstance(v, str) else list(v) for k, v in inputs.items()}
        if map is not None:
            raw["map"] = _map(map, map_as)
        if when:
            raw["when"] = {k: list(v) for k, v in when.items()}
        if after:
            raw["after"] = [a.name if isinstance(a, StepRef) else a for a in after]
        self.doc["steps"].append(raw)
        return StepRef(name)

    def spec(self) -> WorkflowSpec:
        return from_dict(self.doc, f"workflow {self.doc['name']!r}")

    def submit(self, client: Client, resume: bool = False) -> engine.Run:
        """Submit through a ``tessera.Client``; returns a ``Run`` to wait on and read outputs from."""
        done = engine.submit(client.store, client.total, self.spec(), home=client.settings.home,
                             resume=resume, extra=self.components)
        client._poke()
        return engine.Run(client.store, done.id, client)

    def run(self, client: Client, resume: bool = False, timeout: float | None = None) -> engine.Run:
        """Submit and wait until every step ended."""
        run = self.submit(client, resume)
        run.wait(timeout)
        return run


def _map(value: Sequence[Any] | range | Mapping[str, Any], as_: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"as": as_, **value}
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step], "as": as_}
    return {"over": list(value), "as": as_}
