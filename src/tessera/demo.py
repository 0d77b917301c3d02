"""Functions for the demo job file (``make run``): a Monte Carlo estimate of pi, fanned out and reduced."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _dir() -> Path:
    d = Path(os.environ.get("TESSERA_HOME", ".")) / "demo"
    d.mkdir(parents=True, exist_ok=True)
    return d


def prepare(samples: int) -> dict[str, int]:
    """Write the run's parameters for the array to read."""
    (_dir() / "params.json").write_text(json.dumps({"samples": samples}))
    print(f"prepared: {samples} samples per element")
    return {"samples": samples}


def estimate() -> float:
    """One array element: estimate pi from its own seeded random points."""
    index = int(os.environ["TESSERA_ARRAY_INDEX"])
    samples = json.loads((_dir() / "params.json").read_text())["samples"]
    rng = np.random.default_rng(index)
    xy = rng.random((samples, 2))
    inside = int(np.count_nonzero((xy * xy).sum(axis=1) <= 1.0))
    (_dir() / f"part-{index}.json").write_text(json.dumps({"inside": inside, "samples": samples}))
    print(f"element {index}: {inside} of {samples} inside")
    return 4.0 * inside / samples


def reduce() -> float:
    """Combine the elements' counts into one estimate."""
    parts = [json.loads(p.read_text()) for p in sorted(_dir().glob("part-*.json"))]
    inside = sum(p["inside"] for p in parts)
    total = sum(p["samples"] for p in parts)
    pi = 4.0 * inside / total
    print(f"pi ~ {pi:.6f} from {total} samples in {len(parts)} elements (error {abs(pi - np.pi):.2e})")
    return pi
