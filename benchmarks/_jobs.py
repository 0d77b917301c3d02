"""Job bodies shared by the benchmarks (importable by every system's workers)."""

from __future__ import annotations

import numpy as np

_A = None


def noop(*_: object) -> None:
    return None


def pick(data: np.ndarray, i: int) -> float:
    """One value of a large array the job captured (``functools.partial(pick, data)``)."""
    return float(data[i % len(data)])


def numpy_1ms(i: int = 0) -> float:
    """About a millisecond of NumPy work on this class of machine (a 128x128 matmul chain)."""
    global _A
    if _A is None:
        _A = np.random.default_rng(0).random((128, 128))
    x = _A
    for _ in range(6):
        x = x @ _A
        x /= np.abs(x).max()
    return float(x[0, 0]) + i


def spin_100us(i: int = 0) -> int:
    """About 0.1 ms of pure-Python work (a busy loop on the clock: the same on any machine)."""
    import time

    end = time.perf_counter() + 1e-4
    while time.perf_counter() < end:
        pass
    return i
