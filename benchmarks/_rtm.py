"""RTM benchmark: a 512 x 512 model, 16 shots, 2,000 steps; stencil GB/s against measured STREAM.

    .venv/bin/python benchmarks/workflows.py rtm [--n 512] [--shots 16] [--steps 2000]
                                                 [--workers 2] [--no-workflow] [--engines]

1. STREAM-like bandwidth of this machine, just before and just after the RTM: the triad
   ``a = b + s c`` on 128 MiB float64 arrays, counted as STREAM does (24 bytes per element):
   NumPy (two passes, one thread), and one fused Numba loop on one thread and on every core.
   The reference is the best implementation's mean of its two measurements.
2. Synthetic data: each shot modelled in the true model (not part of the RTM time).
3. RTM of every shot, ``--workers`` shots at a time in separate processes (one thread each):
   forward source propagation + backward receiver propagation + imaging, then the stack.
   Achieved stencil bandwidth = minimum bytes of all time steps (read p(t), p(t-dt), the
   velocity term; write p(t+dt): 4 x 4 bytes per cell per step) / wall time of the RTM phase
   (imaging and snapshot copies are in the time, not in the bytes).
4. The same RTM as a tessera workflow (model -> shots -> migrate -> stack), wall time.
5. ``--engines``: time per step of each stencil engine (Numba, NumPy arrays, PyTorch CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(width=140)
DX = 10.0
F0 = 10.0


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average {os.getloadavg()}"


def stream(mib: int = 128, repeat: int = 5) -> dict[str, float]:
    """Triad GB/s (24 bytes per element, STREAM's count) by NumPy and by a fused Numba loop."""
    n = mib * 2**20 // 8
    a, b, c = (np.full(n, v) for v in (0.0, 1.0, 2.0))  # touched: no page faults in the timing
    s = 3.0

    def best(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 24 * n / min(times) / 1e9

    def numpy_triad() -> None:
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    out = {"numpy (1 thread, 2 passes)": best(numpy_triad)}
    try:
        import numba
    except ImportError:
        return out

    @numba.njit(fastmath=True)
    def triad1(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
        for i in range(a.size):
            a[i] = b[i] + s * c[i]

    @numba.njit(fastmath=True, parallel=True)
    def triad_par(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
        for i in numba.prange(a.size):
            a[i] = b[i] + s * c[i]

    out["numba (1 thread, fused)"] = best(lambda: triad1(a, b, c, s))
    out[f"numba ({numba.get_num_threads()} threads, fused)"] = best(lambda: triad_par(a, b, c, s))
    return out


def survey(n: int, steps: int) -> tuple[np.ndarray, np.ndarray, Any]:
    from tessera.domains import seismic as S

    vel = S.layered_model(n, n, interfaces=(0.2, 0.8), salt=(0.55, 0.68, 0.13, 0.14))
    mig = S.smooth_model(vel, 3.0, keep_top=int(0.12 * n))
    dt = S.stable_dt(float(vel.max()), DX)
    return vel, mig, S.Geometry(dx=DX, dt=dt, nt=steps, f0=F0)


def source_x(shot: int, shots: int, n: int) -> int:
    return int(round((shot + 0.5) * n / shots))


def _model(args: tuple[np.ndarray, Any, int]) -> np.ndarray:
    from tessera.domains import seismic as S

    vel, g, sx = args
    return S.model_shot(vel, g, sx)


def _migrate(args: tuple[np.ndarray, np.ndarray, Any, int, str | None]) -> dict[str, Any]:
    from tessera.domains import seismic as S

    mig, data, g, sx, backend = args
    out = S.rtm_shot(mig, data, g, sx, backend=backend)
    return {"image": out.image, "illum": out.illumination, "steps": out.steps, "cells": out.cells,
            "bytes": out.stencil_bytes, "seconds": out.seconds, "mode": out.mode}  # fmt: skip


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes of one thread each (the environment is theirs only while they run)."""
    env = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # inherited by the pool's processes when they start
    try:
        with ProcessPoolExecutor(workers) as pool:
            yield pool
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def rtm_direct(n: int, shots: int, steps: int, workers: int) -> dict[str, Any]:
    from tessera.domains import seismic as S

    vel, mig, g = survey(n, steps)
    xs = [source_x(i, shots, n) for i in range(shots)]
    with _pool(workers) as pool:
        list(pool.map(_model, [(vel[:64, :64], S.Geometry(dx=DX, dt=g.dt, nt=10), 8)] * workers))
        t = time.perf_counter()
        data = list(pool.map(_model, [(vel, g, sx) for sx in xs]))
        model_s = time.perf_counter() - t
        t = time.perf_counter()
        migrated = list(
            pool.map(_migrate, [(mig, d, g, sx, None) for d, sx in zip(data, xs, strict=True)])
        )
        rtm_s = time.perf_counter() - t
    t = time.perf_counter()
    image = S.stack(
        [m["image"] for m in migrated], [m["illum"] for m in migrated], mute=int(0.1 * n)
    )
    stack_s = time.perf_counter() - t
    total_bytes = sum(m["bytes"] for m in migrated)
    return {
        "model_s": model_s, "rtm_s": rtm_s, "stack_s": stack_s, "bytes": total_bytes,
        "steps": sum(m["steps"] for m in migrated), "cells": migrated[0]["cells"],
        "per_shot_s": statistics.median(m["seconds"] for m in migrated),
        "modes": sorted({m["mode"] for m in migrated}), "image": image, "dt": g.dt,
    }  # fmt: skip


def rtm_workflow(n: int, shots: int, steps: int, workers: int) -> dict[str, Any]:
    """The same survey as a tessera workflow; the wall time from submission to the stack."""
    from tessera.client import Client
    from tessera.workflows.builder import Workflow

    _, _, g = survey(n, steps)
    duration = (steps - 0.5) * g.dt
    wf = Workflow("rtm-bench")
    m = wf.step(
        "model",
        "seismic.model",
        params={"nz": n, "nx": n, "dx": DX, "duration_s": duration, "f0": F0},
    )
    sh = wf.step(
        "shots",
        "seismic.shot",
        params={"shots": shots},
        map=range(shots),
        map_as="shot",
        inputs={"velocity": f"{m.name}.velocity", "geometry": f"{m.name}.geometry"},
    )
    mg = wf.step(
        "migrate",
        "seismic.rtm",
        params={"shots": shots},
        map=range(shots),
        map_as="shot",
        inputs={
            "migration": f"{m.name}.migration",
            "data": f"{sh.name}.data",
            "geometry": f"{m.name}.geometry",
        },
    )
    wf.step("stack", "seismic.stack", params={"mute": int(0.1 * n)},
            inputs={"images": f"{mg.name}.image", "illuminations": f"{mg.name}.illumination"})  # fmt: skip
    home = tempfile.mkdtemp(prefix="tessera-bench-rtm-")
    try:
        with Client(home=home, embedded=True, workers=workers, cpus=workers) as c:
            t = time.perf_counter()
            run = wf.run(c, timeout=3600)
            wall = time.perf_counter() - t
            assert run.state == "succeeded", run.states()
            stats = run.values("migrate", "stats")
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the artifacts: hundreds of MB of shot data
    return {"wall_s": wall, "rtm_busy_s": sum(s["seconds"] for s in stats),
            "bytes": sum(s["bytes"] for s in stats), "steps": sum(s["steps"] for s in stats)}  # fmt: skip


def engines(n: int, steps: int = 200) -> list[tuple[str, float]]:
    """Milliseconds per time step of each engine on an n x n model (one thread each)."""
    from tessera.kernels.backends import make_ops, resolve_target
    from tessera.kernels.wave import Propagator

    vel, _, g = survey(n, steps)
    rows = []
    for label, backend, engine in (("numba (fused loop)", "numpy", "numba"),
                                   ("numpy (13 array ops)", "numpy", "arrays"),
                                   ("torch cpu (13 array ops)", "torch", "arrays")):  # fmt: skip
        try:
            ops = make_ops(resolve_target("cpu", backend), threads=1)
            prop = Propagator(ops, vel, DX, g.dt, g.nb, engine=engine)
        except Exception as exc:  # noqa: BLE001 - an engine that is not installed is reported
            console.print(f"[yellow]{label}: not run ({exc})[/]")
            continue
        src = prop.index([2], [n // 2])
        w = ops.to_device(np.ones(1, dtype=np.float32))
        for _ in range(10):
            prop.step()
        t = time.perf_counter()
        for _ in range(steps):
            prop.step()
            prop.inject(src, w)
        ops.sync()
        rows.append((label, (time.perf_counter() - t) / steps * 1e3))
    return rows


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="workflows.py rtm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--n", type=int, default=512, help="model size (n x n cells of 10 m)")
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000, help="time steps per propagation")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="shots at a time")
    ap.add_argument("--no-workflow", action="store_true", help="skip the tessera workflow run")
    ap.add_argument("--engines", action="store_true", help="also time each stencil engine")
    args = ap.parse_args(argv)
    console.print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    console.print(f"before: {uptime()}")
    before = stream()
    d = rtm_direct(args.n, args.shots, args.steps, args.workers)
    after = stream()
    # The load changes while this runs: STREAM is measured just before and just after the RTM
    # and the reference is the best implementation's mean of the two.
    bw = {k: (before[k], after[k]) for k in before}
    ref_name, (b0, b1) = max(bw.items(), key=lambda kv: sum(kv[1]))
    ref = (b0 + b1) / 2
    t = Table(title="STREAM-like triad (a = b + s c, 128 MiB float64 arrays, 24 B/element)")
    for col in ("implementation", "GB/s before RTM", "GB/s after RTM"):
        t.add_column(col, justify="right")
    for k, (v0, v1) in bw.items():
        t.add_row(k, f"{v0:.1f}", f"{v1:.1f}")
    console.print(t)
    gbps = d["bytes"] / d["rtm_s"] / 1e9
    t = Table(title=f"RTM {args.n}x{args.n}, {args.shots} shots, {args.steps} steps "
                    f"(dt {d['dt'] * 1e3:.3f} ms), {args.workers} shot(s) at a time")  # fmt: skip
    for col in (
        "phase",
        "wall s",
        "stencil steps",
        "cells/step",
        "GB/s (min bytes)",
        f"% of STREAM ({ref_name}, mean)",
    ):
        t.add_column(col, justify="right")
    t.add_row("model data (not RTM)", f"{d['model_s']:.1f}", "", "", "", "")
    t.add_row("RTM, direct processes", f"{d['rtm_s']:.1f}", str(d["steps"]), str(d["cells"]),
              f"{gbps:.1f}", f"{100 * gbps / ref:.0f}%  (target >= 40%)")  # fmt: skip
    t.add_row("stack", f"{d['stack_s']:.2f}", "", "", "", "")
    if not args.no_workflow:
        w = rtm_workflow(args.n, args.shots, args.steps, args.workers)
        t.add_row("whole survey as a tessera workflow", f"{w['wall_s']:.1f}", str(w["steps"]), "",
                  f"{w['bytes'] / w['rtm_busy_s'] * args.workers / 1e9:.1f} (busy)", "")  # fmt: skip
    console.print(t)
    console.print(f"source wavefield kept by: {', '.join(d['modes'])}; median RTM per shot "
                  f"{d['per_shot_s']:.2f} s; image rms {float(np.sqrt(np.mean(d['image'] ** 2))):.3g}")  # fmt: skip
    if args.engines:
        t = Table(title=f"time per step, {args.n}x{args.n} + 20-cell sponge, one thread")
        t.add_column("engine")
        t.add_column("ms/step", justify="right")
        t.add_column("GB/s (min bytes)", justify="right")
        cells = (args.n + 40) ** 2
        for label, ms in engines(args.n):
            t.add_row(label, f"{ms:.3f}", f"{16 * cells / ms / 1e6:.1f}")
        console.print(t)
    console.print(f"after: {uptime()}")
