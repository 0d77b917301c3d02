"""Benchmark reports: the seed-style Rich table, the JSON document and the sweep plot."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from tessera.bench.crossover import sweep_crossovers
from tessera.bench.hardware import describe, hardware_info
from tessera.bench.prices import PRICE_SOURCE, PRICES
from tessera.errors import SpecError
from tessera.kernels import REGISTRY

logger = logging.getLogger(__name__)


def devices_of(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Devices in the order they first appear."""
    seen: list[str] = []
    for r in results:
        if r["device"] not in seen:
            seen.append(r["device"])
    return seen


def _rate(r: Mapping[str, Any]) -> str:
    metric = REGISTRY[r["kernel"]].metric if r["kernel"] in REGISTRY else "gflops"
    value = r.get(metric)
    if value is None:
        return "-"
    return f"{value:,.1f} GFLOP/s" if metric == "gflops" else f"{value:,.1f} GB/s"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def build_table(results: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    """One row per case, per device: cold s, warm s (incl. transfers), rate, % peak, $/run.

    With two or more devices a speedup column divides the first device's time by the
    second's. The last row totals times and costs.
    """
    devices = devices_of(results)
    table = Table(title=title or f"tessera bench on {describe()}", show_footer=False)
    table.add_column("Operation", no_wrap=True)
    for d in devices:
        table.add_column(f"{d} cold (s)", justify="right")
        table.add_column(f"{d} time (s)", justify="right")
        table.add_column(f"{d} rate", justify="right")
        table.add_column(f"{d} % peak", justify="right")
        table.add_column(f"{d} $/run", justify="right")
    if len(devices) > 1:
        table.add_column("Speedup", justify="right")
    table.add_column("Check", justify="center")
    by_label: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in results:
        by_label.setdefault(r["label"], {})[r["device"]] = r
    totals = {d: {"cold": 0.0, "time": 0.0, "cost": 0.0} for d in devices}
    for label, row in by_label.items():
        cells = [label]
        for d in devices:
            got = row.get(d)
            if got is None or got.get("error"):
                cells += ["error" if got else "-", "-", "-", "-", "-"]
                continue
            r = got
            totals[d]["cold"] += r["cold_s"]
            totals[d]["time"] += r["total_s"]
            totals[d]["cost"] += r["cost_usd"]
            cells += [
                f"{r['cold_s']:.3f}",
                f"{r['total_s']:.3f}",
                _rate(r),
                _num(r.get("pct_peak"), ".0f"),
                f"{r['cost_usd']:.2e}",
            ]
        if len(devices) > 1:
            cells.append(_speedup(row.get(devices[0]), row.get(devices[1])))
        cells.append(_check(row.values()))
        table.add_row(*cells)
    total = ["Total"]
    for d in devices:
        t = totals[d]
        total += [f"{t['cold']:.3f}", f"{t['time']:.3f}", "", "", f"{t['cost']:.2e}"]
    if len(devices) > 1:
        a, b = totals[devices[0]]["time"], totals[devices[1]]["time"]
        total.append(f"{a / b:.2f}" if b > 0 else "-")
    total.append("")
    table.add_section()
    table.add_row(*total, style="bold")
    return table


def _speedup(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> str:
    if not a or not b or a.get("error") or b.get("error") or not b.get("total_s"):
        return "-"
    return f"{a['total_s'] / b['total_s']:.2f}"


def _check(rows: Any) -> str:
    oks = [r.get("ok") for r in rows]
    if any(ok is False for ok in oks):
        return "FAIL"
    return "ok" if any(ok for ok in oks) else "-"


def to_document(
    results: Sequence[Mapping[str, Any]],
    peaks: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON report: machine, calibration, prices, results and sweep crossovers."""
    return {
        "machine": hardware_info(),
        "calibration": dict(peaks or {}),
        "prices": {
            "source": PRICE_SOURCE,
            "by_device_kind": {
                k: {"instance": p.instance, "usd_per_hour": p.usd_per_hour}
                for k, p in PRICES.items()
            },
        },
        "results": list(results),
        "crossovers": sweep_crossovers(results),
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write a report document as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str))


def plot_sweep(results: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Log-log time against size per kernel, one line per device, crossovers marked.

    Raises:
        SpecError: matplotlib is not installed, or there are no sweep results to plot.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SpecError(
            "--plot needs matplotlib, which is not installed",
            "install it with `pip install 'tessera[plot]'` (or `pip install matplotlib`), or drop --plot",
        ) from exc
    sweep = [r for r in results if r.get("suite") == "sweep" and not r.get("error")]
    kernels = list(dict.fromkeys(r["kernel"] for r in sweep))
    if not kernels:
        raise SpecError(
            "there are no sweep results to plot", "run with --suite sweep or --suite full"
        )
    crossovers = sweep_crossovers(sweep)
    fig, axes = plt.subplots(1, len(kernels), figsize=(5 * len(kernels), 4), squeeze=False)
    for ax, kernel in zip(axes[0], kernels, strict=True):
        for device in devices_of([r for r in sweep if r["kernel"] == kernel]):
            pts = sorted(
                (r["size"], r["total_s"])
                for r in sweep
                if r["kernel"] == kernel and r["device"] == device
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=device)
        cross = crossovers.get(kernel)
        if cross:
            ax.axvline(cross, linestyle="--", color="grey")
            ax.annotate(
                f"crossover ~{cross:.0f}",
                (cross, ax.get_ylim()[1]),
                rotation=90,
                va="top",
                ha="right",
                fontsize=8,
            )
        ax.set(
            xscale="log",
            yscale="log",
            title=kernel,
            xlabel="size",
            ylabel="seconds (warm + transfers)",
        )
        sizes = sorted({r["size"] for r in sweep if r["kernel"] == kernel})
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(s) for s in sizes], rotation=45)
        ax.legend()
    fig.suptitle(describe(), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
