"""One source of dollars: the spot side prices its attempts with the cost ledger's rates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tessera
from tessera.cost import db
from tessera.cost.ledger import Rate, attempt_cost
from tessera.spot import ledger
from tessera.store import Store


def test_spot_report_and_cost_ledger_agree_on_the_same_attempts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_SPOT_SLOTS", "1")  # one spot slot, one on-demand: both classes get attempts
    monkeypatch.setenv("TESSERA_CPUS", "2")
    store = Store(f"sqlite:///{home / 'tessera.db'}")
    # a machine at $3.60/h on demand, $1.08/h spot; then, later, a price rise: each attempt keeps its own
    db.add_rate(store, Rate(0.0, "lab", 3.6, 1.08, 2.0, 8192, 0))
    with tessera.Client() as c:
        first = [c.submit_spec({"function": "time:sleep", "args": [0.3]}) for _ in range(2)]
        for h in first:
            h.wait(timeout=120)
        db.add_rate(store, Rate(time.time(), "lab", 7.2, 2.16, 2.0, 8192, 0))
        second = [c.submit_spec({"function": "time:sleep", "args": [0.3]}) for _ in range(2)]
        for h in second:
            h.wait(timeout=120)
    ids = [h.id for h in first + second]
    spot_rows = ledger.rows(store, ids)
    assert {r["capacity"] for r in spot_rows} == {"spot", "on_demand"}, spot_rows
    summary = ledger.summary(store, ids)
    rates = db.rates(store)
    costs = {a.attempt_id: attempt_cost(a, rates, time.time()) for a in db.attempt_rows(store, job_ids=ids)}
    recorded = {r["attempt_id"] for r in spot_rows}
    usd = sum(c.usd for aid, c in costs.items() if c is not None and aid in recorded)
    assert usd > 0
    assert summary["usd"] == pytest.approx(usd, rel=1e-9)  # `tessera spot report` == `tessera cost`
    # the spot attempts were priced at the spot rate, the on-demand ones at the on-demand rate
    for r in spot_rows:
        c = costs[r["attempt_id"]]
        assert c is not None and c.usd_per_hour in ((1.08, 2.16) if r["capacity"] == "spot" else (3.6, 7.2))
    assert summary["on_demand_usd"] > summary["usd"]
    # what was recorded when each attempt ended is priced at the same rate, over its run time
    # (from its start on the worker, not from its claim, so never more than the ledger's)
    raw = {r["attempt_id"]: r for r in ledger.rows(store, ids)}
    for aid, r in raw.items():
        c = costs[aid]
        assert c is not None and 0 < r["usd"] <= c.usd * (1 + 1e-9)
    store.close()
