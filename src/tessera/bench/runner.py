"""Run benchmark cases on devices, each in its own process, and enrich the raw figures."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tessera.bench.cases import Case
from tessera.bench.prices import price_for
from tessera.errors import SpecError, TesseraError
from tessera.kernels import resolve_target

logger = logging.getLogger(__name__)

#: ``submit(kernel, params) -> run_job's result dict``; the engine passes one that runs a job.
Submit = Callable[[str, dict[str, Any]], dict[str, Any]]


def run_module(args: Sequence[str], timeout_s: float | None = None) -> dict[str, Any]:
    """Run ``python -m tessera.kernels ARGS`` in a fresh interpreter and parse its JSON.

    Raises:
        TesseraError: the child failed; its own error message is kept when it gave one.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "tessera.kernels", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise TesseraError(
            f"`{' '.join(args[:2])}` ran past {timeout_s} s",
            "use a smaller --scale or a longer timeout",
        ) from exc
    lines = proc.stdout.strip().splitlines()
    doc: dict[str, Any] | None = None
    if lines:
        try:
            doc = json.loads(lines[-1])
        except json.JSONDecodeError:
            doc = None
    if doc is not None and "error" in doc:
        raise TesseraError(str(doc["error"]))
    if proc.returncode != 0 or doc is None:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise TesseraError(
            f"worker `{' '.join(args[:2])}` exited {proc.returncode}: {tail}",
            "read the error above; run the same case with `python -m tessera.kernels run` to see it",
        )
    return doc


def subprocess_submit(kernel: str, params: dict[str, Any]) -> dict[str, Any]:
    """The default ``Submit``: ``run_job`` in a fresh process, so cold time is honest."""
    return run_module(["run", kernel, "--params", json.dumps(params)])


def check_devices(devices: Iterable[str]) -> list[str]:
    """Normalise device names and make sure each exists here.

    Raises:
        SpecError: an unknown device, or CUDA asked for where there is none.
    """
    seen: list[str] = []
    for device in devices:
        norm = resolve_target(device, None).device
        if norm not in seen:
            seen.append(norm)
    if not seen:
        raise SpecError("no devices given", "pass --devices cpu or --devices cpu,cuda:0")
    return seen


def run_suite(
    cases: Sequence[Case],
    devices: Sequence[str],
    repeat: int = 3,
    submit: Submit | None = None,
    *,
    check: bool = True,
    peaks: Mapping[str, Mapping[str, Any]] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every case on every device and return one enriched result per pair.

    Devices are checked before anything runs. A case that fails on a device gives a result
    with ``error`` set (and ``ok`` False) and the suite goes on.

    Args:
        cases: what to run (``build_cases``).
        devices: ``cpu``, ``cuda:0``...
        repeat: warm runs per case; the median is reported.
        submit: runs one case and returns ``run_job``'s dict; ``None`` runs each case in a
            fresh ``python -m tessera.kernels`` process.
        check: compare each result with its float64 reference.
        peaks: per device, ``measure_peak``'s dict; adds ``pct_peak`` (% of the roofline).
        on_result: called with each result as soon as it is ready (progress display).

    Returns:
        ``run_job``'s fields plus ``label``, ``suite``, ``total_s`` (warm + transfers),
        ``instance``, ``usd_per_hour``, ``cost_usd`` (of ``total_s``), ``cold_cost_usd``,
        ``pct_peak`` and ``error``.
    """
    devs = check_devices(devices)
    submit = submit or subprocess_submit
    results = []
    for case in cases:
        for device in devs:
            params = {**case.params, "device": device, "repeat": repeat, "check": check}
            try:
                raw = submit(case.kernel, params)
                result = enrich(raw, case, (peaks or {}).get(device))
            except TesseraError as exc:
                logger.error("%s on %s failed: %s", case.label, device, exc)
                result = _failed(case, device, params, exc)
            results.append(result)
            if on_result:
                on_result(result)
    return results


def enrich(raw: Mapping[str, Any], case: Case, peak: Mapping[str, Any] | None) -> dict[str, Any]:
    """Add label, total time, cost and % of the roofline peak to one ``run_job`` result."""
    out = dict(raw)
    price = price_for(out["device"])
    total = out["warm_s"] + (out.get("h2d_s") or 0.0) + (out.get("d2h_s") or 0.0)
    out.update(
        label=case.label,
        suite=case.suite,
        total_s=total,
        instance=price.instance,
        usd_per_hour=price.usd_per_hour,
        cost_usd=price.cost_usd(total),
        cold_cost_usd=price.cost_usd(out["cold_s"]),
        pct_peak=roofline_pct(out, peak),
        error=None,
    )
    return out


def roofline_pct(result: Mapping[str, Any], peak: Mapping[str, Any] | None) -> float | None:
    """Achieved FLOP/s as % of ``min(peak FLOP/s, intensity * peak bandwidth)``.

    Intensity is ``flops / bytes`` (minimum bytes); the peak FLOP/s is the measured matmul
    rate for the result's dtype. ``None`` without a peak or a time.
    """
    if not peak or not result.get("gflops"):
        return None
    dtype = result.get("params", {}).get("dtype", "float32")
    peak_flops = peak.get("peak_gflops_fp64" if dtype == "float64" else "peak_gflops_fp32")
    peak_bw = peak.get("peak_gbps")
    if not peak_flops or not peak_bw:
        return None
    intensity = result["flops"] / result["bytes"]
    roof = min(float(peak_flops), intensity * float(peak_bw))
    return 100.0 * float(result["gflops"]) / roof


def _failed(case: Case, device: str, params: dict[str, Any], exc: Exception) -> dict[str, Any]:
    message = exc.message if isinstance(exc, TesseraError) else str(exc)
    return {
        "kernel": case.kernel,
        "label": case.label,
        "suite": case.suite,
        "device": device,
        "params": params,
        "size": case.params.get("n", case.params.get("size")),
        "ok": False,
        "error": message,
    }
