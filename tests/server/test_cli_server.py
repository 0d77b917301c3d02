"""``tessera server``, ``tessera token`` and ``tessera audit`` as a user runs them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import wait_for
from tests.server.conftest import free_port

CLI = [sys.executable, "-m", "tessera.cli.main"]


def _run(*args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == check, (args, p.stdout, p.stderr)
    return p


@contextlib.contextmanager
def _server(*args: str, wait_s: float = 60) -> Iterator[str]:
    """``tessera server`` on a free loopback port: its URL once health answers; stopped cleanly after."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "server", "--port", str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, wait_s, "the server to listen")
        yield url
    finally:
        proc.terminate()
        assert proc.wait(60) == 0


def test_server_refuses_other_addresses_without_a_token(home: Path) -> None:
    p = _run("server", "--host", "0.0.0.0", check=2)
    assert "refusing to listen on 0.0.0.0" in p.stderr and "To fix" in p.stderr


def test_server_tokens_and_audit_end_to_end(home: Path) -> None:
    tok = json.loads(_run("token", "create", "--name", "ops", "--role", "admin", "--json").stdout)
    assert tok["token"].startswith("tsr_") and tok["role"] == "admin"
    listed = json.loads(_run("token", "ls", "--json").stdout)
    assert [t["name"] for t in listed] == ["ops"] and "token" not in listed[0]
    h = {"Authorization": f"Bearer {tok['token']}"}
    with _server() as url:
        assert httpx.get(f"{url}/api/v1/jobs", timeout=10).status_code == 401
        r = httpx.post(f"{url}/api/v1/jobs", json={"command": ["true"]}, headers=h, timeout=30)
        assert r.status_code == 201
        jid = r.json()["ids"][0]
        wait_for(lambda: httpx.get(f"{url}/api/v1/jobs/{jid}", headers=h, timeout=10).json()["state"] == "succeeded",
                 60, "the job to run on the server's controller")
        _run("token", "revoke", str(tok["id"]))  # binds the very next request (no cache)
        assert httpx.get(f"{url}/api/v1/jobs", headers=h, timeout=10).status_code == 401
    entries = json.loads(_run("audit", "--json").stdout)
    assert [e["action"] for e in entries] == ["token.create", "job.submit", "token.revoke"]
    assert "intact: 3 entries" in _run("audit", "verify").stdout


def test_worker_processes_share_the_controller_audit_and_rate_limits(home: Path) -> None:
    """``--workers 2``: jobs submitted through either process run on the server's one controller,
    the audit chain stays whole, and one token's rate limit holds across both processes."""
    tok = json.loads(_run("token", "create", "--role", "admin", "--json").stdout)
    h = {"Authorization": f"Bearer {tok['token']}"}
    with _server("--workers", "2", "--rate", "5", wait_s=120) as url:

        def state(jid: str) -> str | None:
            r = httpx.get(f"{url}/api/v1/jobs/{jid}", headers=h, timeout=10)
            return r.json()["state"] if r.status_code == 200 else None  # 429 while the bucket refills

        first = httpx.post(f"{url}/api/v1/jobs", json={"command": ["true"]}, headers=h, timeout=30).json()["ids"][0]
        then = httpx.post(f"{url}/api/v1/jobs", json={"command": ["true"], "dependency": f"afterok:{first}"},
                          headers=h, timeout=30).json()["ids"][0]
        wait_for(lambda: state(then) == "succeeded", 120, "both jobs to run on the server's controller")
        started = time.monotonic()
        codes = []
        for _ in range(40):  # a new connection each: the kernel hands them to either worker
            with httpx.Client(base_url=url, headers=h, timeout=10) as c:
                codes.append(c.get("/api/v1/jobs").status_code)
        elapsed = time.monotonic() - started
        assert set(codes) <= {200, 429} and 429 in codes
        # burst 10 + 5/s: two unshared buckets would allow about twice this
        assert codes.count(200) <= 10 + 5 * elapsed + 1, (codes.count(200), elapsed)
    entries = json.loads(_run("audit", "--json").stdout)
    assert [e["action"] for e in entries] == ["token.create", "job.submit", "job.submit"]
    assert "intact: 3 entries" in _run("audit", "verify").stdout
