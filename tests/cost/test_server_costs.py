"""The server's /costs and /hardware routes read this ledger and inventory (issue 7 builds on them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from tessera.cost import db  # noqa: E402
from tessera.cost.ledger import Rate  # noqa: E402
from tests import fixtures  # noqa: E402
from tests.server.conftest import Server, make_server  # noqa: E402


@pytest.fixture
def srv(home: Path) -> Iterator[Server]:
    s, sdk = make_server(home)
    try:
        yield s
    finally:
        s.client.close()
        sdk.close()


def test_costs_route_totals_the_projects_attempts(srv: Server) -> None:
    db.add_rate(srv.ctx.store, Rate(0.0, "box", 36.0, None, cpus=2, memory_mb=4096, gpus=0))
    srv.sdk.submit(fixtures.sleep_for, 0.05).result(timeout=120)
    srv.sdk.submit(fixtures.sleep_for, 0.05, project="other").result(timeout=120)
    from tessera.cli.cost import _costs

    mine = sum(c.usd for c in _costs(srv.ctx.store, srv.sdk.total, project="default"))
    r = srv.client.get(f"{PREFIX}/costs", params={"group_by": "job", "bucket_s": 3600}, headers=srv.auth())
    assert r.status_code == 200, r.text
    doc = r.json()
    assert sum(g["usd"] for g in doc["groups"]) == pytest.approx(mine) and mine > 0
    assert sum(p["usd"] for p in doc["series"]) == pytest.approx(mine) and doc["unpriced_attempts"] == 0
    hw = srv.client.get(f"{PREFIX}/hardware", headers=srv.auth()).json()
    assert hw["inventory"]["fingerprint"] and hw["inventory"]["logical_cpus"] >= 1


PREFIX = "/api/v1"
