"""Crossover finding: the problem size above which one device beats another (pure functions)."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)


def find_crossover(
    sizes: Sequence[float], slow_s: Sequence[float], fast_s: Sequence[float]
) -> float | None:
    """The size from which the ``fast`` device stays faster than the ``slow`` one.

    Points are sorted by size. If the fast device is not faster at the largest size there is
    no crossover (``None``). Otherwise the crossover lies between the last size where it was
    not faster and the next one; it is placed where ``log(fast / slow)`` crosses zero,
    interpolating linearly in ``log(size)``. If the fast device wins at every size, the
    smallest size is returned (the true crossover is at or below it).

    Args:
        sizes: problem sizes (> 0).
        slow_s: seconds on the reference device (the CPU), one per size.
        fast_s: seconds on the challenger (the GPU), one per size.

    Returns:
        The crossover size, or ``None``.

    Raises:
        ValueError: lengths differ, or a size or time is not positive.
    """
    if not len(sizes) == len(slow_s) == len(fast_s):
        raise ValueError("sizes, slow_s and fast_s must have the same length")
    points = sorted(zip(sizes, slow_s, fast_s, strict=True))
    if not points:
        return None
    if any(v <= 0 for p in points for v in p):
        raise ValueError("sizes and times must be positive")
    log_ratio = [math.log(f / s) for _, s, f in points]
    if log_ratio[-1] >= 0:
        return None
    last_not_faster = max((i for i, r in enumerate(log_ratio) if r >= 0), default=None)
    if last_not_faster is None:
        return float(points[0][0])
    i = last_not_faster
    x0, x1 = math.log(points[i][0]), math.log(points[i + 1][0])
    r0, r1 = log_ratio[i], log_ratio[i + 1]
    t = r0 / (r0 - r1)
    return float(math.exp(x0 + t * (x1 - x0)))


def sweep_crossovers(
    results: Iterable[Mapping[str, Any]], slow: str = "cpu", fast: str | None = None
) -> dict[str, float | None]:
    """Crossover size per kernel from sweep results, comparing ``total_s`` of two devices.

    Args:
        results: enriched results (``run_suite``); failed ones and non-sweep ones are skipped.
        slow: the reference device.
        fast: the challenger; ``None`` takes the first other device present.

    Returns:
        ``{kernel: size or None}`` for each kernel measured on both devices at 2+ sizes.
    """
    times: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        if r.get("error") or r.get("suite") != "sweep" or not r.get("total_s"):
            continue
        times[r["kernel"]][r["device"]][int(r["size"])] = float(r["total_s"])
    out: dict[str, float | None] = {}
    for kernel, by_device in times.items():
        other = fast or next((d for d in by_device if d != slow), None)
        if other is None or slow not in by_device or other not in by_device:
            continue
        common = sorted(set(by_device[slow]) & set(by_device[other]))
        if len(common) < 2:
            continue
        out[kernel] = find_crossover(
            common, [by_device[slow][s] for s in common], [by_device[other][s] for s in common]
        )
    return out
