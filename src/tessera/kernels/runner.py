"""``run_job``: run one kernel once cold and ``repeat`` times warm, check it, report figures."""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tessera.kernels.backends import Ops, make_ops, resolve_target
from tessera.kernels.filters import available_cores
from tessera.kernels.registry import get

logger = logging.getLogger(__name__)


def run_job(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run a kernel and measure it; the entry point a worker process calls.

    Inputs are made on the host from ``seed`` (not timed). The *cold* run copies them to the
    device, computes and copies the result back, in one timed block: in a fresh process it
    includes CUDA context creation, library loading and first allocations. *Warm* runs time
    the compute alone on device-resident inputs, synchronised; ``warm_s`` is their median.
    On an accelerator the host-to-device and device-to-host copies are then timed apart.

    Args:
        name: a kernel in ``REGISTRY`` (``matmul``, ``image``, ``blur``).
        params: kernel parameters plus the common ones: ``device`` (``cpu``, ``cuda``,
            ``cuda:N``), ``backend`` (``numpy`` | ``torch``), ``dtype``, ``repeat``,
            ``check`` (compare with the float64 reference), ``seed``, ``threads``.

    Returns:
        A JSON-serialisable dict: ``kernel``, ``params`` (resolved), ``device``, ``backend``,
        ``size``, ``cold_s``, ``warm_s``, ``warm_times_s``, ``h2d_s``, ``d2h_s`` (``None`` on
        the CPU), ``flops``, ``bytes``, ``gflops``, ``gbps``, ``checked``, ``max_err``,
        ``tolerance``, ``ok`` (``None`` when not checked), ``checksum`` (float64 sum of the
        result), ``threads``, ``versions``, ``measured_at`` (UTC ISO 8601).

    Raises:
        SpecError: an unknown kernel or parameter, a bad value, or a device that is not here.
    """
    kernel = get(name)
    p = kernel.resolve(params)
    target = resolve_target(p["device"], p["backend"])
    p["device"], p["backend"] = target.device, target.backend
    ops = make_ops(target, p["threads"])
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    host_inputs = kernel.make_inputs(p, np.random.default_rng(p["seed"]))
    logger.debug("running %s on %s/%s with %s", name, target.device, target.backend, p)

    start = time.perf_counter()
    inputs: Any = tuple(ops.to_device(x) for x in host_inputs)
    result = kernel.compute(ops, inputs, p)
    host_result = ops.to_host(result)
    cold_s = time.perf_counter() - start

    warm_times = [_timed_compute(ops, kernel.compute, inputs, p) for _ in range(p["repeat"])]
    warm_s = statistics.median(warm_times)
    h2d_s = d2h_s = None
    if target.is_accelerator:
        h2d_s = _timed(ops, lambda: [ops.to_device(x) for x in host_inputs])
        result = kernel.compute(ops, inputs, p)
        ops.sync()
        d2h_s = _timed(ops, lambda: ops.to_host(result))
    result = inputs = None  # drop device buffers before releasing the cache
    ops.release()

    flops, nbytes = kernel.flops(p), kernel.bytes(p)
    out: dict[str, Any] = {
        "kernel": name,
        "params": dict(p),
        "device": target.device,
        "backend": target.backend,
        "size": kernel.size(p),
        "cold_s": cold_s,
        "warm_s": warm_s,
        "warm_times_s": warm_times,
        "h2d_s": h2d_s,
        "d2h_s": d2h_s,
        "flops": flops,
        "bytes": nbytes,
        "gflops": flops / warm_s / 1e9 if warm_s > 0 else None,
        "gbps": nbytes / warm_s / 1e9 if warm_s > 0 else None,
        "checked": p["check"],
        "max_err": None,
        "tolerance": kernel.tolerance(p),
        "ok": None,
        "checksum": _finite(float(np.sum(host_result, dtype=np.float64))),
        "threads": p["threads"] or available_cores(),
        "versions": _versions(ops),
        "measured_at": measured_at,
    }
    if p["check"]:
        ref = kernel.reference(host_inputs, p)
        err = kernel.compare(host_result, ref, host_inputs, p)
        out["max_err"] = _finite(err)
        out["ok"] = bool(err <= out["tolerance"])
        if not out["ok"]:
            logger.warning(
                "%s on %s: error %.3g above tolerance %.3g",
                name,
                target.device,
                err,
                out["tolerance"],
            )
    return out


def _timed_compute(ops: Ops, compute: Any, inputs: tuple[Any, ...], p: dict[str, Any]) -> float:
    ops.sync()
    start = time.perf_counter()
    compute(ops, inputs, p)
    ops.sync()
    return time.perf_counter() - start


def _timed(ops: Ops, fn: Any) -> float:
    ops.sync()
    start = time.perf_counter()
    fn()
    ops.sync()
    return time.perf_counter() - start


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _versions(ops: Ops) -> dict[str, str]:
    import scipy

    versions = {"numpy": np.__version__, "scipy": scipy.__version__}
    torch = getattr(ops, "torch", None)
    if torch is not None:
        versions["torch"] = torch.__version__
    return versions
