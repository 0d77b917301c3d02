"""Which executor a controller drives: ``local`` (this machine) or ``ray`` (a Ray cluster), from settings."""

from __future__ import annotations

import importlib.util

from tessera.config import Settings
from tessera.errors import SpecError
from tessera.executors import procs
from tessera.executors.base import Executor
from tessera.scheduler.decide import Capacity
from tessera.store import Store

EXECUTORS = ("local", "ray")


def build(settings: Settings, total: Capacity) -> Executor:
    """The executor named by ``settings.executor``. ``total`` is this machine's capacity; for Ray it
    is used only when declared in the settings (TESSERA_CPUS/GPUS/MEMORY_MB), else Ray's is read."""
    scope = procs.store_scope(settings.db_url)
    if settings.executor == "local":
        from tessera.executors.local import LocalExecutor

        return LocalExecutor(total, settings.workers, settings.kill_grace_s, scope=scope)
    if settings.executor == "ray":
        if importlib.util.find_spec("ray") is None:
            raise SpecError("the ray executor needs Ray, which is not installed",
                            "install it: pip install 'tessera[ray]'")
        from tessera.executors.ray import RayExecutor

        declared = total if (settings.cpus, settings.gpus, settings.memory_mb) != (None, None, None) else None
        return RayExecutor(settings.ray_address or None, declared, settings.kill_grace_s, scope=scope)
    raise SpecError(f"unknown executor {settings.executor!r}",
                    f"set TESSERA_EXECUTOR (or --executor) to one of {', '.join(EXECUTORS)}")


def submit_capacity(settings: Settings, store: Store) -> Capacity:
    """What a submit outside the controller checks jobs against: the total of the running
    controller's executor when it is not the local one (a Ray cluster's), else this machine's."""
    from tessera.controller import daemon
    from tessera.executors.hardware import detect

    if daemon.running_pid(settings):
        ctl = store.latest_controller()
        for ex in ((ctl or {}).get("status") or {}).get("executors", []) if ctl and not ctl.get("stopped_at") else []:
            if ex.get("name") != "local" and isinstance(ex.get("total"), dict):
                t = ex["total"]
                return Capacity(float(t["cpus"]), int(t["memory_mb"]), tuple(t.get("gpu_ids") or range(int(t["gpus"]))))
    return detect(settings)
