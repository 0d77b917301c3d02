"""Array element bodies for the coalescing tests (importable by workers)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def echo(i: int) -> dict[str, object]:
    """Its index, the chunk its worker was told, and which worker ran it."""
    return {"i": i, "chunk": os.environ.get("TESSERA_COALESCE"), "pid": os.getpid()}


def flaky(i: int, marker_dir: str = "") -> int:
    """Element 5 fails on its first attempt only (a marker file remembers the failure)."""
    marker = Path(marker_dir) / f"failed-{i}"
    if i == 5 and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("element 5 fails once")
    return i * i


def nap(i: int, seconds: float = 0.005) -> int:
    time.sleep(seconds)
    return i
