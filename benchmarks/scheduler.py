"""Throughput, latency, start-up and memory of tessera against its peers, side by side in one run.

    .venv/bin/python benchmarks/scheduler.py [--noop 20000] [--numpy 2000] [--latency 300] [--captured-mb 10]

Peers: concurrent.futures.ProcessPoolExecutor always; Dask distributed's LocalCluster and Ray
local when they are importable (install them only for the benchmark). Two workers each.
tessera runs with its default durable settings (SQLite WAL, synchronous=NORMAL) in a fresh home.
"""

from __future__ import annotations

import os as _os

_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread per worker: 2 workers on 2 cores
_os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import concurrent.futures as cf
import functools
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

_HERE = os.path.dirname(os.path.abspath(__file__))
# after site-packages: `_jobs` is found, and `import ray` finds Ray, not benchmarks/ray.py
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]
from _jobs import noop, numpy_1ms, pick  # noqa: E402

console = Console(width=160)


def compiled() -> None:
    """tessera's bytecode written, as a wheel install has it (``make setup`` does the same): without
    it, where PYTHONDONTWRITEBYTECODE is set, every start would compile the sources again."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("tessera")
    if spec is not None and spec.submodule_search_locations:
        compileall.compile_dir(list(spec.submodule_search_locations)[0], quiet=2)


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            total += p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    return total / (1 << 20)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Runner:
    """One system under test: start, submit-one, map, stop."""

    name = ""

    def start(self) -> None: ...
    def submit(self, fn: Callable[..., Any], *a: Any) -> Any: ...
    def result(self, fut: Any) -> Any: ...
    def map(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]: ...
    def pids(self) -> list[int]: ...
    def stop(self) -> None: ...


class Tessera(Runner):
    name = "tessera"

    def start(self) -> None:
        from tessera.client import Client

        self.home = tempfile.mkdtemp(prefix="tessera-bench-")
        self.c = Client(home=self.home, embedded=True, workers=2, cpus=2)

    def submit(self, fn: Callable[..., Any], *a: Any) -> Any:
        return self.c.submit(fn, *a)

    def result(self, fut: Any) -> Any:
        return fut.result(timeout=600)

    def map(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return self.c.map(fn, items, timeout=1200)

    def pids(self) -> list[int]:
        return [os.getpid()]

    def stop(self) -> None:
        self.c.close()


class Pool(Runner):
    name = "ProcessPoolExecutor"

    def start(self) -> None:
        self.p = cf.ProcessPoolExecutor(2)
        self.p.submit(noop).result()

    def submit(self, fn: Callable[..., Any], *a: Any) -> Any:
        return self.p.submit(fn, *a)

    def result(self, fut: Any) -> Any:
        return fut.result()

    def map(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return list(self.p.map(fn, items, chunksize=1))

    def pids(self) -> list[int]:
        return [os.getpid()]

    def stop(self) -> None:
        self.p.shutdown()


class Dask(Runner):
    name = "dask LocalCluster"

    def start(self) -> None:
        from dask.distributed import Client, LocalCluster

        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        self.c = Client(self.cluster)

    def submit(self, fn: Callable[..., Any], *a: Any) -> Any:
        return self.c.submit(fn, *a, pure=False)

    def result(self, fut: Any) -> Any:
        return fut.result()

    def map(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return self.c.gather(self.c.map(fn, items, pure=False))

    def pids(self) -> list[int]:
        return [os.getpid()]

    def stop(self) -> None:
        self.c.close()
        self.cluster.close()


class Ray(Runner):
    name = "ray local"

    def start(self) -> None:
        import ray

        self.ray = ray
        # a cluster of its own even when another Ray instance runs on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        self.remote: dict[Any, Any] = {}

    def _r(self, fn: Callable[..., Any]) -> Any:
        if fn not in self.remote:
            if isinstance(fn, functools.partial):  # ray.remote takes functions: one that calls it
                def call(*a: Any, _fn: Callable[..., Any] = fn) -> Any:
                    return _fn(*a)
                self.remote[fn] = self.ray.remote(call)
            else:
                self.remote[fn] = self.ray.remote(fn)
        return self.remote[fn]

    def submit(self, fn: Callable[..., Any], *a: Any) -> Any:
        return self._r(fn).remote(*a)

    def result(self, fut: Any) -> Any:
        return self.ray.get(fut)

    def map(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        r = self._r(fn)
        return self.ray.get([r.remote(i) for i in items])

    def pids(self) -> list[int]:
        return [os.getpid()] + [p.pid for p in psutil.process_iter(["name"]) if "ray" in (p.info["name"] or "")]

    def stop(self) -> None:
        self.ray.shutdown()


def measure(r: Runner, n_noop: int, n_numpy: int, n_lat: int, captured_mb: float = 0,
            n_captured: int = 0) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    r.start()
    r.result(r.submit(noop))
    out["start_s"] = time.perf_counter() - t0
    lat = []
    for _ in range(n_lat):
        t = time.perf_counter()
        r.result(r.submit(noop))
        lat.append(time.perf_counter() - t)
    out["p50_ms"], out["p99_ms"] = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
    t = time.perf_counter()
    futs = [r.submit(noop) for _ in range(n_noop)]
    for f in futs:
        r.result(f)
    out["noop_one_by_one_per_s"] = n_noop / (time.perf_counter() - t)
    out["rss_mb"] = rss_mb(r.pids())
    t = time.perf_counter()
    r.map(noop, list(range(n_noop)))
    out["noop_map_per_s"] = n_noop / (time.perf_counter() - t)
    t = time.perf_counter()
    r.map(numpy_1ms, list(range(n_numpy)))
    out["numpy_1ms_per_s"] = n_numpy / (time.perf_counter() - t)
    if captured_mb and n_captured:  # a map over a function that captured a large array (a model, a table)
        fn = functools.partial(pick, np.random.default_rng(0).random(int(captured_mb * (1 << 20)) // 8))
        t = time.perf_counter()
        r.map(fn, list(range(n_captured)))
        out["captured_map_per_s"] = n_captured / (time.perf_counter() - t)
    r.stop()
    return out


def daemon_figures(n_lat: int = 200, n_noop: int = 20000) -> dict[str, float]:
    """tessera's background controller: time to start it, its memory with two warm workers, and the
    submit→result p50 and one-by-one no-op throughput of a client in another process (told of ends
    by ``controller.notices``)."""
    from tessera.client import Client
    from tessera.config import Settings
    from tessera.controller import daemon

    s = Settings.load(home=tempfile.mkdtemp(prefix="tessera-bench-"), workers=2, cpus=2)
    os.environ["TESSERA_HOME"] = str(s.home)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), _HERE) if p)  # _jobs
    t = time.perf_counter()
    pid = daemon.ensure_running(s)
    start = time.perf_counter() - t
    time.sleep(3)  # let the workers finish importing
    rss = rss_mb([pid])
    lat = []
    with Client(home=str(s.home), workers=2, cpus=2) as c:
        c.submit(noop).result(timeout=60)
        for _ in range(n_lat):
            t = time.perf_counter()
            c.submit(noop).result(timeout=60)
            lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        for f in [c.submit(noop) for _ in range(n_noop)]:
            f.result(timeout=600)
        per_s = n_noop / (time.perf_counter() - t)
    daemon.stop(s)
    return {"start_s": start, "rss_mb": rss, "p50_ms": pct(lat, 0.5) * 1e3, "per_s": per_s}


def daemon_line(d: dict[str, float], n_noop: int) -> str:
    return (f"tessera background controller: started in {d['start_s']:.2f} s; "
            f"controller + 2 warm workers use {d['rss_mb']:.0f} MiB resident; "
            f"a client in another process: submit→result p50 {d['p50_ms']:.2f} ms, "
            f"{n_noop} no-op jobs one by one at {d['per_s']:.0f}/s")


def array_accept(n: int = 100_000) -> float:
    """Seconds to validate and durably commit one array of ``n`` elements (SQLite, default settings)."""
    from tessera.config import Settings
    from tessera.executors.hardware import detect
    from tessera.jobfile import to_spec
    from tessera.store import Store
    from tessera.submit import submit

    s = Settings.load(home=tempfile.mkdtemp(prefix="tessera-bench-"))
    store = Store(s.db_url)
    total = detect(s)
    t = time.perf_counter()
    spec = to_spec({"command": ["true"], "array": f"0-{n - 1}%100"})
    submit(store, [spec], total)
    return time.perf_counter() - t


def cpu_breakdown(n: int = 5000) -> dict[str, float]:
    """CPU time per no-op job submitted one by one, by where it is spent: the submitting thread,
    the embedded controller's thread (the two share one GIL) and the warm workers (µs per job)."""
    from tessera.client import Client

    me = psutil.Process()
    with Client(home=tempfile.mkdtemp(prefix="tessera-bench-"), embedded=True, workers=2, cpus=2) as c:
        c.submit(noop).result(timeout=60)
        ctl = c._thread.native_id if c._thread is not None else None
        main_tid = threading.get_native_id()

        def sample() -> tuple[float, float, float]:
            th = {t.id: t.user_time + t.system_time for t in me.threads()}
            kids = sum(sum(p.cpu_times()[:2]) for p in me.children(recursive=True))
            return th.get(main_tid, 0.0), th.get(ctl or -1, 0.0), kids

        a, t = sample(), time.perf_counter()
        for f in [c.submit(noop) for _ in range(n)]:
            f.result(timeout=600)
        wall, b = time.perf_counter() - t, sample()
    return {"per_s": n / wall, "submitter_us": (b[0] - a[0]) / n * 1e6, "controller_us": (b[1] - a[1]) / n * 1e6,
            "workers_us": (b[2] - a[2]) / n * 1e6, "bare_submit_us": bare_submit_us(n)}


def bare_submit_us(n: int) -> float:
    """Wall time of one durable submit of a no-op job (validation, pickling, one transaction) with no
    controller running: the part of one-by-one submission no scheduling can remove."""
    import cloudpickle

    from tessera.config import Settings
    from tessera.executors.hardware import detect
    from tessera.jobfile import to_spec
    from tessera.store import Store
    from tessera.submit import submit

    s = Settings.load(home=tempfile.mkdtemp(prefix="tessera-bench-"))
    store, total = Store(s.db_url), detect(s)
    t = time.perf_counter()
    for _ in range(n):
        payload = cloudpickle.dumps({"fn": noop, "args": (), "kwargs": {}})
        submit(store, [to_spec({"name": "noop", "payload": payload}, "submit")], total)
    out = (time.perf_counter() - t) / n * 1e6
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--noop", type=int, default=20000)
    ap.add_argument("--numpy", type=int, default=2000)
    ap.add_argument("--latency", type=int, default=300)
    ap.add_argument("--captured-mb", type=float, default=10, help="size of the array the captured-map function holds")
    ap.add_argument("--captured", type=int, default=1000, help="elements of the captured-map (0: skip it)")
    ap.add_argument("--only", default="")
    ap.add_argument("--daemon", action="store_true", help="only the background controller's figures")
    ap.add_argument("--breakdown", type=int, default=0, metavar="N",
                    help="only print tessera's CPU time per job (N no-op jobs one by one), by thread")
    args = ap.parse_args()
    compiled()
    if args.breakdown:
        d = cpu_breakdown(args.breakdown)
        console.print(f"tessera, {args.breakdown} no-op jobs one by one: {d['per_s']:.0f}/s; CPU per job: "
                      f"submitting thread {d['submitter_us']:.0f} µs, controller thread {d['controller_us']:.0f} µs, "
                      f"two workers {d['workers_us']:.0f} µs; a bare durable submit (no controller) "
                      f"takes {d['bare_submit_us']:.0f} µs")
        return
    if args.daemon:
        console.print(daemon_line(daemon_figures(n_noop=args.noop), args.noop))
        return
    runners: list[Runner] = [Tessera(), Pool()]
    for cls, mod in ((Dask, "distributed"), (Ray, "ray")):
        try:
            __import__(mod)
            runners.append(cls())
        except ImportError:
            console.print(f"[dim]{cls.name}: not installed, skipped[/]")
    if args.only:
        runners = [r for r in runners if r.name.split()[0].lower() in args.only.lower().split(",")]
    rows = {}
    for r in runners:
        console.print(f"running {r.name} ...")
        try:
            rows[r.name] = measure(r, args.noop, args.numpy, args.latency, args.captured_mb, args.captured)
        except Exception as e:  # noqa: BLE001 - a peer that cannot run here is reported, not fatal
            console.print(f"[red]{r.name} failed: {type(e).__name__}: {e}[/]")
            continue
        console.print(f"{r.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in rows[r.name].items()))
    t = Table(title=f"scheduler benchmark — {platform.node()}, {os.cpu_count()} CPUs, "
                    f"{psutil.virtual_memory().total >> 30} GiB, Python {platform.python_version()}")
    cols = [("start_s", "start (s)", "{:.2f}"), ("p50_ms", "p50 (ms)", "{:.2f}"), ("p99_ms", "p99 (ms)", "{:.2f}"),
            ("noop_one_by_one_per_s", f"{args.noop} no-op one by one (/s)", "{:.0f}"),
            ("noop_map_per_s", f"{args.noop} no-op map (/s)", "{:.0f}"),
            ("numpy_1ms_per_s", f"{args.numpy} 1 ms numpy (/s)", "{:.0f}"), ("rss_mb", "memory (MiB)", "{:.0f}")]
    if args.captured:
        cols.insert(-1, ("captured_map_per_s", f"{args.captured} map, fn captured {args.captured_mb:g} MB (/s)",
                         "{:.0f}"))
    t.add_column("system")
    for _, label, _ in cols:
        t.add_column(label, justify="right")
    for name, m in rows.items():
        t.add_row(name, *(fmt.format(m[k]) for k, _, fmt in cols))
    console.print(t)
    if "tessera" in rows:
        console.print(daemon_line(daemon_figures(n_noop=args.noop), args.noop))
        console.print(f"tessera accepts a 100,000-element array in {array_accept():.2f} s")


if __name__ == "__main__":
    main()
