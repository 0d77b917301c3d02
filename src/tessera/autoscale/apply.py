"""Applying autoscaling decisions: ``Autoscaler`` observes the controller at each heartbeat, asks the
policy, and hands the decision to the executor's sink: the local warm-worker pool, or a Ray
cluster through ``ray.autoscaler.sdk.request_resources``. The last decision is published with the
controller's heartbeat, where ``tessera autoscale status`` reads it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from tessera.autoscale.policy import (
    AutoscaleConfig,
    Decision,
    Observation,
    PolicyState,
    Shape,
    decide,
)

if TYPE_CHECKING:
    from tessera.controller.core import Controller

logger = logging.getLogger(__name__)

WINDOW = 1000  # waiting jobs looked at per decision


class Sink(Protocol):
    def apply(self, decision: Decision) -> str: ...


class LocalPool:
    """Sets the local executor's number of warm workers (``LocalExecutor.set_pool``)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor

    def apply(self, decision: Decision) -> str:
        before = self.executor.warm
        if decision.workers != before:
            self.executor.set_pool(decision.workers)
            return f"local pool {before} -> {decision.workers} warm workers"
        return f"local pool stays at {before} warm workers"


class RayCluster:
    """Asks Ray's autoscaler for the decision's bundles (a request persists until replaced)."""

    def __init__(self) -> None:
        self.last: tuple[dict[str, float], ...] | None = None

    def apply(self, decision: Decision) -> str:
        if decision.bundles is None or decision.bundles == self.last:
            return "Ray's resource request is unchanged"
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[dict(b) for b in decision.bundles])
        self.last = decision.bundles
        gpus = sum(b.get("GPU", 0) for b in decision.bundles)
        return f"requested {len(decision.bundles)} bundles from Ray ({gpus:g} GPUs)"


class Autoscaler:
    """Called by the controller at each heartbeat (``Controller.on_beat``)."""

    def __init__(self, config: AutoscaleConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.state = PolicyState()
        self.last: Decision | None = None

    @classmethod
    def for_executor(cls, config: AutoscaleConfig, executor: Any) -> Autoscaler:
        lanes = getattr(executor, "lanes", None)  # queues routed to executors: scale Ray if it is one of them
        if lanes:
            executor = lanes.get("ray") or next(iter(lanes.values()))
        return cls(config, RayCluster() if executor.name == "ray" else LocalPool(executor))

    def __call__(self, controller: Controller, now: float) -> None:
        obs = observe(controller, now, getattr(controller.executor, "warm", 0))
        decision, self.state = decide(obs, self.state, self.config)
        try:
            applied = self.sink.apply(decision)
        except Exception as e:  # noqa: BLE001 - a failed scaling call must not stop the controller
            logger.warning("autoscaling: %s", e)
            applied = f"could not apply: {type(e).__name__}: {e}"
        if self.last is None or (decision.action, decision.workers, decision.bundles) != (
                self.last.action, self.last.workers, self.last.bundles):
            logger.info("autoscale %s: %s (%s)", decision.action, "; ".join(decision.reasons), applied)
        self.last = decision
        controller.extra_status["autoscale"] = {**decision.as_dict(), "applied": applied,
                                                "config": self.config.model_dump()}


def observe(controller: Controller, now: float, workers: int) -> Observation:
    """The policy's inputs from a controller: runnable jobs not yet placed, and held placements."""
    active = {a.job_id for a in controller.active.values()}
    waiting = tuple(Shape(c.cpus, c.gpus, c.memory_mb) for c in controller.store.candidates(WINDOW)
                    if c.id not in active)
    running = tuple(Shape(a.placement.cpus, len(a.placement.gpus), a.placement.memory_mb)
                    for a in controller.active.values() if a.holds)
    total = controller.total
    return Observation(now, waiting, running, total.cpus, len(total.gpus), workers)


def attach(controller: Controller) -> Autoscaler | None:
    """Autoscale this controller when its home has an enabled ``autoscale.yaml``."""
    config = AutoscaleConfig.load(controller.settings.home)
    if config is None or not config.enabled:
        return None
    scaler = Autoscaler.for_executor(config, controller.executor)
    controller.on_beat = scaler
    return scaler
