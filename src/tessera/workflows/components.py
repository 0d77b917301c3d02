"""``Component``: a typed, versioned unit of work (kernel, Python function, command or container image).

Inputs and outputs are ``Port``s; parameters are a pydantic model, so every component publishes
JSON Schema (``Component.describe()``) that a UI draws forms from and checks port types with.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from tessera.errors import SpecError
from tessera.workflows.ports import Port, check_type, from_annotation

Kind = Literal["kernel", "python", "command", "container"]
KINDS: tuple[str, ...] = ("kernel", "python", "command", "container")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\Z")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_RESOURCE_KEYS = {"cpus", "memory_mb", "gpus"}


class Params(BaseModel):
    """Base of every component's parameter model: unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Component:
    """A registered component.

    Attributes:
        name: dotted lower-case name (``kernel.matmul``, ``seismic.rtm``).
        version: part of every cache key; change it when results would change.
        kind: ``kernel``, ``python``, ``command`` or ``container``.
        summary: one line for listings.
        inputs: ports wired from upstream outputs.
        outputs: ports this component produces.
        params: the pydantic model that validates parameters (and gives their JSON Schema).
        resources: default resources of a step (``cpus``, ``memory_mb``, ``gpus``).
        target: what runs: a kernel name, a ``module:qualname``, or an image.
        argv: the argument template of a command or container (``{params.n}``, ``{inputs.x}``,
            ``{outputs.y}`` are replaced by values and paths).
        fn: the Python function (python kind), kept for direct calls and pickling.
    """

    name: str
    version: str
    kind: Kind
    summary: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: type[BaseModel]
    resources: Mapping[str, Any] = field(default_factory=dict)
    target: str = ""
    argv: tuple[str, ...] = ()
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"component {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SpecError(f"{where}: the name must be dotted lower-case words, e.g. seismic.rtm",
                            "rename the component, e.g. @component('mylab.simulate')")
        if self.kind not in KINDS:
            raise SpecError(f"{where}: unknown kind {self.kind!r}", f"use one of {', '.join(KINDS)}")
        seen: set[str] = set()
        for port in (*self.inputs, *self.outputs):
            if not _IDENT.match(port.name):
                raise SpecError(f"{where}: port name {port.name!r} is not an identifier", "use letters, digits and _")
            check_type(port.type, f"{where}: port {port.name}")
        for port in self.inputs:
            if port.name in seen:
                raise SpecError(f"{where}: input {port.name!r} is declared twice", "give each input one name")
            seen.add(port.name)
        if len({p.name for p in self.outputs}) != len(self.outputs):
            raise SpecError(f"{where}: two outputs share a name", "give each output its own name")
        clash = seen & set(self.params.model_fields)
        if clash:
            raise SpecError(f"{where}: {sorted(clash)} are both inputs and parameters", "rename one of them")
        bad = set(self.resources) - _RESOURCE_KEYS
        if bad:
            raise SpecError(f"{where}: unknown resources {sorted(bad)}", "use cpus, memory_mb and gpus")

    def input(self, name: str) -> Port:
        return _port(self.name, self.inputs, name, "input", "wire one of its inputs")

    def output(self, name: str) -> Port:
        return _port(self.name, self.outputs, name, "output", "use one of its outputs")

    def params_schema(self) -> dict[str, Any]:
        """JSON Schema of the parameters (what a form draws)."""
        return self.params.model_json_schema()

    def validate_params(self, given: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Check parameters against the model and fill defaults; JSON-ready values.

        Raises:
            SpecError: unknown, missing or mistyped parameters, each named, with a ``To fix:`` line.
        """
        prefix = f"{where}: " if where else ""
        try:
            return self.params.model_validate(dict(given)).model_dump(mode="json")
        except ValidationError as exc:
            lines = []
            for err in exc.errors()[:5]:
                loc = ".".join(str(p) for p in err["loc"]) or "params"
                msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
                lines.append(f"{loc}: {msg}")
            names = ", ".join(self.params.model_fields) or "(none)"
            raise SpecError(
                f"{prefix}bad parameters for component {self.name!r}: " + "; ".join(lines),
                f"give only these parameters with the types `tessera components show {self.name}` lists: {names}",
            ) from None

    def describe(self) -> dict[str, Any]:
        """Everything a UI or ``tessera components show`` needs, as JSON-ready data."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "summary": self.summary,
            "target": self.target,
            "argv": list(self.argv),
            "inputs": [{"name": p.name, "type": p.type, "optional": p.optional, "description": p.description,
                        "schema": p.schema()} for p in self.inputs],
            "outputs": [{"name": p.name, "type": p.type, "description": p.description, "schema": p.schema()}
                        for p in self.outputs],
            "params": self.params_schema(),
            "resources": dict(self.resources),
        }


def _port(component: str, ports: tuple[Port, ...], name: str, what: str, fix: str) -> Port:
    for port in ports:
        if port.name == name:
            return port
    raise SpecError(f"component {component!r} has no {what} {name!r}",
                    f"{fix}: {', '.join(p.name for p in ports) or '(it has none)'}")


# --------------------------------------------------------------------------- Python functions


def from_function(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    version: str | None = None,
    outputs: Mapping[str, str] | str | None = None,
    inputs: Mapping[str, str] | Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
    summary: str | None = None,
) -> Component:
    """Describe a Python function as a component.

    Arguments annotated ``np.ndarray``, ``File``/``Path`` or a list of those are inputs; names
    listed in ``inputs`` are inputs too (``json`` unless a type is given); every other argument is
    a parameter, typed by its annotation and defaulted by its default. The return value is the
    one output (``outputs="array"`` or ``{"out": "array"}``), or a dict with one key per output.
    The version defaults to a hash of the function's source, so editing it invalidates the cache.
    """
    sig = inspect.signature(fn)
    hints = _hints(fn)
    declared: dict[str, str] = (
        dict(inputs) if isinstance(inputs, Mapping) else {n: "json" for n in (inputs or ())}
    )
    in_ports: list[Port] = []
    fields: dict[str, Any] = {}
    for pname, par in sig.parameters.items():
        if par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
            raise SpecError(f"component {name or fn.__name__}: *args and **kwargs cannot be typed",
                            "give the function named arguments only")
        annotation = hints.get(pname, Any)
        port_type = declared.pop(pname, None) or from_annotation(annotation)
        if port_type is not None:
            in_ports.append(Port(pname, port_type, optional=par.default is not par.empty))
            continue
        fields[pname] = (annotation, ... if par.default is par.empty else par.default)
    if declared:
        raise SpecError(f"component {name or fn.__name__}: inputs {sorted(declared)} are not arguments of the function",
                        "list only argument names in inputs=")
    if isinstance(outputs, str):
        out_ports = [Port("out", outputs)]
    elif outputs:
        out_ports = [Port(k, v) for k, v in outputs.items()]
    else:
        returned = from_annotation(hints.get("return", Any))
        out_ports = [Port("out", returned or "json")]
    comp_name = name if name is not None else f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}".lower()
    return Component(
        name=comp_name,
        version=version or _source_hash(fn),
        kind="python",
        summary=summary or _first_line(fn.__doc__),
        inputs=tuple(in_ports),
        outputs=tuple(out_ports),
        params=_model(comp_name, fields),
        resources=dict(resources or {}),
        target=f"{fn.__module__}:{fn.__qualname__}",
        fn=fn,
    )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        import typing

        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references fall back to Any
        return {}


def _source_hash(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = getattr(fn, "__qualname__", repr(fn))
    return "src-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def _model(name: str, fields: Mapping[str, Any]) -> type[BaseModel]:
    title = "".join(part.capitalize() for part in re.split(r"[._]", name)) + "Params"
    return create_model(title, __base__=Params, **dict(fields))


# --------------------------------------------------------------------------- commands and images

_JSON_TYPES: dict[str, Any] = {"integer": int, "number": float, "string": str, "boolean": bool,
                               "array": list, "object": dict}
_PLACEHOLDER = re.compile(r"\{(params|inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\}")


def params_model(name: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    """A parameter model from a YAML-friendly JSON Schema subset: ``{n: {type: integer, default: 3}}``."""
    fields: dict[str, Any] = {}
    for key, prop in schema.items():
        if not isinstance(prop, Mapping) or prop.get("type") not in _JSON_TYPES:
            raise SpecError(
                f"component {name!r}: parameter {key!r} needs a type",
                f"write it as {key}: {{type: integer|number|string|boolean|array|object, default: ...}}",
            )
        kind = _JSON_TYPES[prop["type"]]
        fields[key] = (kind, prop.get("default", ...))
    return _model(name, fields)


def from_argv(
    name: str,
    argv: Sequence[str],
    *,
    image: str | None = None,
    version: str = "1",
    inputs: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    summary: str = "",
) -> Component:
    """A command (or, with ``image``, a container) component from an argument template.

    ``{params.NAME}`` becomes the parameter's value; ``{inputs.NAME}`` the path of the input's
    file; ``{outputs.NAME}`` the path the command must write. Every placeholder must name a
    declared parameter or port, and every output must appear in the template.
    """
    if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
        raise SpecError(f"component {name!r}: argv must be a non-empty list of strings",
                        'write it as a list, e.g. argv: [python3, sim.py, --n, "{params.n}"]')
    in_ports = tuple(Port(k, v) for k, v in (inputs or {}).items())
    out_ports = tuple(Port(k, v) for k, v in (outputs or {}).items())
    model = params_model(name, params or {})
    known = {"params": set(model.model_fields), "inputs": {p.name for p in in_ports},
             "outputs": {p.name for p in out_ports}}
    used: set[str] = set()
    for arg in argv:
        for group, key in _PLACEHOLDER.findall(arg):
            if key not in known[group]:
                raise SpecError(f"component {name!r}: argv uses {{{group}.{key}}}, which is not declared",
                                f"declare {key!r} under {group}, or fix the placeholder")
            if group == "outputs":
                used.add(key)
    missing = known["outputs"] - used
    if missing:
        raise SpecError(f"component {name!r}: outputs {sorted(missing)} never appear in argv",
                        "pass each output's path to the command, e.g. --out {outputs.image}")
    return Component(
        name=name, version=version, kind="container" if image else "command",
        summary=summary or f"{'image ' + image if image else argv[0]}", inputs=in_ports, outputs=out_ports,
        params=model, resources=dict(resources or {}), target=image or "", argv=tuple(argv),
    )


def render_argv(argv: Sequence[str], params: Mapping[str, Any], paths: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Fill an argument template: parameters by value, inputs and outputs by path."""

    def one(m: re.Match[str]) -> str:
        group, key = m.group(1), m.group(2)
        value = params[key] if group == "params" else paths[group][key]
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [_PLACEHOLDER.sub(one, arg) for arg in argv]
