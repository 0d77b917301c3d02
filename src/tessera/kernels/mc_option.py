"""The ``mc_option`` kernel: discounted payoffs of a European option on Monte Carlo GBM paths.

Each path of geometric Brownian motion takes ``steps`` exact log-normal increments,
``log S(t + h) = log S(t) + (r - sigma^2 / 2) h + sigma sqrt(h) Z``, from standard normal draws
``Z`` made on the host; the payoff ``max(S_T - K, 0)`` (call) or ``max(K - S_T, 0)`` (put) is
discounted by ``exp(-r T)``. One code path for NumPy and PyTorch (``cpu`` or ``cuda``).
``tessera.domains.finance`` prices options and portfolio risk with it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from tessera.errors import SpecError
from tessera.kernels._base import Kernel, max_rel_error, positive
from tessera.kernels.backends import Ops

logger = logging.getLogger(__name__)

KINDS = ("call", "put")


def xp(ops: Ops) -> Any:
    """The array module behind ``ops``: ``numpy`` or ``torch``."""
    return getattr(ops, "torch", np)


def payoffs(ops: Ops, normals: Any, p: dict[str, Any]) -> Any:
    """Discounted payoff per path from ``(paths, steps)`` standard normals on the device."""
    mod = xp(ops)
    h = p["maturity"] / normals.shape[1]
    drift = (p["rate"] - 0.5 * p["sigma"] ** 2) * h
    log_growth = normals.sum(1) * (p["sigma"] * math.sqrt(h)) + drift * normals.shape[1]
    terminal = mod.exp(log_growth) * p["spot"]
    gain = terminal - p["strike"] if p["kind"] == "call" else p["strike"] - terminal
    return gain.clip(min=0) * math.exp(-p["rate"] * p["maturity"])


def make_inputs(p: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``(paths, steps)`` standard normal draws."""
    return (rng.standard_normal((p["paths"], p["steps"])).astype(p["dtype"]),)


def compute(ops: Ops, inputs: tuple[Any, ...], p: dict[str, Any]) -> Any:
    """Discounted payoff of every path."""
    return payoffs(ops, inputs[0], p)


def reference(inputs: tuple[np.ndarray, ...], p: dict[str, Any]) -> np.ndarray:
    """The same payoffs in float64, stepping each path forward with ``np.cumsum``."""
    z = inputs[0].astype(np.float64)
    h = p["maturity"] / z.shape[1]
    log_path = np.cumsum((p["rate"] - 0.5 * p["sigma"] ** 2) * h + p["sigma"] * math.sqrt(h) * z, 1)
    s_t = p["spot"] * np.exp(log_path[:, -1])
    gain = s_t - p["strike"] if p["kind"] == "call" else p["strike"] - s_t
    return np.maximum(gain, 0.0) * math.exp(-p["rate"] * p["maturity"])


def compare(result: np.ndarray, ref: np.ndarray, inputs: tuple, p: dict[str, Any]) -> float:
    """Max error relative to the largest reference payoff."""
    return max_rel_error(result, ref)


def flops(p: dict[str, Any]) -> int:
    """``paths * (steps + 7)``: the sum of the draws, then scale, shift, exp, spot, strike,
    clip and discount per path (``exp`` counted as one operation)."""
    return p["paths"] * (p["steps"] + 7)


def nbytes(p: dict[str, Any]) -> int:
    """``paths * (steps + 1) * itemsize``: read the draws once, write one payoff per path."""
    return p["paths"] * (p["steps"] + 1) * np.dtype(p["dtype"]).itemsize


def tolerance(p: dict[str, Any]) -> float:
    """``64 * eps * sqrt(steps)`` relative to the largest payoff (a sum, then an exp)."""
    return 64.0 * float(np.finfo(p["dtype"]).eps) * math.sqrt(p["steps"])


def _validate(p: dict[str, Any]) -> None:
    positive("mc_option", p, "paths", "steps", "spot", "strike", "maturity", "sigma")
    if p["kind"] not in KINDS:
        raise SpecError(
            f"kernel 'mc_option': kind {p['kind']!r} is not an option kind",
            f"use kind one of: {', '.join(KINDS)}",
        )


KERNEL = Kernel(
    name="mc_option",
    summary="Monte Carlo European option payoffs on GBM paths",
    defaults={
        "paths": 1_000_000,
        "steps": 1,
        "spot": 100.0,
        "strike": 100.0,
        "maturity": 1.0,
        "rate": 0.05,
        "sigma": 0.2,
        "kind": "call",
    },
    size_param="paths",
    metric="gbps",
    make_inputs=make_inputs,
    compute=compute,
    reference=reference,
    compare=compare,
    flops=flops,
    bytes=nbytes,
    tolerance=tolerance,
    validate=_validate,
)
