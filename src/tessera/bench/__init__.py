"""The benchmark suite: cases, calibration, a runner, crossovers, reports and profiles.

The CLI lives in ``tessera.bench.cli`` (its Typer ``app`` is mounted as ``tessera bench``)
and is not imported here, so the library works without Typer's start-up cost.
"""

from __future__ import annotations

from tessera.bench.calibrate import calibrate
from tessera.bench.cases import SUITES, Case, build_cases
from tessera.bench.crossover import find_crossover, sweep_crossovers
from tessera.bench.hardware import describe, hardware_fingerprint, hardware_info
from tessera.bench.prices import PRICES, Price, price_for
from tessera.bench.profiles import PROFILE_KEYS, profiles_from_results
from tessera.bench.report import build_table, plot_sweep, to_document, write_json
from tessera.bench.runner import Submit, check_devices, run_suite, subprocess_submit

__all__ = [
    "PRICES",
    "PROFILE_KEYS",
    "SUITES",
    "Case",
    "Price",
    "Submit",
    "build_cases",
    "build_table",
    "calibrate",
    "check_devices",
    "describe",
    "find_crossover",
    "hardware_fingerprint",
    "hardware_info",
    "plot_sweep",
    "price_for",
    "profiles_from_results",
    "run_suite",
    "subprocess_submit",
    "sweep_crossovers",
    "to_document",
    "write_json",
]
