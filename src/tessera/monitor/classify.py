"""The verdict on a finished attempt: what limited it, and what to ask for next time (pure).

Inputs are summary figures of the attempt's utilisation samples (or, for attempts too short to
be sampled, of its final usage). Rules, first match wins:

1. holds GPUs and they were busy ≥ 60% of the time → ``gpu_bound``;
   holds GPUs and they were busy < 15% → ``idle_gpu``
2. peak memory ≥ 90% of its memory limit → ``memory_bound``
3. reading/writing ≥ 20 MB/s while its CPUs were < 50% busy → ``io_bound``
4. its CPUs ≥ 80% busy → ``cpu_bound``
5. holds more than one CPU and used < 50% of them, or used < 25% of a memory limit of ≥ 1 GB →
   ``over_provisioned``
6. otherwise ``balanced``; ``unknown`` when nothing was measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

GPU_BUSY = 0.60
GPU_IDLE = 0.15
MEMORY_FULL = 0.90
IO_MB_S = 20.0
IO_CPU_BELOW = 0.50
CPU_BUSY = 0.80
CPU_SPARE = 0.50
MEMORY_SPARE = 0.25
MEMORY_SPARE_MIN_MB = 1024


class Bottleneck(StrEnum):
    GPU_BOUND = "gpu_bound"
    CPU_BOUND = "cpu_bound"
    MEMORY_BOUND = "memory_bound"
    IO_BOUND = "io_bound"
    IDLE_GPU = "idle_gpu"
    OVER_PROVISIONED = "over_provisioned"
    BALANCED = "balanced"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: CPU percent of one core (200 = two busy), RSS, cumulative IO, GPU busy and memory."""

    at: float
    cpu_pct: float
    rss_mb: float
    read_mb: float = 0.0
    write_mb: float = 0.0
    gpu_pct: float | None = None
    gpu_mem_mb: float | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """What the attempt held: CPUs, memory limit (None: no limit), GPUs."""

    cpus: float
    memory_mb: int | None
    gpus: int


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Bottleneck
    recommendation: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "recommendation": self.recommendation, "figures": self.figures}


@dataclass(frozen=True, slots=True)
class Figures:
    """Summary of an attempt's use of what it held (fractions are of what it held)."""

    wall_s: float
    cpu_busy: float | None  # mean busy fraction of the held CPUs
    cpus_used: float | None  # mean CPUs busy
    peak_rss_mb: float | None
    io_mb_s: float | None
    gpu_busy: float | None  # mean busy fraction of the held GPUs
    samples: int


def summarise(samples: Sequence[Sample], held: Held, usage: dict[str, Any] | None = None,
              wall_s: float | None = None) -> Figures:
    """Figures from the samples; attempts with fewer than two samples fall back on final usage."""
    usage = usage or {}
    cpus = max(held.cpus, 1e-9)
    peak: float | None
    io: float | None
    gpu: float | None
    cpus_used: float | None
    if samples:
        span = samples[-1].at - samples[0].at
        wall = wall_s if wall_s is not None else span
        cpu_pcts = [s.cpu_pct for s in samples]
        cpus_used = sum(cpu_pcts) / len(cpu_pcts) / 100.0
        peak = max(s.rss_mb for s in samples)
        io = ((samples[-1].read_mb + samples[-1].write_mb - samples[0].read_mb - samples[0].write_mb) / span
              if span > 0 else None)
        gp = [s.gpu_pct for s in samples if s.gpu_pct is not None]
        gpu = sum(gp) / len(gp) / 100.0 if gp else None
    else:
        wall = float(wall_s if wall_s is not None else usage.get("wall_s") or 0.0)
        cpu_s = usage.get("cpu_s")
        cpus_used = cpu_s / wall if cpu_s is not None and wall > 0 else None
        peak, io, gpu = usage.get("peak_rss_mb"), None, None
    if peak is None and usage.get("peak_rss_mb") is not None:
        peak = usage["peak_rss_mb"]
    elif peak is not None and usage.get("peak_rss_mb") is not None:
        peak = max(peak, float(usage["peak_rss_mb"]))
    busy = None if cpus_used is None else cpus_used / cpus
    return Figures(wall, busy, cpus_used, peak, io, gpu, len(samples))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _round_up(x: float) -> int:
    return max(1, math.ceil(x))


def classify(f: Figures, held: Held) -> Verdict:
    """The bottleneck of a finished attempt and a recommendation, from its figures."""
    figures = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in {
        "wall_s": f.wall_s, "cpu_busy": f.cpu_busy, "cpus_used": f.cpus_used, "cpus_held": held.cpus,
        "peak_rss_mb": f.peak_rss_mb, "memory_limit_mb": held.memory_mb, "io_mb_s": f.io_mb_s,
        "gpu_busy": f.gpu_busy, "gpus_held": held.gpus, "samples": f.samples}.items()}

    def v(kind: Bottleneck, text: str) -> Verdict:
        return Verdict(kind, text, figures)

    if f.cpu_busy is None and f.peak_rss_mb is None and f.gpu_busy is None:
        return v(Bottleneck.UNKNOWN, "nothing was measured: the attempt was too short or ran elsewhere")
    if held.gpus and f.gpu_busy is not None:
        if f.gpu_busy >= GPU_BUSY:
            return v(Bottleneck.GPU_BOUND, f"GPU busy {_pct(f.gpu_busy)}: the GPU is the right place; "
                                           "a faster GPU or more GPUs would shorten it")
        if f.gpu_busy < GPU_IDLE:
            return v(Bottleneck.IDLE_GPU, f"GPU busy {_pct(f.gpu_busy)}: try the CPU variant, or give the GPU "
                                          "more work per call")
    if held.memory_mb and f.peak_rss_mb is not None and f.peak_rss_mb >= MEMORY_FULL * held.memory_mb:
        return v(Bottleneck.MEMORY_BOUND, f"peak memory {f.peak_rss_mb:.0f} MB of a {held.memory_mb} MB limit: "
                                          f"ask for memory_mb={_round_up(f.peak_rss_mb * 1.5)}")
    if f.io_mb_s is not None and f.io_mb_s >= IO_MB_S and (f.cpu_busy is None or f.cpu_busy < IO_CPU_BELOW):
        return v(Bottleneck.IO_BOUND, f"reading and writing {f.io_mb_s:.0f} MB/s with CPUs "
                                      f"{_pct(f.cpu_busy or 0)} busy: stage data on local scratch or faster storage")
    if f.cpu_busy is not None and f.cpu_busy >= CPU_BUSY:
        advice = "more CPUs or a GPU variant would shorten it" if not held.gpus else "more CPUs would shorten it"
        return v(Bottleneck.CPU_BOUND, f"CPU busy {_pct(f.cpu_busy)} of {held.cpus:g} CPUs: {advice}")
    if f.cpus_used is not None and held.cpus > 1 and f.cpu_busy is not None and f.cpu_busy < CPU_SPARE:
        return v(Bottleneck.OVER_PROVISIONED, f"held {held.cpus:g} CPUs but used {f.cpus_used:.1f} on average: "
                                              f"ask for cpus={_round_up(f.cpus_used * 1.25)}")
    if (held.memory_mb and held.memory_mb >= MEMORY_SPARE_MIN_MB and f.peak_rss_mb is not None
            and f.peak_rss_mb < MEMORY_SPARE * held.memory_mb):
        return v(Bottleneck.OVER_PROVISIONED, f"peak memory {f.peak_rss_mb:.0f} MB of a {held.memory_mb} MB limit: "
                                              f"ask for memory_mb={_round_up(f.peak_rss_mb * 1.5)}")
    return v(Bottleneck.BALANCED, "no single resource limited it")
