"""The server's /costs and /hardware routes read this ledger and inventory (issue 7 builds on them)."""

from __future__ import annotations

import pytest

from tessera.cost import db
from tessera.cost.ledger import Rate
from tests import fixtures
from tests.server.conftest import Server


def test_costs_route_totals_the_projects_attempts(server: Server) -> None:
    db.add_rate(server.ctx.store, Rate(0.0, "box", 36.0, None, cpus=2, memory_mb=4096, gpus=0))
    server.sdk.submit(fixtures.sleep_for, 0.05).result(timeout=120)
    server.sdk.submit(fixtures.sleep_for, 0.05, project="other").result(timeout=120)
    from tessera.cli.cost import _costs

    mine = sum(c.usd for c in _costs(server.ctx.store, server.sdk.total, project="default"))
    r = server.client.get(f"{PREFIX}/costs", params={"group_by": "job", "bucket_s": 3600}, headers=server.auth())
    assert r.status_code == 200, r.text
    doc = r.json()
    assert sum(g["usd"] for g in doc["groups"]) == pytest.approx(mine) and mine > 0
    assert sum(p["usd"] for p in doc["series"]) == pytest.approx(mine) and doc["unpriced_attempts"] == 0
    hw = server.client.get(f"{PREFIX}/hardware", headers=server.auth()).json()
    assert hw["inventory"]["fingerprint"] and hw["inventory"]["logical_cpus"] >= 1


PREFIX = "/api/v1"
