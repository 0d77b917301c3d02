"""Benchmark profiles (runtime of a kernel at a size on a device) and their default JSON store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tessera.bench.calibrate import tessera_home
from tessera.bench.hardware import hardware_fingerprint

logger = logging.getLogger(__name__)

PROFILE_KEYS = (
    "fingerprint",
    "kernel",
    "size",
    "device",
    "cold_s",
    "warm_s",
    "gflops",
    "gbps",
    "measured_at",
)


def profiles_from_results(
    results: Iterable[Mapping[str, Any]], fingerprint: str | None = None
) -> list[dict[str, Any]]:
    """One profile row per successful result.

    Rows have exactly ``PROFILE_KEYS`` plus ``params``: the kernel's own parameters (for
    example ``batch`` or ``sigma``), so rows of the same size stay distinguishable.
    """
    fp = fingerprint or hardware_fingerprint()
    rows = []
    for r in results:
        if r.get("error") or r.get("warm_s") is None:
            continue
        own = {k: v for k, v in r.get("params", {}).items() if k not in _COMMON}
        rows.append(
            {
                "fingerprint": fp,
                "kernel": r["kernel"],
                "size": r["size"],
                "device": r["device"],
                "cold_s": r["cold_s"],
                "warm_s": r["warm_s"],
                "gflops": r.get("gflops"),
                "gbps": r.get("gbps"),
                "measured_at": r["measured_at"],
                "params": own,
            }
        )
    return rows


_COMMON = {"device", "backend", "repeat", "check", "threads"}


def default_path() -> Path:
    """``$TESSERA_HOME/profiles.json``."""
    return tessera_home() / "profiles.json"


def append_json(rows: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Append rows to the JSON profile file (written atomically); returns its path."""
    path = path or default_path()
    existing = read_json(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(existing + rows, indent=1))
    tmp.replace(path)
    return path


def read_json(path: Path | None = None) -> list[dict[str, Any]]:
    """Rows of the JSON profile file; empty when it does not exist."""
    path = path or default_path()
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable profile file %s: %s", path, exc)
        return []
    return list(data) if isinstance(data, list) else []
