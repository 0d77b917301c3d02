"""Which executor a controller drives: ``local`` (this machine), ``ray`` (a Ray cluster), or both
with queues routed between them (``queue_executors``), from settings."""

from __future__ import annotations

import importlib.util
from typing import Any

from tessera.config import Settings
from tessera.errors import SpecError
from tessera.executors import procs
from tessera.executors.base import Executor
from tessera.scheduler.decide import Capacity, QueueCapacity
from tessera.store import Store

EXECUTORS = ("local", "ray")


def check(settings: Settings) -> dict[str, str]:
    """The executor and the queue routes the settings name, checked; returns the routes."""
    from tessera.executors.routed import parse_routes

    if settings.executor not in EXECUTORS:
        raise SpecError(f"unknown executor {settings.executor!r}",
                        f"set TESSERA_EXECUTOR (or --executor) to one of {', '.join(EXECUTORS)}")
    return parse_routes(settings.queue_executors, EXECUTORS)


def build(settings: Settings, total: Capacity) -> Executor:
    """The executor named by ``settings.executor``, or a ``RoutedExecutor`` over it and the
    executors ``settings.queue_executors`` routes queues to. ``total`` is this machine's capacity;
    for Ray it is used only when declared in the settings (TESSERA_CPUS/GPUS/MEMORY_MB) and Ray is
    the only executor, else Ray's is read (routed, the declared capacity is this machine's)."""
    routes = check(settings)
    names = [settings.executor, *sorted({*routes.values()} - {settings.executor})]
    if len(names) == 1:
        return _one(settings.executor, settings, total, declare=True)
    from tessera.executors.routed import RoutedExecutor

    lanes: dict[str, Executor] = {}
    try:
        for name in names:
            lanes[name] = _one(name, settings, total, declare=False)
    except BaseException:
        for ex in lanes.values():
            ex.close(0)
        raise
    return RoutedExecutor(lanes, routes, settings.executor)


def _one(name: str, settings: Settings, total: Capacity, declare: bool) -> Executor:
    scope = procs.store_scope(settings.db_url)
    if name == "local":
        from tessera.executors.local import LocalExecutor

        return LocalExecutor(total, settings.workers, settings.kill_grace_s, scope=scope)
    if importlib.util.find_spec("ray") is None:
        raise SpecError("the ray executor needs Ray, which is not installed", "install it: pip install 'tessera[ray]'")
    from tessera.executors.ray import RayExecutor

    declared = (settings.cpus, settings.gpus, settings.memory_mb) != (None, None, None)
    return RayExecutor(settings.ray_address or None, total if declare and declared else None, settings.kill_grace_s,
                       scope=scope)


def submit_capacity(settings: Settings, store: Store) -> Capacity:
    """What a submit outside the controller checks jobs against: the running controller's
    executors' total when it is not the local one alone (a Ray cluster's, or local and Ray
    together when queues are routed), else this machine's."""
    from tessera.controller import daemon
    from tessera.executors.hardware import detect

    if daemon.running_pid(settings):
        ctl = store.latest_controller()
        listed = ((ctl or {}).get("status") or {}).get("executors", []) if ctl and not ctl.get("stopped_at") else []
        exs = [ex for ex in listed if isinstance(ex.get("total"), dict)]
        if exs and [ex.get("name") for ex in exs] != ["local"]:
            caps = [(_capacity(ex["total"]), ex.get("queues") or ()) for ex in exs]  # ``*``: every other queue
            return QueueCapacity(sum(c.cpus for c, _ in caps), sum(c.memory_mb for c, _ in caps),
                                 tuple(g for c, _ in caps for g in c.gpus),
                                 by_queue=tuple((str(q), c) for c, qs in caps for q in qs if q != "*"),
                                 others=next((c for c, qs in caps if "*" in qs), None))
    return detect(settings)


def _capacity(total: dict[str, Any]) -> Capacity:
    """An executor's ``total`` as ``Controller.status`` writes it."""
    return Capacity(float(total["cpus"]), int(total["memory_mb"]),
                    tuple(total.get("gpu_ids") or range(int(total["gpus"]))))
