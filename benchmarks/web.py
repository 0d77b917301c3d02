"""The dashboard's first load in a real browser, against a store with many jobs.

    .venv/bin/python benchmarks/web.py [--jobs 10000] [--loads 20]

Starts ``tessera server`` in a fresh home, fills the store with ``--jobs`` jobs (pending behind
one long job, so the controller stays idle and the figures are the dashboard's), then opens the
dashboard ``--loads`` times in Debian's chromium (Playwright), each time in a new browser context
(a cold cache) with a signed-in session. For each view it reports, from Navigation Timing:

* ``load``: the page's load event (HTML, scripts and styles fetched, parsed and run);
* ``data``: the moment the view's table shows live data from the API (``performance.now()``
  when it appeared, polled every animation frame, so up to one frame late);
* ``bytes``: what crossed the wire for the page (transfer sizes of the document and resources).

Target (issue 7): first load <= 1 s. There is no peer here: no other orchestrator's dashboard
runs in this environment, so the figures stand alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWS = {"queues": "[data-testid=queues]", "jobs": "[data-testid=jobs]"}
console = Console(width=140)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_HOME"] = str(home)
    return env


def _call(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(url + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def start(home: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    cli = [sys.executable, "-m", "tessera.cli.main"]
    out = subprocess.run([*cli, "token", "create", "--name", "bench", "--role", "admin", "--json"],
                         env=_env(home), capture_output=True, text=True, check=True)
    token = json.loads(out.stdout)["token"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*cli, "server", "--port", str(port), "--rate", "0"], env=_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/api/v1/health", timeout=2).close()
            return url, token, proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tessera server did not start")


def fill(url: str, token: str, n: int) -> str:
    """``n`` jobs pending behind one long job; returns the long job's id (cancelled at the end)."""
    blocker = _call(url, token, "POST", "/jobs", {"name": "blocker", "command": ["sleep", "3600"]})["ids"][0]
    for start_at in range(0, n, 1000):
        batch = [{"name": f"job-{i}", "command": ["true"], "dependency": f"afterok:{blocker}"}
                 for i in range(start_at, min(n, start_at + 1000))]
        _call(url, token, "POST", "/jobs/batch", {"jobs": batch})
    return str(blocker)


def measure(url: str, token: str, loads: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[dict[str, float]]] = {v: [] for v in VIEWS}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(loads):
                for view, selector in VIEWS.items():
                    ctx = browser.new_context(base_url=url)  # a new context: an empty cache
                    r = ctx.request.post(url + "/api/v1/session", headers={"Authorization": f"Bearer {token}"})
                    assert r.ok, r.text()
                    page = ctx.new_page()
                    page.goto(f"/#/{view}")
                    data_ms = page.wait_for_function(
                        f"document.querySelector('{selector}') && performance.now()", polling="raf",
                        timeout=60_000).json_value()
                    nav = page.evaluate("""() => {
                        const n = performance.getEntriesByType('navigation')[0];
                        const bytes = performance.getEntriesByType('resource')
                            .reduce((a, r) => a + r.transferSize, n.transferSize);
                        return {load: n.loadEventEnd, bytes};
                    }""")
                    out[view].append({"load": nav["load"], "data": data_ms, "bytes": nav["bytes"]})
                    ctx.close()
        finally:
            browser.close()
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--loads", type=int, default=20)
    a = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no chromium at {CHROMIUM}: apt-get install chromium (or set TESSERA_CHROMIUM)")
    home = Path(tempfile.mkdtemp(prefix="tessera-webbench-"))
    url, token, proc = start(home)
    try:
        t0 = time.perf_counter()
        blocker = fill(url, token, a.jobs)
        console.print(f"{a.jobs} jobs submitted in {time.perf_counter() - t0:.1f} s; measuring {a.loads} loads per view")
        results = measure(url, token, a.loads)
        _call(url, token, "POST", f"/jobs/{blocker}/cancel")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    load = os.getloadavg()
    table = Table(title=f"Dashboard first load, {a.loads} cold loads per view, {a.jobs} jobs in the store")
    for col in ("view", "load p50 ms", "load p95 ms", "data p50 ms", "data p95 ms", "data max ms", "KB"):
        table.add_column(col, justify="right")
    for view, rows in results.items():
        loads_ms = [r["load"] for r in rows]
        data_ms = [r["data"] for r in rows]
        table.add_row(view, f"{statistics.median(loads_ms):.0f}", f"{pct(loads_ms, 95):.0f}",
                      f"{statistics.median(data_ms):.0f}", f"{pct(data_ms, 95):.0f}", f"{max(data_ms):.0f}",
                      f"{statistics.median(r['bytes'] for r in rows) / 1024:.0f}")
    console.print(table)
    console.print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
                  f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; target: first load <= 1000 ms")


if __name__ == "__main__":
    main()
