"""What a project's attempts cost, priced by the cost ledger (``tessera.cost``) when this build has it."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from tessera.scheduler.decide import Capacity
from tessera.store import Store


def present(module: str) -> bool:
    """Whether this build has ``module`` (a part of tessera that may be absent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def available() -> bool:
    return present("tessera.cost.ledger")


def priced(store: Store, total: Capacity, home: Path, project: str) -> list[tuple[Any, Any]]:
    """(attempt row, its cost or None when no rate applies) for every attempt of ``project``."""
    from tessera.cost import catalog
    from tessera.cost.db import attempt_rows, ensure_rates
    from tessera.cost.ledger import attempt_cost

    rates = ensure_rates(store, total, catalog.load(home))
    now = time.time()
    return [(r, attempt_cost(r, rates, now)) for r in attempt_rows(store, project=project)]
