"""Port types: what flows between steps (``array``, ``file``, ``json``, ``list[...]``) and which wiring is legal.

A port type is a short string, the same in Python, YAML, the API and the UI:

* ``array`` - an N-dimensional NumPy array (stored as ``.npy``);
* ``file``  - a file; the step sees a local path;
* ``json``  - any JSON value (numbers, strings, lists, mappings);
* ``any``   - accepts every type (an input only);
* ``list[T]`` - a list of T; an input of this type *gathers* the outputs of a mapped step (fan-in).
"""

from __future__ import annotations

import pathlib
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.errors import SpecError

SCALARS = ("array", "file", "json", "any")


class File(str):
    """Annotate a component argument or return value as a file (a local path at run time)."""

    __slots__ = ()


def check_type(text: str, where: str) -> str:
    """Return ``text`` if it names a port type; raise ``SpecError`` otherwise."""
    inner = element_type(text) if isinstance(text, str) else None
    if inner in SCALARS and inner != "any" or text == "any":
        return text
    raise SpecError(
        f"{where}: {text!r} is not a port type",
        "use one of array, file, json, any, or list[array|file|json]",
    )


def element_type(text: str) -> str:
    """``list[array]`` -> ``array``; ``array`` -> ``array``."""
    if text.startswith("list[") and text.endswith("]"):
        return text[5:-1]
    return text


def is_list(text: str) -> bool:
    return text.startswith("list[") and text.endswith("]")


def connects(output: str, input_: str, mapped_source: bool) -> str | None:
    """How an output of type ``output`` feeds an input of type ``input_``.

    Args:
        output: the upstream output port's type.
        input_: the downstream input port's type.
        mapped_source: the upstream step is mapped (an array job with one output per element).

    Returns:
        ``"whole"`` (one value to one value), ``"each"`` (element i to element i: fan-out
        continues), ``"gather"`` (all elements to one list: fan-in), or ``None`` if the types
        do not fit.
    """
    if input_ == "any":
        return "each" if mapped_source else "whole"
    if mapped_source:
        if is_list(input_) and not is_list(output) and element_type(input_) == output:
            return "gather"
        return "each" if output == input_ else None
    return "whole" if output == input_ else None


def from_annotation(annotation: Any) -> str | None:
    """The port type of a Python annotation, or ``None`` if it is a plain parameter type."""
    if annotation is np.ndarray or _origin_is(annotation, np.ndarray):
        return "array"
    if annotation in (File, pathlib.Path):
        return "file"
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Sequence) or origin is getattr(types, "GenericAlias", None):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            inner = from_annotation(args[0])
            if inner in ("array", "file"):
                return f"list[{inner}]"
    return None


def _origin_is(annotation: Any, cls: type) -> bool:
    return typing.get_origin(annotation) is cls


@dataclass(frozen=True)
class Port:
    """One named input or output of a component.

    Attributes:
        name: the port's name (an identifier).
        type: a port type (see the module docstring).
        description: one line for forms and ``tessera components show``.
        optional: an input that may be left unwired (the function's default applies).
    """

    name: str
    type: str
    description: str = ""
    optional: bool = False

    def schema(self) -> dict[str, Any]:
        """The port as JSON Schema: an artifact reference tagged with its port type."""
        ref: dict[str, Any] = {
            "type": "object",
            "title": self.name,
            "x-tessera-port": element_type(self.type),
            "required": ["sha256", "type"],
            "properties": {"sha256": {"type": "string"}, "type": {"const": element_type(self.type)},
                           "size": {"type": "integer"}},
        }
        if self.description:
            ref["description"] = self.description
        if is_list(self.type):
            return {"type": "array", "title": self.name, "x-tessera-port": self.type, "items": ref}
        return ref
