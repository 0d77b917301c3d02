"""The component registry: built-in kernels, modules that register components, and ``@component``.

Components register themselves when their module is imported. ``get`` and ``all_components``
first load the built-ins: every kernel of ``tessera.kernels.REGISTRY`` (as ``kernel.NAME``), the
modules in ``BUILTIN_MODULES``, and the ``tessera.components`` entry point group of installed
packages. A workflow's ``imports:`` list loads user modules the same way.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any, TypeVar

from tessera.errors import SpecError
from tessera.workflows.components import Component, _model, from_function
from tessera.workflows.ports import Port

logger = logging.getLogger(__name__)

#: Modules of tessera that define components; each registers them on import.
BUILTIN_MODULES: list[str] = ["tessera.workflows.builtin", "tessera.domains.components"]
ENTRY_POINT_GROUP = "tessera.components"

F = TypeVar("F", bound=Callable[..., Any])

_components: dict[str, Component] = {}
_lock = threading.RLock()
_loaded = [False]


def register(comp: Component) -> Component:
    """Add a component. A second registration under the same name must come from the same target
    (a module imported twice); otherwise it is refused."""
    with _lock:
        old = _components.get(comp.name)
        if old is not None and (old.kind, old.target) != (comp.kind, comp.target):
            raise SpecError(
                f"component {comp.name!r} is registered twice: {old.target or old.kind} and {comp.target or comp.kind}",
                "give one of them another name",
            )
        _components[comp.name] = comp
    return comp


def unregister(name: str) -> None:
    """Remove a component (for tests and interactive sessions)."""
    with _lock:
        _components.pop(name, None)


def component(
    name: str | None = None,
    *,
    version: str | None = None,
    outputs: Mapping[str, str] | str | None = None,
    inputs: Mapping[str, str] | Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
    summary: str | None = None,
) -> Callable[[F], F]:
    """Register a Python function as a component; the function itself is returned unchanged.

    Example::

        @tessera.component("mylab.smooth", outputs={"out": "array"}, resources={"cpus": 1})
        def smooth(field: np.ndarray, *, width: int = 3) -> np.ndarray: ...

    See ``components.from_function`` for how arguments become inputs and parameters.
    """

    def wrap(fn: F) -> F:
        comp = from_function(fn, name, version=version, outputs=outputs, inputs=inputs,
                             resources=resources, summary=summary)
        register(comp)
        fn.__tessera_component__ = comp  # type: ignore[attr-defined]
        return fn

    return wrap


def of(obj: Any) -> Component:
    """The component of a decorated function (or the component itself)."""
    if isinstance(obj, Component):
        return obj
    comp = getattr(obj, "__tessera_component__", None)
    if isinstance(comp, Component):
        return comp
    if callable(obj):
        return from_function(obj)
    raise SpecError(f"{obj!r} is not a component", "decorate the function with @tessera.component(...)")


def load_builtins() -> None:
    """Register kernels, built-in modules and entry points (once)."""
    with _lock:
        if _loaded[0]:
            return
        _loaded[0] = True
        for comp in kernel_components():
            register(comp)
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the others
            logger.warning("component plug-in %s failed to load: %s", ep.name, exc)


def import_modules(modules: Sequence[str], where: str = "workflow") -> None:
    """Import user modules that register components (a workflow's ``imports:``)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SpecError(
                f"{where}: cannot import {module!r} ({exc})",
                "put the module on PYTHONPATH (or install its package), or fix the name under imports:",
            ) from None


def names() -> list[str]:
    load_builtins()
    with _lock:
        return sorted(_components)


def all_components() -> list[Component]:
    load_builtins()
    with _lock:
        return [_components[n] for n in sorted(_components)]


def get(name: str) -> Component:
    """The component called ``name``.

    Raises:
        SpecError: no such component; the message lists the registered names.
    """
    load_builtins()
    with _lock:
        comp = _components.get(name) if isinstance(name, str) else None
        if comp is not None:
            return comp
        known = sorted(_components)
    raise SpecError(
        f"unknown component {name!r}; registered components are: {', '.join(known)}",
        "use a name `tessera components ls` shows, or add the module that defines it under imports:",
        component=name,
    )


# --------------------------------------------------------------------------- kernels


def kernel_components() -> list[Component]:
    """One component per built-in kernel: no inputs, its figures as the ``result`` (json) output."""
    import tessera
    from tessera.kernels import COMMON_DEFAULTS, REGISTRY

    common: dict[str, Any] = {
        "device": (str, COMMON_DEFAULTS["device"]),
        "backend": (str | None, None),
        "dtype": (str, COMMON_DEFAULTS["dtype"]),
        "repeat": (int, COMMON_DEFAULTS["repeat"]),
        "check": (bool, COMMON_DEFAULTS["check"]),
        "seed": (int, COMMON_DEFAULTS["seed"]),
        "threads": (int | None, None),
    }
    out = []
    for kname, kernel in sorted(REGISTRY.items()):
        fields = dict(common)
        for key, default in kernel.defaults.items():
            fields[key] = (type(default), default)
        out.append(Component(
            name=f"kernel.{kname}", version=f"tessera-{tessera.__version__}", kind="kernel",
            summary=kernel.summary, inputs=(), outputs=(Port("result", "json", "the kernel's figures"),),
            params=_model(f"kernel.{kname}", fields), target=kname,
        ))
    return out
