"""The store under a backlog: what a claim costs per job as the runnable backlog grows, and how long
SQLite's write-ahead log gets while jobs are submitted one by one through the embedded controller.

    python benchmarks/store.py [--backlogs 100,2000,10000] [--batch 4] [--jobs 20000]

A claim names its jobs by id, so its cost should not depend on how many other jobs are runnable;
the log should stay near ``WAL_LIMIT`` however many jobs go through. Prints two tables.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # after site-packages, as scheduler.py does

from _jobs import noop  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console()


def claim_cost(backlog: int, batch: int, claims: int = 2000) -> float:
    """µs per job to claim ``claims`` jobs ``batch`` at a time, with ``backlog`` runnable jobs waiting."""
    from tessera.client import dumps_call
    from tessera.config import Settings
    from tessera.executors.hardware import detect
    from tessera.jobfile import to_spec
    from tessera.store import Store
    from tessera.store.records import Claim
    from tessera.submit import submit

    s = Settings.load(home=tempfile.mkdtemp(prefix="tessera-bench-"))
    store, total = Store(s.db_url), detect(s)
    spec = to_spec({"name": "noop", "payload": dumps_call(noop, (), {})}, "submit")
    ids = submit(store, [spec] * (backlog + claims), total)  # one transaction: the backlog is not timed
    mine = ids[:claims]  # claimed first, as the oldest runnable jobs are
    t = time.perf_counter()
    for i in range(0, claims, batch):
        part = mine[i:i + batch]
        store.start([Claim(j, "local", {"cpus": 1.0}) for j in part], "bench", 30, launch={},
                    known={j: (spec, spec.payload) for j in part})
    out = (time.perf_counter() - t) / claims * 1e6
    store.close()
    return out


def wal_peak(jobs: int) -> tuple[float, float, float]:
    """(jobs/s, peak and final write-ahead log size in MiB) over ``jobs`` no-op jobs submitted one
    by one through the embedded controller; the log's size is sampled every 50 ms."""
    from tessera.client import Client

    home = tempfile.mkdtemp(prefix="tessera-bench-")
    wal = os.path.join(home, "tessera.db-wal")
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            with contextlib.suppress(OSError):  # not there yet
                peak[0] = max(peak[0], os.path.getsize(wal))

    with Client(home=home, embedded=True, workers=2, cpus=2) as c:
        c.submit(noop).result(timeout=60)
        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        t = time.perf_counter()
        for f in [c.submit(noop) for _ in range(jobs)]:
            f.result(timeout=600)
        rate = jobs / (time.perf_counter() - t)
        stop.set()
        watcher.join()
        final = os.path.getsize(wal) if os.path.exists(wal) else 0
    return rate, peak[0] / 2**20, final / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlogs", default="100,2000,10000")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=20000)
    args = ap.parse_args()
    t = Table(title=f"claiming {args.batch} jobs at a time, 2,000 jobs")
    t.add_column("runnable jobs waiting", justify="right")
    t.add_column("µs per job claimed", justify="right")
    for backlog in (int(b) for b in args.backlogs.split(",")):
        t.add_row(f"{backlog:,}", f"{claim_cost(backlog, args.batch):.1f}")
    console.print(t)
    rate, peak, final = wal_peak(args.jobs)
    w = Table(title=f"{args.jobs:,} no-op jobs one by one, embedded controller")
    for col in ("jobs/s", "write-ahead log, peak (MiB)", "at the end (MiB)"):
        w.add_column(col, justify="right")
    w.add_row(f"{rate:,.0f}", f"{peak:.0f}", f"{final:.0f}")
    console.print(w)


if __name__ == "__main__":
    main()
