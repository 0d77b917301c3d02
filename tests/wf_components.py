"""Workflow components for tests, importable by worker processes as ``tests.wf_components``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from tessera.workflows import File, component


def _log(log_dir: str, what: str) -> None:
    """Append one line per run, so tests can count how often a step really ran."""
    with open(Path(log_dir) / "runs.log", "a") as f:
        f.write(f"{what}\n")


@component("test.source", version="1")
def source(*, n: int = 4, seed: int = 0, log_dir: str = "") -> np.ndarray:
    """Fresh random numbers."""
    if log_dir:
        _log(log_dir, f"source {seed}")
    return np.random.default_rng(seed).random(n)


@component("test.scale", version="1")
def scale(x: np.ndarray, *, factor: float = 1.0, log_dir: str = "") -> np.ndarray:
    """Multiply by a factor."""
    if log_dir:
        _log(log_dir, f"scale {factor}")
    return x * factor


@component("test.square", version="1")
def square(*, item: int, log_dir: str = "") -> np.ndarray:
    """An array holding item squared."""
    if log_dir:
        _log(log_dir, f"square {item}")
    return np.array([item * item], dtype=np.int64)


@component("test.shift", version="1")
def shift(x: np.ndarray, *, by: int = 1, log_dir: str = "") -> np.ndarray:
    if log_dir:
        _log(log_dir, f"shift {int(x[0])}")
    return x + by


@component("test.fail", version="1")
def fail(*, message: str = "planned failure") -> np.ndarray:
    raise RuntimeError(message)


@component("test.fail_at", version="1")
def fail_at(*, item: int, bad: int) -> np.ndarray:
    if item == bad:
        raise RuntimeError(f"element {item} fails on purpose")
    return np.array([item])


@component("test.note", version="1", outputs="json")
def note(*, message: str, log_dir: str = "") -> dict[str, object]:
    """Record that a handler ran."""
    if log_dir:
        _log(log_dir, f"note {message}")
    return {"message": message, "pid": os.getpid()}


@component("test.describe", version="1", outputs={"text": "file", "stats": "json"})
def describe(x: np.ndarray) -> dict[str, object]:
    """Write a text file and return statistics: two outputs of different types."""
    Path("summary.txt").write_text(f"{x.size} values, sum {float(x.sum()):.6f}\n")
    return {"text": File("summary.txt"), "stats": {"size": int(x.size), "sum": float(x.sum())}}


@component("test.read_text", version="1", outputs="json")
def read_text(doc: File) -> str:
    return Path(doc).read_text()


@component("test.slow", version="1")
def slow(*, seconds: float = 30.0) -> np.ndarray:
    time.sleep(seconds)
    return np.zeros(1)
