"""The cost ledger: each attempt's share × rate × duration; roll-ups equal the sum of attempts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.client import Client
from tessera.cost import db
from tessera.cost.ledger import AttemptRow, Rate, attempt_cost, rate_at, roll_up
from tests import fixtures


def _row(state: str, started: float = 100.0, ended: float | None = 136.0, cpus: float = 1, gpus: int = 0,
         memory_mb: int | None = None, spot: bool = False) -> AttemptRow:
    return AttemptRow(1, 1, "1", "p", "default", None, state, started, ended, cpus, memory_mb, gpus, spot)


def test_attempt_cost_share_rate_duration_and_waste() -> None:
    rate = Rate(0.0, "m", 3.6, 1.2, cpus=4, memory_mb=16000, gpus=1)
    ok = attempt_cost(_row("succeeded"), [rate], now=1000.0)
    assert ok is not None and ok.share == 0.25 and ok.usd == pytest.approx(0.25 * 3.6 * 36 / 3600) and not ok.waste
    assert attempt_cost(_row("succeeded", gpus=1), [rate], 0).share == 1.0  # dominant share: the only GPU
    assert attempt_cost(_row("succeeded", memory_mb=8000), [rate], 0).share == 0.5
    spot = attempt_cost(_row("succeeded", spot=True), [rate], 0)
    assert spot is not None and spot.usd_per_hour == 1.2
    for state in ("failed", "timed_out", "cancelled", "lost", "preempted", "fenced"):
        c = attempt_cost(_row(state), [rate], 0)
        assert c is not None and c.waste and c.usd > 0
    assert attempt_cost(_row("unstarted"), [rate], 0).usd == 0  # type: ignore[union-attr]
    running = attempt_cost(_row("running", ended=None), [rate], now=172.0)
    assert running is not None and running.open and running.seconds == 72.0 and not running.waste
    assert attempt_cost(_row("succeeded"), [], 0) is None


def test_rate_in_force_at_the_time() -> None:
    rates = [Rate(0.0, "a", 1, None, 1, 1, 0), Rate(50.0, "b", 2, None, 1, 1, 0), Rate(90.0, "c", 3, None, 1, 1, 0)]
    assert rate_at(rates, 10).name == "a"  # type: ignore[union-attr]
    assert rate_at(rates, 50).name == "b"  # type: ignore[union-attr]
    assert rate_at(rates, 1e9).name == "c"  # type: ignore[union-attr]
    assert rate_at(rates[1:], 10).name == "b"  # type: ignore[union-attr] - before the first: the first


def test_totals_equal_the_sum_of_attempts_on_real_runs(home: Path) -> None:
    from tessera.cli.cost import _costs, job_costs

    with Client(home=str(home), cpus=2) as c:
        db.add_rate(c.store, Rate(0.0, "test-box", 36.0, 12.0, cpus=2, memory_mb=4096, gpus=0))
        ok = [c.submit(fixtures.sleep_for, 0.2, project="alpha", tags={"workflow": "wf1"}), c.submit(fixtures.sleep_for, 0.1, project="beta",
                                                                             queue="default", cpus=2)]
        bad = c.submit(fixtures.boom, project="alpha", retries=1)
        arr = c.map_async(fixtures.square, [1, 2, 3], project="beta")
        for h in ok:
            h.result(timeout=120)
        with pytest.raises(ValueError, match="boom"):
            bad.result(timeout=120)
        c.array_results(arr, timeout=120)
        costs = _costs(c.store, c.total)
        attempts = c.store.attempts()
        assert len(costs) == len(attempts) >= 2 + 2 + 3
        for a, k in zip(sorted(attempts, key=lambda a: a.id), sorted(costs, key=lambda k: k.attempt_id), strict=True):
            assert k.usd == pytest.approx(k.share * 36.0 * ((a.ended_at or 0) - a.started_at) / 3600)
        total = sum(k.usd for k in costs)
        assert {g["workflow"]: g["attempts"] for g in roll_up(costs, "workflow")}["wf1"] == 1
        for by in ("project", "queue", "job", "array", "workflow"):
            groups = roll_up(costs, by)
            assert sum(g["usd"] for g in groups) == pytest.approx(total)
            assert sum(g["attempts"] for g in groups) == len(costs)
        alpha = {g["project"]: g for g in roll_up(costs, "project")}["alpha"]
        assert alpha["waste_usd"] > 0 and alpha["attempts"] == 3  # two failed attempts of `boom` are waste
        assert alpha["waste_usd"] == pytest.approx(sum(k.usd for k in costs if k.ref == bad.ref))
        per_job = job_costs(c.store, [h.job for h in [*ok, bad, arr]])
        assert per_job[arr.job.id]["cost_usd"] == pytest.approx(sum(k.usd for k in costs if k.array_id == arr.job.id))
        assert per_job[ok[1].job.id]["cost_usd"] == pytest.approx(
            next(k.usd for k in costs if k.job_id == ok[1].job.id))
        # a price change applies from now on: earlier attempts keep the rate of their time
        db.add_rate(c.store, Rate(time.time(), "dearer", 360.0, None, cpus=2, memory_mb=4096, gpus=0))
        assert sum(k.usd for k in _costs(c.store, c.total)) == pytest.approx(total)


def test_attempts_the_spot_side_ran_on_spot_are_priced_at_spot(home: Path) -> None:
    """The spot side (issue 5) records each attempt's capacity in ``spot_attempts``."""
    from tessera.cli.cost import _costs

    with Client(home=str(home), cpus=2) as c:
        db.add_rate(c.store, Rate(0.0, "box", 36.0, 12.0, cpus=2, memory_mb=4096, gpus=0))
        c.submit(fixtures.sleep_for, 0.05).result(timeout=120)
        c.submit(fixtures.sleep_for, 0.05, tags={"capacity": "spot"}).result(timeout=120)  # asked; ran on demand
        first, second = sorted(a.id for a in c.store.attempts())
        with c.store.engine.begin() as conn:  # the spot side's table if it is there, else its two key columns
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS spot_attempts (attempt_id INTEGER PRIMARY KEY, "
                                 "capacity VARCHAR(16) NOT NULL)")
            table = sa.Table("spot_attempts", sa.MetaData(), autoload_with=conn)
            blank = {col.name: (False if isinstance(col.type, sa.Boolean) else
                                0 if isinstance(col.type, sa.Integer | sa.Float | sa.Numeric) else "")
                     for col in table.columns if not col.nullable}
            conn.execute(table.insert(), [{**blank, "attempt_id": first, "capacity": "spot"},
                                          {**blank, "attempt_id": second, "capacity": "on_demand"}])
        by_id = {k.attempt_id: k for k in _costs(c.store, c.total)}
        assert by_id[first].row.spot and by_id[first].usd_per_hour == 12.0
        assert not by_id[second].row.spot and by_id[second].usd_per_hour == 36.0
