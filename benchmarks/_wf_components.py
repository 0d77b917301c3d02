"""Step bodies for benchmarks/workflows.py, importable by tessera's workers (the directory is on PYTHONPATH)."""

from __future__ import annotations

import numpy as np

from tessera.workflows import component


def tiny(*_: object, item: int = 0) -> list[int]:
    """The direct job: a tiny result."""
    return [item]


@component("bench.tiny", version="1")
def tiny_step(*, item: int = 0) -> np.ndarray:
    """The same work as a component: a tiny array output."""
    return np.array([item])


@component("bench.next", version="1")
def next_step(x: np.ndarray) -> np.ndarray:
    """One link of a chain: reads the previous step's output."""
    return x + 1
