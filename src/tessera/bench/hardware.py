"""What machine this is: CPU model, cores, memory, GPUs, and a short fingerprint of them."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> int:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30)
    except ImportError:  # pragma: no cover - psutil is a core dependency
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)


def _gpus() -> list[str]:
    """GPU names from ``nvidia-smi`` (no CUDA context is created); empty if none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("nvidia-smi failed: %s", exc)
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


@cache
def hardware_info() -> dict[str, Any]:
    """``{cpu_model, cpu_count, memory_gib, gpus, machine, fingerprint}`` of this machine."""
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "machine": platform.machine(),
    }
    info["fingerprint"] = _digest(info)
    return info


def _digest(info: dict[str, Any]) -> str:
    keys = ("cpu_model", "cpu_count", "memory_gib", "gpus", "machine")
    blob = json.dumps({k: info[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def hardware_fingerprint() -> str:
    """12 hex digits of sha256 over CPU model, core count, memory (GiB), GPU names."""
    return str(hardware_info()["fingerprint"])


def describe() -> str:
    """One line for report headers, e.g. ``AMD EPYC, 2 cores, 23 GiB, no GPU``."""
    info = hardware_info()
    gpus = ", ".join(info["gpus"]) or "no GPU"
    return f"{info['cpu_model']}, {info['cpu_count']} cores, {info['memory_gib']} GiB, {gpus}"
