"""Running the server: the controller (embedded, or the home's background one), the sampler and
webhook threads, and uvicorn. Binds 127.0.0.1 unless told otherwise, and refuses any other
address while no API token exists (authentication not configured)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tessera.client import Client
from tessera.config import Settings
from tessera.errors import SpecError
from tessera.monitor.sampler import Sampler
from tessera.monitor.webhooks import Dispatcher
from tessera.server import tokens, workers
from tessera.server.context import Context
from tessera.server.security import RateLimiter, loopback_names

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth_configured: bool) -> None:
    """Refuse a non-loopback address without authentication configured (pure)."""
    if not is_loopback(host) and not auth_configured:
        raise SpecError(
            f"refusing to listen on {host}: no API token exists, so nobody could sign in, and the "
            "server must never be reachable from other machines without authentication",
            "create a token first (`tessera token create --role admin`), or bind 127.0.0.1",
        )


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8470
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    rate: float = 2000.0
    burst: float = 4000.0
    sample_s: float = 1.0
    tls: bool = False
    workers: int = 1  # API processes; more than one: see ``server/workers.py``


@contextlib.contextmanager
def hosted(settings: Settings, opts: Options, embedded: bool | None = None) -> Iterator[Context]:
    """The controller link and background threads for the lifetime of a server."""
    client = Client(embedded=embedded, home=settings.home, url="")  # never a client of another server
    check_bind(opts.host, tokens.any_live(client.store))
    sampler = Sampler(client.store, opts.sample_s)
    dispatcher = Dispatcher(client.store)
    ctx = context(client, opts)
    # worker processes (``--workers``) poke the controller over the home's socket, where the
    # embedded controller (``Client``), or a background one that held the home first, listens
    sampler.start()
    dispatcher.start()
    try:
        yield ctx
    finally:
        dispatcher.stop()
        sampler.stop()
        ctx.close()
        client.close()


def context(client: Client, opts: Options) -> Context:
    """The routes' context over a client's store and controller."""
    wildcard = opts.host in ("0.0.0.0", "::") and not opts.allowed_hosts
    return Context(settings=client.settings, store=client.store, total=client.total,
                   poke=lambda deps, cancels=True: client._poke(deps, cancels),
                   allowed_hosts=frozenset({"*"}) if wildcard else loopback_names({opts.host, *opts.allowed_hosts}),
                   allowed_origins=frozenset(o.lower().rstrip("/") for o in opts.allowed_origins),
                   secure_cookies=opts.tls, limiter=RateLimiter(opts.rate, opts.burst))


def serve(settings: Settings, opts: Options, ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> None:
    """Run until interrupted."""
    import uvicorn

    from tessera.server.app import create_app

    with hosted(settings, opts) as ctx:
        if not tokens.any_live(ctx.store):
            logger.warning("no API token exists yet: create one with `tessera token create --role admin`")
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again with the
        # handlers it found: these make that a no-op, so the controller below is closed cleanly.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        common: dict[str, Any] = {"host": opts.host, "port": opts.port, "log_level": "warning", "access_log": False,
                                  "ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile, "server_header": False}
        if opts.workers > 1:
            workers.export(opts)
            uvicorn.run("tessera.server.workers:app", factory=True, workers=opts.workers, **common)
        else:
            uvicorn.run(create_app(ctx), **common)
