"""``tessera bench`` wired to the engine: each case runs as a tessera job, profiles go to the store."""

from __future__ import annotations

import atexit
import json
import sys
from typing import Any

from tessera.bench import cli as bench_cli
from tessera.config import Settings
from tessera.errors import TesseraError
from tessera.store import Store

_client: Any = None


def _get_client() -> Any:
    global _client
    if _client is None:
        from tessera.client import Client

        _client = Client()
        atexit.register(_client.close)
    return _client


def submit_case(kernel: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one case as a command job in a fresh process (so its cold time is honest), holding
    every CPU of the machine (and a GPU for CUDA) so nothing else runs beside it."""
    c = _get_client()
    device = str(params.get("device", "cpu"))
    gpus = 1 if device.startswith("cuda") else 0
    if gpus:
        params = {**params, "device": "cuda:0"}  # CUDA_VISIBLE_DEVICES holds the GPU it was given
    h = c.submit_spec({
        "name": f"bench-{kernel}",
        "command": [sys.executable, "-m", "tessera.kernels", "run", kernel, "--params", json.dumps(params)],
        "cpus": c.total.cpus, "gpus": gpus, "project": "bench", "timeout_s": 3600,
    })
    job = h.wait()
    lines = [ln for ln in h.logs().splitlines() if ln.strip()]
    doc = json.loads(lines[-1]) if lines else {}
    if "error" in doc or job.state.value != "succeeded":
        raise TesseraError(f"bench case {kernel} on {device} (job {h.ref}) ended {job.state.value}: "
                           f"{doc.get('error', 'no output')}", f"see `tessera logs {h.ref} --stderr`")
    doc["job_id"] = h.ref
    return dict(doc)


def _store() -> Store:
    return Store(Settings.load().db_url)


def install() -> Any:
    """Point the bench command at the engine and return its Typer app."""
    from tessera.cli import render

    bench_cli.console, bench_cli.err_console = render.console, render.err_console
    bench_cli.submit_case = submit_case
    bench_cli.save_profiles = lambda rows: _store().add_profiles(rows)
    bench_cli.load_profiles = lambda: _store().profiles()
    return bench_cli.app
