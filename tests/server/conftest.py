"""A real server in-process: a store in a private home, an embedded controller, the FastAPI app
driven through Starlette's TestClient, and tokens of each role in two projects."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.client import Client
from tessera.server import tokens
from tessera.server.app import create_app
from tessera.server.context import Context
from tessera.server.host import Options, context


@dataclass
class Server:
    client: TestClient
    ctx: Context
    sdk: Client
    secrets: dict[str, str]

    def auth(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[who]}"}


def make_server(home: Path, embedded: bool = True, **opts: object) -> tuple[Server, Client]:
    sdk = Client(embedded=embedded, home=home)
    ctx = context(sdk, Options(**opts))  # type: ignore[arg-type]
    secrets = {}
    for who, project, role in (("admin", "default", "admin"), ("submitter", "default", "submitter"),
                               ("viewer", "default", "viewer"), ("other", "other", "admin")):
        secrets[who] = tokens.create(ctx.store, who, project, role)[1]
    app = create_app(ctx)
    return Server(TestClient(app, base_url="http://127.0.0.1"), ctx, sdk, secrets), sdk


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    srv, sdk = make_server(home)
    try:
        yield srv
    finally:
        srv.client.close()
        sdk.close()


@dataclass
class Live:
    """A server on a loopback port (uvicorn in a thread), for clients in other processes."""

    url: str
    server: Server


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live(home: Path, project: str = "default") -> Iterator[Live]:
    import threading

    import uvicorn

    from tests.conftest import wait_for

    srv, sdk = make_server(home)
    srv.secrets["project"] = tokens.create(srv.ctx.store, "cli", project, "admin")[1]
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(srv.client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: uv.started, 60, "the server to listen")
        yield Live(f"http://127.0.0.1:{port}", srv)
    finally:
        uv.should_exit = True
        thread.join(30)
        sdk.close()
