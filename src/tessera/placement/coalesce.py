"""Tiny-job coalescing (pure): how many array elements a worker runs back to back per round trip.

A coalesced array's elements stay jobs of their own (each its own attempt, result, state,
events and retry budget), but a worker runs up to ``chunk`` of them back to back and sends
their replies in one write, so the controller reads and commits them together
(``tessera.executors.coalesce``, the worker's side). ``decide`` chooses ``chunk``:

* ``off`` (or 1): never; ``N``: up to N, whatever the figures;
* ``auto``: from the predicted per-element runtime (the median run time of earlier elements of
  the same model, from the job history) against the measured overhead of a round trip (fitted
  from the recent arrays of that model: ``placement.apply.element_figures``). When an element
  runs shorter than that overhead, chunk = ⌈overhead / runtime⌉, at most ``MAX_CHUNK``
  and at most the elements per slot, so every slot still gets work; else, or with nothing
  measured, 1.

Elements with a timeout under ``MIN_TIMEOUT_S`` are never coalesced: a held reply could
make a finished element look late.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tessera.errors import SpecError

MAX_CHUNK = 64  # the controller's default pipeline depth: a worker never holds more attempts queued
MIN_TIMEOUT_S = 1.0
FIX = "use --coalesce auto, --coalesce off or --coalesce N with N from 1 to 64"


@dataclass(frozen=True)
class Coalescing:
    """The decision and its figures (stored in the array's spec, shown by ``tessera explain``)."""

    chunk: int
    reason: str
    mode: str
    element_s: float | None = None
    overhead_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_mode(value: object) -> str:
    """``auto``, ``off`` or a chunk size from 1 to ``MAX_CHUNK`` (as text); SpecError otherwise."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    if text.isdigit() and 1 <= int(text) <= MAX_CHUNK:
        return str(int(text))
    raise SpecError(f"--coalesce {value!r} is not auto, off or a chunk size from 1 to {MAX_CHUNK}", FIX)


def decide(mode: str, element_s: float | None, overhead_s: float | None, count: int, slots: int,
           timeout_s: float | None = None) -> Coalescing:
    """How many elements per round trip for an array of ``count`` elements on ``slots`` slots."""
    mode = parse_mode(mode)
    figures = _figures(element_s, overhead_s)
    if timeout_s is not None and timeout_s < MIN_TIMEOUT_S and mode != "off":
        return Coalescing(1, f"not coalesced: its timeout of {timeout_s:g} s is under {MIN_TIMEOUT_S:g} s",
                          mode, element_s, overhead_s)
    if mode == "off":
        return Coalescing(1, "not coalesced: --coalesce off", mode, element_s, overhead_s)
    if mode != "auto":
        n = int(mode)
        return Coalescing(n, f"coalesced {n} elements per round trip (forced)" + (f": {figures}" if figures else ""),
                          mode, element_s, overhead_s)
    if element_s is None or overhead_s is None:
        what = "runtime" if element_s is None else "overhead"
        return Coalescing(1, f"not coalesced: no {what} measured yet for this model", mode, element_s, overhead_s)
    if element_s >= overhead_s:
        return Coalescing(1, f"not coalesced: {figures}", mode, element_s, overhead_s)
    per_slot = max(1, count // max(1, slots))
    n = max(1, min(MAX_CHUNK, per_slot, math.ceil(overhead_s / max(element_s, 1e-9))))
    if n <= 1:
        return Coalescing(1, f"not coalesced: {count} elements on {slots} slots ({figures})", mode, element_s,
                          overhead_s)
    return Coalescing(n, f"coalesced {n} elements per round trip: {figures}", mode, element_s, overhead_s)


def _figures(element_s: float | None, overhead_s: float | None) -> str:
    if element_s is None or overhead_s is None:
        return ""
    return f"{_ms(element_s)} each vs {_ms(overhead_s)} overhead"


def _ms(s: float) -> str:
    return f"{s * 1e3:.2g} ms"
