"""tessera: run compute-heavy batch work in parallel on the right hardware at the lowest cost.

The public surface is imported lazily, so that worker processes (which import only
``tessera.executors.worker``) stay small::

    import tessera

    with tessera.Client() as c:
        print(c.submit(pow, 2, 10).result())
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "Client": "tessera.client",
    "JobHandle": "tessera.client",
    "RemoteTraceback": "tessera.client",
    "Settings": "tessera.config",
    "JobSpec": "tessera.models.spec",
    "JobState": "tessera.models.states",
    "Reason": "tessera.models.states",
    "TesseraError": "tessera.errors",
    "SpecError": "tessera.errors",
    "InfeasibleError": "tessera.errors",
    "NotFoundError": "tessera.errors",
    "JobFailedError": "tessera.errors",
    "WaitTimeoutError": "tessera.errors",
    "component": "tessera.workflows.registry",
    "context": "tessera.runtime",
    "Workflow": "tessera.workflows.builder",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tessera' has no attribute {name!r}")
