"""What a user writes: ``WorkflowSpec`` and ``StepSpec`` (strict pydantic), read from YAML or built in Python.

A step names a component, its parameters, where each input comes from (``STEP.OUTPUT``), how it
fans out (``map``), when it runs (``when``), its resources and retries. Wiring, port types and
cycles are checked later, against the registry, by ``plan``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tessera.errors import SpecError
from tessera.models.spec import Resources

STEP_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,62}\Z")
_WIRE = re.compile(r"^([a-z][a-z0-9_\-]{0,62})\.([A-Za-z_][A-Za-z0-9_]{0,63})\Z")
MAX_MAP = 100_000

EXAMPLE = """\
name: squares
steps:
  - name: make
    component: array.random
    params: {shape: [4, 4], seed: 1}
  - name: scale
    component: mylab.scale          # a @tessera.component from a module under imports:
    map: {over: [1, 2, 3], as: factor}
    inputs: {x: make.out}
  - name: total
    component: array.sum            # its input is list[array]: it gathers the mapped step
    inputs: {items: scale.out}
  - name: alert
    component: mylab.notify
    when: {failed: [total]}         # runs only if total fails
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MapSpec(_Strict):
    """Fan-out: one array element per item of ``over`` (a list) or of ``range`` (``N`` or ``[START, STOP]``),
    bound to the parameter named ``as``. ``max_running`` caps concurrent elements."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    over: tuple[Any, ...] | None = None
    range: tuple[int, ...] | int | None = None
    as_: Annotated[str, Field(alias="as")] = "item"
    max_running: Annotated[int, Field(ge=1, le=MAX_MAP)] | None = None

    @model_validator(mode="after")
    def _one(self) -> MapSpec:
        if (self.over is None) == (self.range is None):
            raise ValueError("map needs exactly one of over (a list) or range (N or [START, STOP])")
        if not 1 <= len(self.items) <= MAX_MAP:
            raise ValueError(f"map must have between 1 and {MAX_MAP} items")
        return self

    @property
    def items(self) -> list[Any]:
        if self.over is not None:
            return list(self.over)
        bounds = (self.range,) if isinstance(self.range, int) else tuple(self.range or ())
        if len(bounds) not in (1, 2, 3):
            raise ValueError("range must be N, [START, STOP] or [START, STOP, STEP]")
        return list(range(*bounds))


class When(_Strict):
    """Conditional steps: run after ``failed`` steps fail, or after ``done`` steps end in any state."""

    failed: tuple[str, ...] = ()
    done: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _some(self) -> When:
        if not self.failed and not self.done:
            raise ValueError("when needs failed: [STEP...] or done: [STEP...]")
        return self


class StepSpec(_Strict):
    """One step of a workflow."""

    name: str
    component: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    map: MapSpec | None = None
    when: When | None = None
    after: tuple[str, ...] = ()
    resources: Resources | None = None
    variants: tuple[dict[str, Any], ...] = ()  # shorthand for placement: {variants: [...]}
    placement: dict[str, Any] | None = None  # variants and goal, as a job's placement (issue 4)
    retries: Annotated[int, Field(ge=0, le=99)] = 0
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    queue: str | None = None
    priority: int | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cache: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STEP_NAME.match(v):
            raise ValueError("a step name is 1-63 lower-case letters, digits, '_' or '-', starting with a letter")
        return v

    @field_validator("inputs")
    @classmethod
    def _wires(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for port, src in v.items():
            for one in [src] if isinstance(src, str) else src:
                if not _WIRE.match(one):
                    raise ValueError(f"input {port!r} comes from {one!r}; write STEP.OUTPUT, e.g. make.out")
        return v

    @property
    def placement_doc(self) -> dict[str, Any] | None:
        """The job's placement: ``placement`` with ``variants`` merged in, or ``None``."""
        if not self.variants and self.placement is None:
            return None
        doc = dict(self.placement or {})
        if self.variants:
            doc["variants"] = [*doc.get("variants", []), *self.variants]
        return doc

    def wires(self) -> dict[str, list[tuple[str, str]]]:
        """Each input's sources as (step, output) pairs; a list of sources feeds a list input."""
        out: dict[str, list[tuple[str, str]]] = {}
        for port, src in self.inputs.items():
            out[port] = [_split(s) for s in ([src] if isinstance(src, str) else src)]
        return out


def _split(wire: str) -> tuple[str, str]:
    m = _WIRE.match(wire)
    assert m is not None
    return m.group(1), m.group(2)


class WorkflowSpec(_Strict):
    """A workflow: named steps wired into a DAG."""

    name: str
    steps: tuple[StepSpec, ...]
    imports: tuple[str, ...] = ()
    components: dict[str, dict[str, Any]] = Field(default_factory=dict)
    artifacts: str | None = None
    project: str = "default"
    defaults: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STEP_NAME.match(v):
            raise ValueError("a workflow name is 1-63 lower-case letters, digits, '_' or '-'")
        return v

    @model_validator(mode="after")
    def _unique(self) -> WorkflowSpec:
        if not self.steps:
            raise ValueError("a workflow needs at least one step")
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"the step name {step.name!r} is used twice")
            seen.add(step.name)
        return self

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


_DEFAULTABLE = {"resources", "retries", "timeout_s", "queue", "priority", "env", "variants", "placement"}


def is_workflow(doc: Any) -> bool:
    """A parsed YAML document is a workflow (it has ``steps``) rather than a job file (``jobs``)."""
    return isinstance(doc, dict) and "steps" in doc and "jobs" not in doc


def load(path: str | Path) -> WorkflowSpec:
    from tessera.jobfile import read

    return parse(read(path, "workflow file"), str(path))


def parse(text: str, where: str = "workflow") -> WorkflowSpec:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{where} is not valid YAML: {e}", "write the file as in this example:\n" + EXAMPLE) from None
    return from_dict(doc, where)


def from_dict(doc: Any, where: str = "workflow") -> WorkflowSpec:
    """Validate a workflow document; ``defaults`` fill each step's resources, retries, timeout, queue."""
    fix = "write the workflow as in this example:\n" + EXAMPLE
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise SpecError(f"{where} needs a 'steps' list", fix)
    if not doc.get("name") and where.endswith((".yaml", ".yml")):
        doc = {**doc, "name": re.sub(r"[^a-z0-9_\-]", "-", Path(where).stem.lower())[:63] or "workflow"}
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - _DEFAULTABLE:
        raise SpecError(f"{where}: defaults may set only {sorted(_DEFAULTABLE)}", fix)
    steps = []
    for raw in doc["steps"]:
        if not isinstance(raw, dict):
            raise SpecError(f"{where}: every step must be a mapping", fix)
        steps.append({**defaults, **raw})
    try:
        return WorkflowSpec.model_validate({**doc, "steps": steps})
    except ValidationError as exc:
        raise _error(exc, doc, where) from None


def _error(exc: ValidationError, doc: dict[str, Any], where: str) -> SpecError:
    lines = []
    for err in exc.errors()[:5]:
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            with contextlib.suppress(IndexError, AttributeError):
                loc[1] = doc["steps"][loc[1]].get("name", loc[1])
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(str(p) for p in loc) or 'workflow'}: {msg}")
    return SpecError(
        f"{where}: invalid workflow: " + "; ".join(lines),
        "correct the fields named above; a workflow looks like this:\n" + EXAMPLE,
    )

