"""Measured machine peaks: dense-matmul FLOP/s and copy bandwidth of one device."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tessera.kernels.backends import make_ops, resolve_target
from tessera.kernels.filters import available_cores

logger = logging.getLogger(__name__)

#: Matrix orders for the FLOP/s probe, per device kind; the best rate over them is kept
#: (BLAS speed varies with the order, e.g. OpenBLAS on a 2-core EPYC VM: 216 GFLOP/s at
#: n = 2000, about 100 at n = 4096).
PEAK_N = {"cpu": (2000, 3000, 4000), "cuda": (4096, 8192)}
#: Bytes per array for the bandwidth probe, per device kind.
COPY_BYTES = {"cpu": 256 << 20, "cuda": 1 << 30}


def measure_peak(device: str = "cpu", repeat: int = 3) -> dict[str, Any]:
    """Best matmul FLOP/s (float32, float64) over a few orders, and copy GB/s of a device.

    The CPU copy is split across every core (NumPy copies release the GIL); bandwidth counts
    one read and one write per byte copied. CUDA figures use PyTorch on that device.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        repeat: timed runs per probe after one untimed warm-up; the best is kept.

    Returns:
        ``{device, peak_gflops_fp32, peak_gflops_fp64, peak_gbps, matmul_n, copy_bytes,
        measured_at}``.
    """
    target = resolve_target(device, None)
    kind = "cpu" if target.device == "cpu" else "cuda"
    ops = make_ops(target)
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"device": target.device, "matmul_n": list(PEAK_N[kind])}
    for dtype in ("float32", "float64"):
        rates = []
        for n in PEAK_N[kind]:
            a = ops.to_device(rng.uniform(-1, 1, (n, n)).astype(dtype))
            b = ops.to_device(rng.uniform(-1, 1, (n, n)).astype(dtype))
            rates.append(2 * n**3 / _best(ops, lambda a=a, b=b: a @ b, repeat) / 1e9)
            a = b = None
        result[f"peak_gflops_{dtype.replace('float', 'fp')}"] = max(rates)
    nbytes = COPY_BYTES[kind]
    src = ops.to_device(rng.random(nbytes // 8))
    if kind == "cpu":
        dst = np.empty_like(src)
        best = _best(ops, lambda: _threaded_copy(dst, src), repeat)
    else:
        dst = src.clone()
        best = _best(ops, lambda: dst.copy_(src), repeat)
    result["peak_gbps"] = 2 * nbytes / best / 1e9
    result["copy_bytes"] = nbytes
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    src = dst = None  # drop device buffers before releasing the cache
    ops.release()
    logger.info("peaks of %s: %s", target.device, result)
    return result


def _best(ops: Any, fn: Any, repeat: int) -> float:
    fn()
    ops.sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        ops.sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _threaded_copy(dst: np.ndarray, src: np.ndarray) -> None:
    threads = available_cores()
    edges = np.linspace(0, src.size, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda i: np.copyto(dst[edges[i] : edges[i + 1]], src[edges[i] : edges[i + 1]]),
                range(threads),
            )
        )
