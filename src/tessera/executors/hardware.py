"""What this machine has: CPUs, memory and GPUs (NVML when present, logical GPUs by configuration)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache

import psutil

from tessera.config import Settings
from tessera.scheduler.decide import Capacity

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def nvml_gpus() -> tuple[dict[str, object], ...]:
    """GPUs seen by NVML: index, name and memory; empty without a driver or ``nvidia-ml-py``."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver is an ordinary answer
        return ()
    out = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total
            out.append({"index": i, "name": name.decode() if isinstance(name, bytes) else name,
                        "memory_mb": int(mem) >> 20})
    finally:
        pynvml.nvmlShutdown()
    return tuple(out)


def detect(settings: Settings) -> Capacity:
    """This machine's capacity, with the settings' overrides applied."""
    cpus = settings.cpus if settings.cpus is not None else float(len(os.sched_getaffinity(0)))
    memory_mb = settings.memory_mb if settings.memory_mb is not None else psutil.virtual_memory().total >> 20
    gpu_count = settings.gpus if settings.gpus is not None else len(nvml_gpus())
    return Capacity(cpus=cpus, memory_mb=int(memory_mb), gpus=tuple(range(gpu_count)))
