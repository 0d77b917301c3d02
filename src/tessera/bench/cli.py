"""``tessera bench``: run a benchmark suite, print the table, save JSON, plot and profiles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tessera.bench import profiles as profile_store
from tessera.bench.calibrate import calibrate
from tessera.bench.cases import build_cases
from tessera.bench.crossover import sweep_crossovers
from tessera.bench.report import build_table, plot_sweep, to_document, write_json
from tessera.bench.runner import check_devices, run_suite
from tessera.errors import SpecError, TesseraError
from tessera.kernels import resolve_target

logger = logging.getLogger(__name__)

#: Set by the engine to keep profiles in its store; ``None`` uses ``$TESSERA_HOME/profiles.json``.
save_profiles: Callable[[list[dict[str, Any]]], None] | None = None
#: Set by the engine to read profiles from its store; ``None`` reads the JSON file.
load_profiles: Callable[[], list[dict[str, Any]]] | None = None
#: Set by the engine to run each case as a tessera job; ``None`` runs a fresh process per case.
submit_case: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None

app = typer.Typer(help="Benchmark the built-in kernels on CPU and GPU.", no_args_is_help=False)
console = Console()
err_console = Console(stderr=True)


def auto_devices() -> list[str]:
    """``cpu``, plus ``cuda:0`` when PyTorch sees a GPU."""
    try:
        return ["cpu", resolve_target("cuda:0", None).device]
    except SpecError:
        return ["cpu"]


@app.callback(invoke_without_command=True)
def bench(
    suite: Annotated[
        str,
        typer.Option(
            help="seed (the seed's cases), sweep (sizes per kernel), domain (wave, mc_option, pressure) "
            "or full."
        ),
    ] = "seed",
    devices: Annotated[
        str,
        typer.Option(
            help="Comma-separated devices, e.g. cpu,cuda:0; 'auto' = cpu and cuda:0 if present.",
            envvar="TESSERA_BENCH_DEVICES",
        ),
    ] = "auto",
    repeat: Annotated[int, typer.Option(min=1, help="Warm runs per case (median reported).")] = 3,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report as JSON here.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write a PNG of the sweep with crossovers (needs matplotlib)."),
    ] = None,
    scale: Annotated[
        float,
        typer.Option(
            help="Multiply every size by this (e.g. 0.25 on a small machine).",
            envvar="TESSERA_BENCH_SCALE",
        ),
    ] = 1.0,
    check: Annotated[
        bool, typer.Option(help="Compare every result with its float64 reference.")
    ] = True,
    save: Annotated[bool, typer.Option(help="Save the results as placement profiles.")] = True,
    recalibrate: Annotated[
        bool, typer.Option(help="Measure peak FLOP/s and bandwidth again.")
    ] = False,
    show: Annotated[bool, typer.Option(help="Show the saved profiles instead of running.")] = False,
) -> None:
    """Run a benchmark suite on each device and report time, rate, % of peak and cost."""
    try:
        if show:
            _show()
            return
        _run(suite, devices, repeat, json_path, plot, scale, check, save, recalibrate)
    except TesseraError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(exc.exit_code) from None


def _run(
    suite: str,
    devices: str,
    repeat: int,
    json_path: Path | None,
    plot: Path | None,
    scale: float,
    check: bool,
    save: bool,
    recalibrate: bool,
) -> None:
    cases = build_cases(suite, scale)
    names = (
        auto_devices()
        if devices.strip() == "auto"
        else [d for d in devices.split(",") if d.strip()]
    )
    devs = check_devices(names)
    if plot and suite == "seed":
        raise SpecError(
            "--plot draws the sweep, but --suite seed has none", "use --suite sweep or --suite full"
        )
    peaks = {}
    for d in devs:
        with console.status(f"calibrating {d}"):
            peaks[d] = calibrate(d, refresh=recalibrate)
        console.print(
            f"{d}: peak {peaks[d]['peak_gflops_fp32']:.0f} GFLOP/s fp32, "
            f"{peaks[d]['peak_gflops_fp64']:.0f} fp64, {peaks[d]['peak_gbps']:.1f} GB/s copy"
        )

    def progress(r: dict[str, Any]) -> None:
        state = f"[red]{r['error']}[/red]" if r.get("error") else f"{r['total_s']:.3f} s"
        console.print(f"  {r['label']} on {r['device']}: {state}")

    results = run_suite(cases, devs, repeat, submit_case, check=check, peaks=peaks, on_result=progress)
    console.print(build_table(results))
    crossovers = sweep_crossovers(results)
    for kernel, size in crossovers.items():
        console.print(
            f"crossover {kernel}: "
            + (f"GPU faster from size ~{size:.0f}" if size else "GPU never faster")
        )
    if json_path:
        write_json(json_path, to_document(results, peaks))
        console.print(f"wrote {json_path}")
    if plot:
        console.print(f"wrote {plot_sweep(results, plot)}")
    if save:
        rows = profile_store.profiles_from_results(results)
        if save_profiles is not None:
            save_profiles(rows)
            console.print(f"saved {len(rows)} profiles")
        else:
            console.print(f"saved {len(rows)} profiles to {profile_store.append_json(rows)}")


def _show() -> None:
    rows = load_profiles() if load_profiles is not None else profile_store.read_json()
    if not rows:
        console.print("no saved profiles; run `tessera bench` first")
        return
    table = Table(title="saved benchmark profiles")
    for key in (
        "kernel",
        "size",
        "device",
        "cold_s",
        "warm_s",
        "gflops",
        "gbps",
        "measured_at",
        "fingerprint",
    ):
        table.add_column(
            key, justify="right" if key.endswith(("_s", "flops", "gbps", "size")) else "left"
        )
    for r in rows:
        table.add_row(
            str(r["kernel"]),
            str(r["size"]),
            str(r["device"]),
            f"{r['cold_s']:.4f}",
            f"{r['warm_s']:.4f}",
            f"{r['gflops']:.1f}" if r.get("gflops") is not None else "-",
            f"{r['gbps']:.1f}" if r.get("gbps") is not None else "-",
            str(r["measured_at"]),
            str(r["fingerprint"]),
        )
    console.print(table)
