"""The server's API under load on loopback: paged job listing latency with 10,000 jobs in the store,
sustained submissions per second, and the dashboard's first load; side by side with the floor of
the same HTTP stack (a bare FastAPI endpoint on uvicorn) and with tessera's local submit path.

    .venv/bin/python benchmarks/api.py [--jobs 10000] [--list 500] [--seconds 10] [--concurrency 16] [--workers 2]

The server is ``tessera server`` in a fresh TESSERA_HOME (a separate process: uvicorn, the
embedded controller, the sampler and the webhook dispatcher), with its default rate limit. Its
jobs wait on one long job (``afterok``), so the measurement is the API and the store, not job
execution; the load generator (httpx, asyncio) runs on the same machine and competes for its CPUs.
The submission run is repeated against ``tessera server --workers N`` (N API processes, the one
controller in the server process) in another fresh home.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

console = Console(width=160)
PY = sys.executable


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


@contextmanager
def tessera_server(home: Path, *extra: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = {**os.environ, "TESSERA_HOME": str(home)}
    env.pop("TESSERA_URL", None)
    out = subprocess.run([PY, "-m", "tessera.cli.main", "token", "create", "--role", "admin", "--json"], env=env,
                         check=True, capture_output=True, text=True).stdout
    token = json.loads(out)["token"]
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "tessera.cli.main", "server", "--port", str(port), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url)
        yield url, {"Authorization": f"Bearer {token}"}
    finally:
        proc.terminate()
        proc.wait(300)


BARE = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/api/v1/health")
def health(): return {"ok": True}
@app.get("/items")
def items(): return {"items": [{"id": i, "name": "x"} for i in range(50)], "next": None}
@app.post("/items", status_code=201)
def add(body: dict): return {"ids": ["1"]}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


@contextmanager
def bare_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-c", BARE, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def latencies(url: str, path: str, headers: dict[str, str], n: int, params: dict[str, Any] | None = None) -> list[float]:
    """Sequential GETs on one keep-alive connection; milliseconds each (client side)."""
    out = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        for _ in range(20):  # warm-up
            c.get(path, params=params).raise_for_status()
        for _ in range(n):
            t = time.perf_counter()
            r = c.get(path, params=params)
            out.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return out


def _submitter(args: tuple[str, str, dict[str, str], dict[str, Any], float, float, int]) -> tuple[int, int, list[float]]:
    """One load-generating process: ``threads`` threads, each a keep-alive client posting in a loop
    from ``start`` to ``deadline`` (wall clock)."""
    import threading

    url, path, headers, body, start, deadline, threads = args
    time.sleep(max(0.0, start - time.time()))
    ok = errors = 0
    lat: list[float] = []
    lock = threading.Lock()

    def loop() -> None:
        nonlocal ok, errors
        mine: list[float] = []
        good = bad = 0
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            while time.time() < deadline:
                t = time.perf_counter()
                r = c.post(path, json=body)
                mine.append((time.perf_counter() - t) * 1000)
                if r.status_code == 201:
                    good += 1
                else:
                    bad += 1
        with lock:
            lat.extend(mine)
            ok += good
            errors += bad

    ts = [threading.Thread(target=loop) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ok, errors, lat


def sustained(url: str, path: str, headers: dict[str, str], body: dict[str, Any], seconds: float,
              concurrency: int, procs: int = 4) -> tuple[float, int, list[float]]:
    """Submissions per second over ``seconds``, from ``procs`` processes with ``concurrency`` clients in all."""
    import multiprocessing as mp

    threads = max(1, concurrency // procs)
    with mp.get_context("spawn").Pool(procs) as pool:
        start = time.time() + 3.0  # every process is up before the clock starts
        res = pool.map_async(_submitter, [(url, path, headers, body, start, start + seconds, threads)] * procs)
        got = res.get(seconds + 120)
    return sum(g[0] for g in got) / seconds, sum(g[1] for g in got), [x for g in got for x in g[2]]


def populate(url: str, headers: dict[str, str], n: int) -> str:
    """One long job, and ``n`` jobs waiting on it (batches of 1,000); returns the long job's id."""
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        hold = c.post("/api/v1/jobs", json={"name": "hold", "command": ["sleep", "3600"]}).json()["ids"][0]
        for start in range(0, n, 1000):
            jobs = [{"name": f"j{i}", "command": ["true"], "dependency": f"afterok:{hold}",
                     "queue": "default", "tags": {"batch": str(start // 1000)}} for i in range(start, min(n, start + 1000))]
            c.post("/api/v1/jobs/batch", json={"jobs": jobs}).raise_for_status()
    return str(hold)


def dashboard(url: str, headers: dict[str, str]) -> float | None:
    """Seconds to fetch index.html and every asset it names, or None when no dashboard is built."""
    with httpx.Client(base_url=url, timeout=30) as c:
        t = time.perf_counter()
        r = c.get("/")
        if r.status_code != 200 or "<html" not in r.text.lower():
            return None
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', r.text):
            c.get(asset).raise_for_status()
        c.get("/api/v1/session", headers=headers)
        return time.perf_counter() - t


def local_submit_rate(n: int) -> float:
    """Submissions per second through the SDK's store path in this process (no HTTP), for scale."""
    from tessera.config import Settings
    from tessera.executors.hardware import detect
    from tessera.jobfile import to_spec
    from tessera.store import Store
    from tessera.submit import submit

    with tempfile.TemporaryDirectory() as d:
        s = Settings.load(home=Path(d))
        store = Store(s.db_url)
        total = detect(s)
        hold = submit(store, [to_spec({"command": ["sleep", "1"]})], total)[0]
        spec = to_spec({"command": ["true"], "dependency": f"afterok:{hold}"})
        t = time.perf_counter()
        for _ in range(n):
            submit(store, [spec], total)
        rate = n / (time.perf_counter() - t)
        store.close()
        return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--list", type=int, default=500, help="sequential listing requests per case")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of the submission run")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="API processes for the second submission run (1: skip it)")
    a = ap.parse_args()
    load = os.getloadavg()
    console.print(f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, load {load[0]:.2f} "
                  f"{load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()}, httpx {httpx.__version__}")
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as d, tessera_server(Path(d)) as (url, auth):
        t = time.perf_counter()
        hold = populate(url, auth, a.jobs)
        console.print(f"populated {a.jobs} jobs through /jobs/batch in {time.perf_counter() - t:.1f} s")
        for label, params in (("newest 50", {"limit": 50}), ("state=pending, 50", {"state": "pending", "limit": 50}),
                              ("page in the middle", {"limit": 50, "before": int(hold) + a.jobs // 2}),
                              ("newest 200", {"limit": 200})):
            lat = latencies(url, "/api/v1/jobs", auth, a.list, params)
            rows.append((f"tessera: GET /jobs ({label})", f"{pct(lat, 0.5):.2f}", f"{pct(lat, 0.95):.2f}",
                         f"{pct(lat, 0.99):.2f}", ""))
        lat = latencies(url, f"/api/v1/jobs/{hold}", auth, a.list)
        rows.append(("tessera: GET /jobs/{id}", f"{pct(lat, 0.5):.2f}", f"{pct(lat, 0.95):.2f}",
                     f"{pct(lat, 0.99):.2f}", ""))
        body = {"command": ["true"], "dependency": f"afterok:{hold}"}
        rate, errors, lat = sustained(url, "/api/v1/jobs", auth, body, a.seconds, a.concurrency)
        rows.append((f"tessera: POST /jobs, {a.concurrency} clients, {a.seconds:g} s", f"{pct(lat, 0.5):.2f}",
                     f"{pct(lat, 0.95):.2f}", f"{pct(lat, 0.99):.2f}", f"{rate:,.0f}/s ({errors} errors)"))
        first = dashboard(url, auth)
        with httpx.Client(base_url=url, headers=auth, timeout=120) as c:
            counts = c.get("/api/v1/status").json()["counts"]  # (the home is thrown away: no clean-up)
        console.print(f"jobs in the store at the end: {sum(counts.values()):,}")
    if a.workers > 1:
        with tempfile.TemporaryDirectory() as d, tessera_server(Path(d), "--workers", str(a.workers)) as (url, auth):
            hold = populate(url, auth, 0)
            body = {"command": ["true"], "dependency": f"afterok:{hold}"}
            rate, errors, lat = sustained(url, "/api/v1/jobs", auth, body, a.seconds, a.concurrency)
            rows.append((f"tessera --workers {a.workers}: POST /jobs, {a.concurrency} clients", f"{pct(lat, 0.5):.2f}",
                         f"{pct(lat, 0.95):.2f}", f"{pct(lat, 0.99):.2f}", f"{rate:,.0f}/s ({errors} errors)"))
    with bare_server() as bare:
        lat = latencies(bare, "/items", {}, a.list)
        rows.append(("bare FastAPI: GET 50 constant items", f"{pct(lat, 0.5):.2f}", f"{pct(lat, 0.95):.2f}",
                     f"{pct(lat, 0.99):.2f}", ""))
        rate, errors, lat = sustained(bare, "/items", {}, {"x": 1}, a.seconds, a.concurrency)
        rows.append((f"bare FastAPI: POST constant, {a.concurrency} clients", f"{pct(lat, 0.5):.2f}",
                     f"{pct(lat, 0.95):.2f}", f"{pct(lat, 0.99):.2f}", f"{rate:,.0f}/s ({errors} errors)"))
    rows.append(("tessera SDK store path, one by one (no HTTP)", "", "", "", f"{local_submit_rate(2000):,.0f}/s"))
    t = Table(title="API under load (loopback)", header_style="bold")
    for col in ("case", "p50 (ms)", "p95 (ms)", "p99 (ms)", "throughput"):
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    console.print(t)
    console.print("dashboard first load: " + (f"{first * 1000:.0f} ms" if first is not None else "no dashboard built"))
    load = os.getloadavg()
    console.print(f"load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
