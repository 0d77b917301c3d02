"""The Kernel value object and the parameter schema shared by every kernel."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.errors import SpecError

logger = logging.getLogger(__name__)

DTYPES = ("float32", "float64")
BACKENDS = ("numpy", "torch")

#: Parameters every kernel accepts, with their defaults (``None`` = chosen at run time).
COMMON_DEFAULTS: dict[str, Any] = {
    "device": "cpu",
    "backend": None,
    "dtype": "float32",
    "repeat": 3,
    "check": True,
    "seed": 0,
    "threads": None,
}

_INT_PARAMS = {"repeat": 1, "seed": 0, "threads": 1}


@dataclass(frozen=True)
class Kernel:
    """One compute kernel: how to make inputs, compute, check and count its work.

    Attributes:
        name: registry name (``matmul``, ``image``, ``blur``).
        summary: one line for listings.
        defaults: kernel-specific parameters and their defaults (the type of the default
            is the type accepted).
        size_param: the parameter that is the kernel's problem size (used by profiles).
        metric: ``"gflops"`` for compute-bound kernels, ``"gbps"`` for memory-bound ones;
            the figure a report shows first.
        make_inputs: ``(params, rng) -> tuple of host arrays`` (fresh random data, never zeros).
        compute: ``(ops, device_inputs, params) -> device array``; one code path for all backends.
        reference: ``(host_inputs, params) -> float64 host array`` (or a sample, see ``compare``).
        compare: ``(host_result, reference, host_inputs, params) -> normalised max error``.
        flops: ``params -> floating-point operations of one compute call``.
        bytes: ``params -> minimum bytes moved (inputs read once, output written once)``.
        tolerance: ``params -> largest normalised error accepted``.
        validate: extra checks on resolved parameters; raises ``SpecError``.
    """

    name: str
    summary: str
    defaults: Mapping[str, Any]
    size_param: str
    metric: str
    make_inputs: Callable[[dict[str, Any], np.random.Generator], tuple[np.ndarray, ...]]
    compute: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]
    reference: Callable[[tuple[np.ndarray, ...], dict[str, Any]], np.ndarray]
    compare: Callable[[np.ndarray, np.ndarray, tuple[np.ndarray, ...], dict[str, Any]], float]
    flops: Callable[[dict[str, Any]], int]
    bytes: Callable[[dict[str, Any]], int]
    tolerance: Callable[[dict[str, Any]], float]
    validate: Callable[[dict[str, Any]], None] = field(default=lambda p: None)

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Fill defaults and check every parameter.

        Args:
            params: what the caller gave; may be ``None`` or empty.

        Returns:
            A new dict with every common and kernel parameter set.

        Raises:
            SpecError: an unknown parameter, a wrong type or an out-of-range value.
        """
        given = dict(params or {})
        allowed = {**COMMON_DEFAULTS, **self.defaults}
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise SpecError(
                f"kernel {self.name!r} does not take parameter(s) {', '.join(unknown)}",
                f"use only: {', '.join(sorted(allowed))}",
                kernel=self.name,
                unknown=unknown,
            )
        resolved = {**allowed, **given}
        for key, default in self.defaults.items():
            resolved[key] = _coerce(self.name, key, resolved[key], type(default))
        for key, low in _INT_PARAMS.items():
            if resolved[key] is None and key == "threads":
                continue
            value = _coerce(self.name, key, resolved[key], int)
            if value < low:
                raise SpecError(
                    f"kernel {self.name!r}: {key}={value} is below {low}",
                    f"give {key} >= {low}",
                )
            resolved[key] = value
        if resolved["dtype"] not in DTYPES:
            raise SpecError(
                f"kernel {self.name!r}: dtype {resolved['dtype']!r} is not supported",
                f"use dtype one of: {', '.join(DTYPES)}",
            )
        if not isinstance(resolved["check"], bool):
            raise SpecError(
                f"kernel {self.name!r}: check must be true or false, got {resolved['check']!r}",
                "give check as a boolean",
            )
        self.validate(resolved)
        return resolved

    def size(self, params: Mapping[str, Any]) -> int:
        """The problem size of a resolved parameter set (its ``size_param``)."""
        return int(params[self.size_param])


def _coerce(kernel: str, key: str, value: Any, kind: type) -> Any:
    """Check one parameter's type, accepting ints where floats are expected."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise SpecError(
            f"kernel {kernel!r}: parameter {key}={value!r} must be of type {kind.__name__}",
            f"give {key} as a {kind.__name__}",
        )
    return value


def positive(kernel: str, params: Mapping[str, Any], *keys: str) -> None:
    """Raise ``SpecError`` unless every named parameter is > 0."""
    for key in keys:
        if params[key] <= 0:
            raise SpecError(
                f"kernel {kernel!r}: {key}={params[key]} must be positive",
                f"give {key} > 0",
            )


def max_rel_error(result: np.ndarray, reference: np.ndarray) -> float:
    """``max |result - reference| / max(max |reference|, tiny)``, computed in float64."""
    res = np.asarray(result, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if res.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(res - ref)) / scale)
