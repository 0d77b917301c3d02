"""This machine's hardware inventory: CPU model and cores, memory, GPUs (NVML), and its fingerprint.

The fingerprint is the benchmark suite's (``tessera.bench.hardware``), so profiles recorded by
``tessera bench`` and placement decisions name the same machine.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from tessera.bench.hardware import hardware_info
from tessera.executors.hardware import nvml_gpus


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mb: int


@dataclass(frozen=True)
class Inventory:
    """What this machine has, as detected (settings overrides are not applied here)."""

    cpu_model: str
    logical_cpus: int
    physical_cores: int | None
    memory_mb: int
    gpus: tuple[Gpu, ...]
    machine: str
    system: str
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpus"] = [asdict(g) for g in self.gpus]
        return d

    def summary(self) -> str:
        gpus = ", ".join(f"{g.name} ({g.memory_mb} MB)" for g in self.gpus) or "no GPU"
        return (f"{self.cpu_model}, {self.logical_cpus} CPUs, {self.memory_mb >> 10} GiB, {gpus}")


def detect_inventory() -> Inventory:
    """Read the inventory now: ``/proc/cpuinfo`` and psutil for CPUs and memory, NVML for GPUs."""
    info = hardware_info()
    gpus = tuple(Gpu(int(str(g["index"])), str(g["name"]), int(str(g["memory_mb"]))) for g in nvml_gpus())
    return Inventory(
        cpu_model=str(info["cpu_model"]),
        logical_cpus=psutil.cpu_count(logical=True) or int(info["cpu_count"]),
        physical_cores=psutil.cpu_count(logical=False),
        memory_mb=psutil.virtual_memory().total >> 20,
        gpus=gpus,
        machine=platform.machine(),
        system=f"{platform.system()} {platform.release()}",
        fingerprint=str(info["fingerprint"]),
    )
