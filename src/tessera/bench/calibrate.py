"""Per-device peak FLOP/s and bandwidth, measured once and cached as JSON per machine."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.bench.hardware import hardware_fingerprint

logger = logging.getLogger(__name__)

Measure = Callable[[str], dict[str, Any]]


def tessera_home() -> Path:
    """``$TESSERA_HOME``, default ``~/.tessera``."""
    return Path(os.environ.get("TESSERA_HOME") or Path.home() / ".tessera").expanduser()


def cache_path(device: str, cache_dir: Path | None = None) -> Path:
    """Where a device's calibration is cached: ``<dir>/calibration-<fingerprint>-<device>.json``."""
    base = cache_dir or tessera_home() / "calibration"
    return base / f"calibration-{hardware_fingerprint()}-{device.replace(':', '_')}.json"


def subprocess_measure(device: str) -> dict[str, Any]:
    """Measure peaks in a fresh process (no CUDA context stays in the caller)."""
    from tessera.bench.runner import run_module

    return run_module(["peak", "--device", device])


def calibrate(
    device: str,
    cache_dir: Path | None = None,
    *,
    refresh: bool = False,
    measure: Measure | None = None,
) -> dict[str, Any]:
    """This machine's measured peaks for ``device``, from the cache when present.

    Args:
        device: ``cpu`` or ``cuda:N``.
        cache_dir: folder for the JSON cache (default ``$TESSERA_HOME/calibration``).
        refresh: measure again even when cached.
        measure: ``device -> peaks``; default runs ``measure_peak`` in a subprocess.

    Returns:
        ``measure_peak``'s dict plus ``fingerprint``.
    """
    path = cache_path(device, cache_dir)
    if path.exists() and not refresh:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable calibration cache %s: %s", path, exc)
    peaks = dict((measure or subprocess_measure)(device))
    peaks["fingerprint"] = hardware_fingerprint()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(peaks, indent=2))
    tmp.replace(path)
    logger.info("calibrated %s: %s", device, peaks)
    return peaks
