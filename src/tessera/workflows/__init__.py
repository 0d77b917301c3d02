"""Workflows: DAGs of typed components whose outputs travel as content-addressed artifacts.

``component`` registers a Python function; ``registry`` finds components by name; ``spec``
reads workflows from YAML; ``plan`` checks and compiles them into jobs; ``artifacts`` stores
what steps produce. See docs/workflows.md.
"""

from __future__ import annotations

from tessera.workflows.components import Component, from_argv, from_function
from tessera.workflows.ports import File, Port
from tessera.workflows.registry import all_components, component, get, names, register

__all__ = [
    "Component",
    "File",
    "Port",
    "all_components",
    "component",
    "from_argv",
    "from_function",
    "get",
    "names",
    "register",
]
