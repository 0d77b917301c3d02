"""The autoscaling policy: pure, configurable, and every decision carries its reasons.

Defaults follow the seeds: scale out when more than 5 jobs wait; scale in when utilisation stays
under 20% for 10 minutes; jobs waiting for GPUs add GPU capacity whatever the queue depth. The
decision is a target: a number of warm workers for the local pool (between ``min_workers`` and
``max_workers``) and the resource shapes a Ray cluster must fit (``bundles``, for
``ray.autoscaler.sdk.request_resources``: running work plus waiting work, at most
``max_bundles``). An empty bundle list withdraws the request, so that Ray's idle timeout removes
the nodes nothing uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tessera.errors import SpecError

FILE = "autoscale.yaml"


class AutoscaleConfig(BaseModel):
    """The thresholds, from ``$TESSERA_HOME/autoscale.yaml`` (written by ``tessera autoscale enable``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    scale_out_queue_depth: Annotated[int, Field(ge=0, le=1_000_000)] = 5
    scale_in_utilisation: Annotated[float, Field(ge=0, le=1)] = 0.20
    scale_in_after_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 600.0
    min_workers: Annotated[int, Field(ge=0, le=4096)] = 1
    max_workers: Annotated[int, Field(ge=1, le=4096)] | None = None  # None: the executor's CPUs
    max_bundles: Annotated[int, Field(ge=1, le=100_000)] = 1000

    @model_validator(mode="after")
    def _ordered(self) -> AutoscaleConfig:
        if self.max_workers is not None and self.max_workers < self.min_workers:
            raise ValueError(f"max_workers ({self.max_workers}) is below min_workers ({self.min_workers})")
        return self

    @classmethod
    def load(cls, home: Path) -> AutoscaleConfig | None:
        """The home's configuration, or None when autoscaling was never enabled there."""
        path = home / FILE
        if not path.exists():
            return None
        import yaml  # here: every embedded client looks for this file, few homes have it

        try:
            raw = yaml.safe_load(path.read_text()) or {}
            return cls.model_validate(raw)
        except (yaml.YAMLError, ValidationError, TypeError) as e:
            raise SpecError(f"{path} is not a valid autoscaling configuration: {e}",
                            f"fix {path}, or write it again with `tessera autoscale enable`") from None

    def save(self, home: Path) -> Path:
        import yaml

        home.mkdir(parents=True, exist_ok=True)
        path = home / FILE
        path.write_text(yaml.safe_dump(self.model_dump(), sort_keys=False))
        return path


@dataclass(frozen=True, slots=True)
class Shape:
    """The resources of one job: what it holds while it runs, or would hold once placed."""

    cpus: float
    gpus: int = 0
    memory_mb: int | None = None

    def bundle(self) -> dict[str, float]:
        out: dict[str, float] = {"CPU": self.cpus}
        if self.gpus:
            out["GPU"] = float(self.gpus)
        if self.memory_mb:
            out["memory"] = float(self.memory_mb << 20)
        return out


@dataclass(frozen=True, slots=True)
class Observation:
    """What the controller sees at ``now``: jobs waiting to be placed, attempts holding resources,
    the executor's total CPUs and GPUs, and the local pool's warm workers."""

    now: float
    waiting: tuple[Shape, ...]
    running: tuple[Shape, ...]
    total_cpus: float
    total_gpus: int
    workers: int


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the policy remembers between decisions: since when utilisation has been low."""

    low_since: float | None = None


@dataclass(frozen=True)
class Decision:
    action: str  # "scale_out", "scale_in" or "hold"
    workers: int  # the local pool's target size
    bundles: tuple[dict[str, float], ...] | None  # Ray's target shapes; None leaves the request as it is
    utilisation: float
    reasons: tuple[str, ...]
    at: float
    inputs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "workers": self.workers, "utilisation": round(self.utilisation, 4),
                "bundles": None if self.bundles is None else len(self.bundles),
                "gpu_bundles": None if self.bundles is None else sum(1 for b in self.bundles if b.get("GPU")),
                "reasons": list(self.reasons), "at": self.at, "inputs": self.inputs}


def utilisation(obs: Observation) -> float:
    """The busier of CPUs and GPUs: the share held by running attempts."""
    cpu = sum(s.cpus for s in obs.running) / obs.total_cpus if obs.total_cpus > 0 else 0.0
    gpu = sum(s.gpus for s in obs.running) / obs.total_gpus if obs.total_gpus > 0 else 0.0
    return min(1.0, max(cpu, gpu))


def decide(obs: Observation, state: PolicyState, cfg: AutoscaleConfig) -> tuple[Decision, PolicyState]:
    """One decision and the policy's next state. Pure: the same inputs give the same answer."""
    hi = cfg.max_workers if cfg.max_workers is not None else max(cfg.min_workers, math.ceil(obs.total_cpus))
    lo = min(cfg.min_workers, hi)
    util = utilisation(obs)
    depth = len(obs.waiting)
    gpu_wait = [s for s in obs.waiting if s.gpus]
    inputs = {"waiting": depth, "waiting_gpus": sum(s.gpus for s in gpu_wait), "running": len(obs.running),
              "total_cpus": obs.total_cpus, "total_gpus": obs.total_gpus, "workers": obs.workers,
              "max_workers": hi, "min_workers": lo}
    busy = math.ceil(sum(s.cpus for s in obs.running if not s.gpus))

    def target(n: int) -> int:
        return max(lo, min(hi, n))

    def demand() -> tuple[dict[str, float], ...]:
        return tuple(s.bundle() for s in (*obs.running, *obs.waiting))[: cfg.max_bundles]

    if gpu_wait or depth > cfg.scale_out_queue_depth:
        why: list[str] = []
        if depth > cfg.scale_out_queue_depth:
            why.append(f"{depth} jobs wait, more than the scale-out depth of {cfg.scale_out_queue_depth}")
        if gpu_wait:
            why.append(f"{len(gpu_wait)} jobs wait for {inputs['waiting_gpus']} GPUs: GPU capacity is requested")
        n = target(busy + sum(1 for s in obs.waiting if not s.gpus))
        if n == hi and busy + depth > hi:
            why.append(f"the local pool stops at max_workers={hi}")
        return Decision("scale_out", n, demand(), util, tuple(why), obs.now, inputs), PolicyState(None)

    if util < cfg.scale_in_utilisation:
        since = state.low_since if state.low_since is not None else obs.now
        low_for = obs.now - since
        pct = f"utilisation {util:.0%} is under {cfg.scale_in_utilisation:.0%}"
        if low_for >= cfg.scale_in_after_s:
            n = target(max(busy, lo))
            reasons = (f"{pct} for {low_for:.0f} s (at least {cfg.scale_in_after_s:.0f} s)",
                       f"pool to {n} workers (min_workers={lo}); Ray's request is cut to the running work, "
                       f"so idle nodes leave at Ray's idle timeout")
            running = tuple(s.bundle() for s in obs.running)[: cfg.max_bundles]
            return Decision("scale_in", n, running, util, reasons, obs.now, inputs), PolicyState(obs.now)
        reasons = (f"{pct} for {low_for:.0f} s of the {cfg.scale_in_after_s:.0f} s before scaling in",
                   f"{depth} jobs wait (scale out above {cfg.scale_out_queue_depth})")
        return Decision("hold", target(obs.workers), None, util, reasons, obs.now, inputs), PolicyState(since)

    reasons = (f"{depth} jobs wait (scale out above {cfg.scale_out_queue_depth})",
               f"utilisation {util:.0%} is at or over {cfg.scale_in_utilisation:.0%}")
    return Decision("hold", target(obs.workers), None, util, reasons, obs.now, inputs), PolicyState(None)
