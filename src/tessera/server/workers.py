"""``tessera server --workers N``: N uvicorn worker processes serve the API; the server process
keeps the one controller.

The server process holds the home's controller lock with its embedded controller, which hears
pokes on the home's socket (or works through the home's background controller when one already
runs, which listens there itself), and runs the sampler and webhook threads. Each worker is a
process of its own (its own GIL): it opens the store, writes submissions and their audit entries
there (``server/intake.py``) and pokes the controller after each commit; nothing it accepts lives
only in its memory. Rate limits are shared through ``server/limits.py``. uvicorn spawns the
workers and calls ``app`` in each; the options travel in an environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

OPTIONS_ENV = "TESSERA_SERVER_OPTIONS"


def export(opts: Any) -> None:
    """Put the server's options where the worker processes find them."""
    os.environ[OPTIONS_ENV] = json.dumps(dataclasses.asdict(opts))


def app() -> Any:
    """The application of one worker process (uvicorn's factory)."""
    from tessera.client import Client
    from tessera.config import Settings
    from tessera.server.app import create_app
    from tessera.server.host import Options, context
    from tessera.server.limits import SharedLimiter
    from tessera.server.security import AUTH_BURST, AUTH_RATE

    raw: dict[str, Any] = json.loads(os.environ[OPTIONS_ENV])
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    opts = Options(**fields)
    settings = Settings.load()
    client = Client(embedded=False, home=settings.home, url="")  # pokes the server's controller
    ctx = context(client, opts)
    path = settings.home / "ratelimits.db"
    ctx.limiter = SharedLimiter(path, opts.rate, opts.burst)
    ctx.auth_limiter = SharedLimiter(path, AUTH_RATE, AUTH_BURST)
    return create_app(ctx)
