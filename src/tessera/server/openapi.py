"""Print the OpenAPI spec without starting a server: ``python -m tessera.server.openapi``.

``docs/openapi.json`` is its output (a test keeps it current), for clients built without a server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def spec() -> dict[str, Any]:
    from tessera.config import Settings
    from tessera.scheduler.decide import Capacity
    from tessera.server.app import create_app
    from tessera.server.context import Context

    ctx = Context(settings=Settings(home=Path("/nonexistent")), store=None,  # type: ignore[arg-type]
                  total=Capacity(1, 1, ()), poke=lambda *_: None, allowed_hosts=frozenset())
    return create_app(ctx).openapi()


def text() -> str:
    return json.dumps(spec(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(text())
