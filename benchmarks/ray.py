"""tessera on Ray against raw Ray tasks, on one local Ray cluster, side by side in one run.

    .venv/bin/python benchmarks/ray.py [--latency 200] [--jobs 1000] [--kill-jobs 40]

* latency: one no-op job at a time, submit to result; tessera's added latency is the difference
  of the medians (target: at most 2 ms).
* throughput: ``--jobs`` jobs of about 1 ms of NumPy each, all submitted at once (raw: a list of
  tasks and one ``ray.get``; tessera: one array job, ``Client.map``), ``--rounds`` times: raw Ray,
  then tessera with coalescing off, then with coalescing auto, back to back in each round (two
  rows, each against the same raw rounds); target: tessera keeps at least 80% of raw Ray's jobs
  per second (the median of the rounds' ratios). ``auto`` picks its chunk from the figures of the
  array run just before it (the ``off`` one); each round's decision is printed.
* node loss: ``--kill-jobs`` jobs of 0.5 s on a cluster with an extra worker node, which is killed
  while they run; every job must still succeed (lost attempts are requeued).

The cluster is ``ray.cluster_utils.Cluster`` on 127.0.0.1 (2 logical CPUs on the head), started
and stopped by this script. tessera runs embedded (``Client(executor="ray")``) with its durable
SQLite store in a fresh home.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray on 127.0.0.1
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

# This file is called ray.py: its folder must not come before the real Ray on the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
import psutil  # noqa: E402
import ray  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.append(_HERE)  # after site-packages: `_jobs` is found, `ray` stays Ray's
from _jobs import noop, numpy_1ms  # noqa: E402

console = Console(width=140)


def sleep_half(i: int, where: str) -> int:
    """Half a second of sleep; first notes which Ray node runs it (a file per attempt)."""
    import ray as ray_

    node = ray_.get_runtime_context().get_node_id()
    with open(os.path.join(where, f"{i}.{os.environ['TESSERA_ATTEMPT_NUMBER']}"), "w") as f:
        f.write(node)
    time.sleep(0.5)
    return i


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency(client: Any, n: int) -> tuple[list[float], list[float]]:
    f = ray.remote(noop)
    ray.get([f.remote() for _ in range(10)])  # warm the workers
    for _ in range(10):
        client.submit(noop).result(timeout=120)
    raw, ours = [], []
    for _ in range(n):  # interleaved, so that load on the machine hits both alike
        t = time.perf_counter()
        ray.get(f.remote())
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        client.submit(noop).result(timeout=120)
        ours.append(time.perf_counter() - t)
    return raw, ours


def cpu_s() -> tuple[float, float]:
    """CPU seconds used so far by this process (the driver: tessera's controller runs here) and by
    its descendants (the cluster's GCS, raylet and Ray workers, which this script started)."""
    me = psutil.Process()
    mine = sum(me.cpu_times()[:2])
    ray_s = 0.0
    for p in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            ray_s += sum(p.cpu_times()[:2])
    return mine, ray_s


MODES = ("off", "auto")  # tessera's coalescing modes, each its own row against the same raw Ray rounds


def throughput(client: Any, n: int, rounds: int) -> tuple[list[float], dict[str, list[float]], list[tuple[float, float]],
                                                          list[str]]:
    """``rounds`` rounds of raw Ray, then tessera with coalescing off, then with coalescing auto,
    back to back, so that a change of load on the machine hits every side of a round alike. Jobs
    per second of each; the CPU µs per job of the driver and of Ray's processes (summed over the
    rounds; raw first, then each mode); and what ``auto`` decided in each round. ``auto`` decides
    from the figures of the last finished array of the same function: the ``off`` run just before."""
    f = ray.remote(numpy_1ms)
    ray.get([f.remote(i) for i in range(50)])
    client.map(numpy_1ms, range(50), timeout=600, placement={"coalesce": "off"})
    raw: list[float] = []
    ours: dict[str, list[float]] = {m: [] for m in MODES}
    cpu = [[0.0, 0.0] for _ in range(1 + len(MODES))]
    decided = []
    for _ in range(rounds):
        c0, t = cpu_s(), time.perf_counter()
        ray.get([f.remote(i) for i in range(n)])
        raw.append(n / (time.perf_counter() - t))
        marks = [c0, cpu_s()]
        for mode in MODES:
            t = time.perf_counter()
            h = client.map_async(numpy_1ms, range(n), placement={"coalesce": mode})
            got = client.array_results(h, timeout=1200)
            ours[mode].append(n / (time.perf_counter() - t))
            marks.append(cpu_s())
            assert len(got) == n
            if mode == "auto":
                p = client.store.job(h.id).spec.placement
                decided.append(str((p.coalesced or {}).get("reason", "?")) if p is not None else "?")
        for k in range(1 + len(MODES)):
            cpu[k][0] += marks[k + 1][0] - marks[k][0]
            cpu[k][1] += marks[k + 1][1] - marks[k][1]
    per = [(a / (n * rounds) * 1e6, b / (n * rounds) * 1e6) for a, b in cpu]
    return raw, ours, per, decided


def node_loss(cluster: Any, client: Any, n: int) -> dict[str, Any]:
    """Add a worker node, run ``n`` half-second jobs, kill the node once jobs run on it, count."""
    node = cluster.add_node(num_cpus=2)
    deadline = time.monotonic() + 120
    while ray.cluster_resources().get("CPU", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.5)  # the controller reads the cluster's capacity every 2 s
    where = tempfile.mkdtemp(prefix="tessera-ray-nodes-")
    handles = [client.submit(sleep_half, i, where) for i in range(n)]

    def on_node() -> int:
        return sum(1 for f in os.listdir(where) if open(os.path.join(where, f)).read() == node.node_id)

    while on_node() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    running_there = on_node()
    cluster.remove_node(node, allow_graceful=False)
    results = [h.result(timeout=600) for h in handles]
    jobs = [h.job for h in handles]
    return {"jobs": n, "succeeded": sum(1 for j in jobs if j.state.value == "succeeded"),
            "results_ok": results == list(range(n)), "on_node": running_there,
            "requeued": sum(j.attempts - 1 for j in jobs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--kill-jobs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds (raw, then tessera, each round)")
    args = ap.parse_args()

    from ray.cluster_utils import Cluster

    from tessera.client import Client

    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
                  f"load before: {os.getloadavg()}; ray {ray.__version__}")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    home = tempfile.mkdtemp(prefix="tessera-ray-bench-")
    try:
        with Client(home=home, executor="ray") as client:
            raw_l, our_l = latency(client, args.latency)
            raw_t, our_t, cpu, decided = throughput(client, args.jobs, args.rounds)
            loss = node_loss(cluster, client, args.kill_jobs)
    finally:
        ray.shutdown()
        cluster.shutdown()

    added_ms = (statistics.median(our_l) - statistics.median(raw_l)) * 1000
    t = Table(title="tessera on Ray vs raw Ray tasks (local cluster, 2 logical CPUs)")
    for col in ("measure", "raw Ray", "tessera on Ray", "tessera - raw / ratio", "target", "met"):
        t.add_column(col)
    t.add_row(f"latency, 1 no-op job at a time (n={args.latency}), median ms",
              f"{statistics.median(raw_l) * 1000:.2f}", f"{statistics.median(our_l) * 1000:.2f}",
              f"+{added_ms:.2f} ms", "<= 2 ms", "yes" if added_ms <= 2 else "no")
    t.add_row("latency p95 ms", f"{pct(raw_l, 0.95) * 1000:.2f}", f"{pct(our_l, 0.95) * 1000:.2f}", "", "", "")
    raw_cpu = sum(cpu[0])
    for k, mode in enumerate(MODES, 1):
        ratios = [o / r for r, o in zip(raw_t, our_t[mode], strict=True)]
        ratio = statistics.median(ratios)
        t.add_row(f"throughput, {args.jobs} jobs of ~1 ms, jobs/s (median of {args.rounds} rounds), "
                  f"coalescing {mode}", f"{statistics.median(raw_t):.0f}", f"{statistics.median(our_t[mode]):.0f}",
                  f"{ratio:.0%}", ">= 80%", "yes" if ratio >= 0.8 else "no")
        t.add_row("  each round: raw / tessera jobs/s (ratio)", "", "; ".join(
            f"{r:.0f}/{o:.0f} ({o / r:.0%})" for r, o in zip(raw_t, our_t[mode], strict=True)), "", "", "")
        t.add_row("  CPU µs per job: driver (tessera's controller) + Ray's processes",
                  f"{cpu[0][0]:.0f} + {cpu[0][1]:.0f}", f"{cpu[k][0]:.0f} + {cpu[k][1]:.0f}",
                  f"{sum(cpu[k]) - raw_cpu:+.0f} µs", "", "")
    for i, why in enumerate(decided, 1):
        t.add_row(f"  coalescing auto, round {i}", "", why, "", "", "")
    ok = loss["succeeded"] == loss["jobs"] and loss["results_ok"]
    t.add_row(f"node killed mid-run ({loss['jobs']} jobs of 0.5 s; {loss['on_node']} had started on it)", "",
              f"{loss['succeeded']}/{loss['jobs']} succeeded, {loss['requeued']} attempts requeued", "", "no job lost",
              "yes" if ok else "no")
    console.print(t)
    console.print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
