"""Tiny-job coalescing: a 10,000-element array of ~0.1 ms functions, coalesced or not, side by side.

    .venv/bin/python benchmarks/coalesce.py [--elements 10000] [--reps 3] [--json out.json]

tessera (embedded client, 2 CPUs, 2 warm workers, durable SQLite) runs the array with
``placement={"coalesce": MODE}`` for MODE = off, 16, 64 and auto (auto reads the figures of the
previous run of the same function: its median element run time and the overhead per element),
interleaved over ``--reps`` rounds. The peer is ``concurrent.futures.ProcessPoolExecutor.map`` with
``chunksize=1`` and ``chunksize=64`` (its own coalescing). Reported per run: wall time, elements
per second, and CPU time per element of the controller process and of the workers (CPU time is
less sensitive than wall time to the other load on a shared machine).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]
from _jobs import spin_100us  # noqa: E402


def cpu() -> tuple[float, float]:
    me = psutil.Process()
    own = me.cpu_times()
    kids = 0.0
    for k in me.children(recursive=True):
        try:
            t = k.cpu_times()
            kids += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return own.user + own.system, kids


def run_tessera(c: Any, n: int, mode: str) -> dict[str, Any]:
    c0, k0 = cpu()
    t = time.perf_counter()
    h = c.map_async(spin_100us, range(n), placement={"coalesce": mode})
    values = c.array_results(h, timeout=3600)
    wall = time.perf_counter() - t
    c1, k1 = cpu()
    assert values == list(range(n))
    chosen = c.store.job(h.id).spec.placement.coalesced or {}
    return {"system": "tessera", "mode": mode, "chunk": chosen.get("chunk"), "reason": chosen.get("reason"),
            "wall_s": wall, "per_s": n / wall, "controller_cpu_us": 1e6 * (c1 - c0) / n,
            "workers_cpu_us": 1e6 * (k1 - k0) / n}


def run_pool(pool: cf.ProcessPoolExecutor, n: int, chunk: int) -> dict[str, Any]:
    c0, k0 = cpu()
    t = time.perf_counter()
    values = list(pool.map(spin_100us, range(n), chunksize=chunk))
    wall = time.perf_counter() - t
    c1, k1 = cpu()
    assert values == list(range(n))
    return {"system": "ProcessPoolExecutor", "mode": f"chunksize={chunk}", "chunk": chunk, "reason": "",
            "wall_s": wall, "per_s": n / wall, "controller_cpu_us": 1e6 * (c1 - c0) / n,
            "workers_cpu_us": 1e6 * (k1 - k0) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    from tessera.client import Client

    load0 = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with Client(home=tempfile.mkdtemp(prefix="tessera-coalesce-"), embedded=True, workers=2, cpus=2) as c, \
            cf.ProcessPoolExecutor(2) as pool:
        c.map(spin_100us, range(200))  # warm up, and give auto a first history
        list(pool.map(spin_100us, range(200)))
        for _ in range(a.reps):
            for mode in ("off", "16", "64", "auto"):
                runs.append(run_tessera(c, a.elements, mode))
            for chunk in (1, 64):
                runs.append(run_pool(pool, a.elements, chunk))
    load1 = os.getloadavg()
    t = Table(title=f"{a.elements} elements of ~0.1 ms, 2 workers, median of {a.reps} "
                    f"(load {load0[0]:.1f} before, {load1[0]:.1f} after)")
    for col in ("system", "mode", "chunk", "wall s", "elements/s", "controller CPU µs/el", "workers CPU µs/el"):
        t.add_column(col)
    summary = []
    for key in dict.fromkeys((r["system"], r["mode"]) for r in runs):
        mine = [r for r in runs if (r["system"], r["mode"]) == key]
        med = {k: statistics.median(r[k] for r in mine) for k in ("wall_s", "per_s", "controller_cpu_us",
                                                                  "workers_cpu_us")}
        chunks = sorted({str(r["chunk"]) for r in mine})
        summary.append({"system": key[0], "mode": key[1], "chunks": chunks, **med,
                        "walls": [r["wall_s"] for r in mine], "reason": mine[-1]["reason"]})
        t.add_row(key[0], key[1], ",".join(chunks), f"{med['wall_s']:.2f}", f"{med['per_s']:.0f}",
                  f"{med['controller_cpu_us']:.0f}", f"{med['workers_cpu_us']:.0f}")
    Console(width=140).print(t)
    auto = [r for r in runs if r["mode"] == "auto"]
    if auto:
        print(f"auto's decision: {auto[-1]['reason']}")
    if a.json:
        a.json.write_text(json.dumps({"load_before": load0, "load_after": load1, "runs": runs, "summary": summary},
                                     indent=1))


if __name__ == "__main__":
    main()
