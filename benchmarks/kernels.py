"""Kernel overhead and blur speed: ``run_job`` against bare NumPy/SciPy on this machine.

Run with ``PYTHONPATH=src python benchmarks/kernels.py [--rounds N]``. Prints a Rich table:

(a) CPU matmul GFLOP/s at n = 2000 and 4000 through ``tessera.kernels.run_job`` against a
    bare ``a @ b`` (target: run_job >= 90 % of bare);
(b) ``blur`` on a 4096 x 4096 float32 image against ``scipy.ndimage.gaussian_filter``
    (target: >= 1.5x faster), for sigma 1, 3 and 8.

Bare and run_job measurements alternate, round after round, so that a noisy neighbour on a
shared machine hits both alike; each figure is the median over rounds of a median of 3 runs,
and the ratio of the best rounds is shown beside it. The load average before and after is
printed, and per row the share of the machine's CPU that *other* processes used meanwhile:
the blur runs on every core, so other processes on the machine eat its advantage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.ndimage as ndi
from rich.console import Console
from rich.table import Table

from tessera.bench.hardware import describe
from tessera.kernels import run_job


class ForeignLoad:
    """CPU seconds used by *other* processes between ``start`` and ``stop`` (Linux /proc/stat).

    Busy time of the whole machine minus this process's own CPU time, as a share of all
    cores over the wall time: 0 % means nothing else ran, 50 % on 2 cores means one core
    was taken by someone else.
    """

    def __init__(self) -> None:
        self.start()

    @staticmethod
    def _busy_s() -> float | None:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return None
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        t = os.times()
        self.t0, self.own0, self.busy0 = time.perf_counter(), t.user + t.system, self._busy_s()

    def percent(self) -> str:
        busy = self._busy_s()
        if busy is None or self.busy0 is None:
            return "-"
        t = os.times()
        own = t.user + t.system - self.own0
        wall = time.perf_counter() - self.t0
        foreign = max(0.0, busy - self.busy0 - own)
        return f"{100 * foreign / (wall * (os.cpu_count() or 1)):.0f} %"


def median_time(fn: Callable[[], object], runs: int = 3) -> float:
    """Median seconds of ``runs`` calls after one untimed call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


Row = tuple[str, str, str, str, str, str, str]


def matmul_rows(rounds: int) -> list[Row]:
    rows = []
    for n in (2000, 4000):
        rng = np.random.default_rng(0)
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        bare, ours = [], []
        load = ForeignLoad()
        for _ in range(rounds):
            bare.append(median_time(lambda a=a, b=b: a @ b))
            ours.append(run_job("matmul", {"n": n, "repeat": 3, "check": False})["warm_s"])
        flops = 2 * n**3
        g_bare = flops / statistics.median(bare) / 1e9
        g_ours = flops / statistics.median(ours) / 1e9
        ratio = g_ours / g_bare
        best = min(bare) / min(ours)
        rows.append(
            (
                f"matmul n={n} float32",
                f"{g_bare:.1f} GFLOP/s",
                f"{g_ours:.1f} GFLOP/s",
                f"{100 * ratio:.0f} % of bare",
                f"{100 * best:.0f} %",
                load.percent(),
                "pass" if ratio >= 0.9 else "FAIL",
            )
        )
    return rows


def blur_rows(rounds: int) -> list[Row]:
    rows = []
    size = 4096
    img = np.random.default_rng(0).random((size, size), dtype=np.float32)
    for sigma in (1.0, 3.0, 8.0):
        bare, ours = [], []
        load = ForeignLoad()
        for _ in range(rounds):
            bare.append(median_time(lambda s=sigma: ndi.gaussian_filter(img, s)))
            params = {"size": size, "sigma": sigma, "repeat": 3, "check": False}
            ours.append(run_job("blur", params)["warm_s"])
        t_bare, t_ours = statistics.median(bare), statistics.median(ours)
        mpix = size * size / 1e6
        rows.append(
            (
                f"blur {size}x{size} sigma={sigma:g}",
                f"{t_bare:.3f} s ({mpix / t_bare:.0f} Mpx/s)",
                f"{t_ours:.3f} s ({mpix / t_ours:.0f} Mpx/s)",
                f"{t_bare / t_ours:.2f}x faster",
                f"{min(bare) / min(ours):.2f}x",
                load.percent(),
                "pass" if t_bare / t_ours >= 1.5 else "FAIL",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per case")
    args = parser.parse_args(argv)
    console = Console()
    table = Table(title=f"tessera kernels vs bare NumPy/SciPy: {describe()}")
    load_before = os.getloadavg()[0]
    cols = (
        "Case",
        "Bare NumPy/SciPy",
        "tessera run_job",
        "Ratio",
        "Best rounds",
        "Other load",
        "Target",
    )
    for col in cols:
        table.add_column(col, justify="left" if col == "Case" else "right")
    for row in matmul_rows(args.rounds) + blur_rows(args.rounds):
        table.add_row(*row)
    console.print(table)
    console.print(f"1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    console.print(
        f"numpy {np.__version__}; matmul target: >= 90 % of bare; blur target: >= 1.5x; "
        "GPU: none on this machine"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
