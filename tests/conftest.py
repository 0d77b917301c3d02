"""Shared fixtures: a private TESSERA_HOME, stores on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tessera.config import Settings
from tessera.store import Store

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so that jobs can import ``tests.fixtures``


def wait_for(cond: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    """Poll ``cond`` until it returns something truthy; fail after a generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TESSERA_HOME with a short kill grace; no TESSERA_* setting leaks in from outside."""
    for key in list(os.environ):
        if key.startswith("TESSERA_"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("TESSERA_HOME", str(h))
    monkeypatch.setenv("TESSERA_KILL_GRACE_S", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return h


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings.load()


# ---------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        path = shutil.which("pg_ctl")
        return Path(path).parent if path else None
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL server for this test session (trust auth on 127.0.0.1, a free port)."""
    bindir = _pg_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        base.chmod(0o700)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                 "--no-sync", "-E", "UTF8"]),
                   check=True, capture_output=True, env=env)
    opts = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", opts,
                                 "-w", "-t", "60", "start"]),
                   check=True, capture_output=True, env=env)
    try:
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "tessera_test"]), check=True, capture_output=True, env=env)
        yield f"postgresql://postgres@127.0.0.1:{port}/tessera_test"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


def _fresh_pg_db(url: str, name: str) -> str:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


_db_counter = [0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("pg_url")
    _db_counter[0] += 1
    return _fresh_pg_db(url, f"t{os.getpid()}_{_db_counter[0]}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()
