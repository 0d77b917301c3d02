"""Small generic components every workflow can use: make, stack and reduce arrays, gather JSON."""

from __future__ import annotations

from typing import Any

import numpy as np

from tessera.workflows.registry import component


@component("array.random", version="1")
def random_array(*, shape: list[int], seed: int = 0) -> np.ndarray:
    """A float64 array of the given shape, uniform in [0, 1), from a seeded generator."""
    return np.random.default_rng(seed).random(tuple(shape))


@component("array.stack", version="1")
def stack(items: list[np.ndarray]) -> np.ndarray:
    """Stack a list of equally shaped arrays along a new first axis (gathers a mapped step)."""
    return np.stack(items)


@component("array.sum", version="1")
def total(items: list[np.ndarray]) -> np.ndarray:
    """Element-wise sum of a list of equally shaped arrays (e.g. a seismic stack)."""
    return np.sum(np.stack(items), axis=0)


@component("json.gather", version="1", inputs={"items": "list[json]"})
def gather(items: list[Any]) -> list[Any]:
    """Collect the JSON outputs of a mapped step into one list, in index order."""
    return list(items)
