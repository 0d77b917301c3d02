"""Backends that run attempts behind the small ``Executor`` protocol (local first; Ray and others later).

Names are imported lazily so that worker processes, which import ``tessera.executors.worker``,
do not load the scheduler, the store and their libraries.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Executor", "Feature", "Launch", "LocalExecutor", "Outcome", "Started"]


def __getattr__(name: str) -> Any:
    if name == "LocalExecutor":
        from tessera.executors.local import LocalExecutor

        return LocalExecutor
    if name in __all__:
        from tessera.executors import base

        return getattr(base, name)
    raise AttributeError(name)
