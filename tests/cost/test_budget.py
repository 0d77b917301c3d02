"""Budgets: the verdict per action (pure), and each action through the real submit path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.config import Settings
from tessera.cost import db
from tessera.cost.budget import judge
from tessera.cost.ledger import Rate
from tessera.errors import BudgetError, SpecError
from tessera.executors.hardware import detect
from tessera.models.placement import PlacementSpec, Variant
from tessera.models.spec import JobSpec
from tessera.models.states import JobState, Reason
from tessera.store import Store
from tessera.submit import submit
from tests.conftest import wait_for

B = {"limit_usd": 10.0, "warn_at": 0.8, "action": "hold"}


def test_judge_thresholds_and_actions() -> None:
    assert judge("p", None, 100, 100).action == "ok"
    assert judge("p", B, 1, 2).action == "ok"
    w = judge("p", B, 7, 2)
    assert w.action == "warn" and "90%" in w.message
    for action in ("warn", "hold", "downgrade", "reject"):
        v = judge("p", {**B, "action": action}, 7, 4)
        assert v.action == action and v.left_usd == 3
    assert judge("p", B, 10, None).action == "hold"  # nothing left and the cost is unknown
    assert judge("p", B, 5, None).action == "ok"  # unknown cost, money left: let it through


@pytest.fixture
def env(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Settings]:
    """Logical GPU, a machine at $3600/h (2 CPUs, 1 GPU: a CPU is $1800/h, the GPU the whole $3600/h)
    and profiles for a model `work`: 1.5 s on the CPU, 1.0 s on the GPU at n=10."""
    monkeypatch.setenv("TESSERA_GPUS", "1")
    monkeypatch.setenv("TESSERA_CPUS", "2")
    rows = [{"kernel": "work", "size": 10, "device": d, "warm_s": t} for d, t in (("cpu", 1.5), ("cuda", 1.0))]
    (tmp_path / "p.json").write_text(json.dumps({"profiles": rows}))
    monkeypatch.setenv("TESSERA_PROFILES", str(tmp_path / "p.json"))
    s = Settings.load()
    store = Store(s.db_url)
    db.add_rate(store, Rate(0.0, "box", 3600.0, 360.0, cpus=2, memory_mb=detect(s).memory_mb, gpus=1))
    return store, s


def _job(project: str = "p") -> JobSpec:
    p = PlacementSpec(variants=(Variant(name="cpu", cpus=1), Variant(name="gpu", gpus=1)), size={"n": 10},
                      model="work")
    return JobSpec(command=("true",), project=project, placement=p)


def _submit(env: tuple[Store, Settings], spec: JobSpec, notes: list[str] | None = None) -> int:
    store, s = env
    return submit(store, [spec], detect(s), notes=notes)[0]


def test_forecast_is_the_chosen_variants_prediction(env: tuple[Store, Settings]) -> None:
    store, _ = env
    from tessera.cli.cost import job_costs

    job = store.job(_submit(env, _job()))
    assert job.spec.resources.gpus == 1  # fastest: gpu, 1.0 s at $3600/h -> $1
    assert job_costs(store, [job])[job.id]["forecast_usd"] == pytest.approx(1.0)


def test_reject_refuses_and_stores_nothing(env: tuple[Store, Settings]) -> None:
    store, _ = env
    db.set_budget(store, "p", 0.5, 0.8, "reject")
    with pytest.raises(BudgetError) as e:
        _submit(env, _job())
    assert "To fix:" in e.value.message and "$1.0000" in e.value.message
    assert store.jobs(limit=10) == []
    _submit(env, _job(project="other"))  # other projects are not affected
    assert len(store.jobs(limit=10)) == 1


def test_warn_accepts_with_a_note(env: tuple[Store, Settings]) -> None:
    store, _ = env
    db.set_budget(store, "p", 1.1, 0.5, "reject")
    notes: list[str] = []
    job = store.job(_submit(env, _job(), notes))
    assert job.state is JobState.RUNNABLE and notes and "91%" in notes[0]


def test_downgrade_moves_to_spot_and_the_cheapest_variant(env: tuple[Store, Settings]) -> None:
    store, _ = env
    db.set_budget(store, "p", 0.5, 0.8, "downgrade")
    notes: list[str] = []
    job = store.job(_submit(env, _job(), notes))
    # cpu: 1.5 s x half the machine = $0.75 on demand, $0.075 on spot; gpu: $1 / $0.10
    assert job.spec.tags["capacity"] == "spot" and job.spec.resources.gpus == 0 and job.spec.resources.cpus == 1
    assert job.spec.placement is not None and job.spec.placement.chosen is not None
    assert job.spec.placement.chosen["optimize"] == "cost" and "downgraded" in notes[0]


def test_hold_keeps_the_job_until_released(env: tuple[Store, Settings], home: Path) -> None:
    from tessera.client import Client
    from tessera.cost.hold import release

    store, s = env
    db.set_budget(store, "p", 0.5, 0.8, "hold")
    held = _submit(env, _job())
    second = submit(store, [_job()], detect(s))[0]
    assert store.job(held).state is JobState.PENDING and store.job(held).reason is Reason.BUDGET
    with Client(home=str(home)) as c:
        other = c.submit_spec({"command": ["true"], "project": "free"})
        other.wait(timeout=120)  # the controller ran other work meanwhile
        assert store.job(held).state is JobState.PENDING
        assert release(store, "p") == 2
        assert c._controller is not None
        c._controller.poke()  # what `tessera budget release` does through the daemon's socket
        wait_for(lambda: store.job(held).state is JobState.SUCCEEDED and store.job(second).state is JobState.SUCCEEDED,
                 120, "released jobs to run")
    assert release(store, "p") == 0


def test_budget_input_errors(env: tuple[Store, Settings]) -> None:
    store, _ = env
    for args in ((1.0, 0.8, "explode"), (-1.0, 0.8, "warn"), (1.0, 0.0, "warn")):
        with pytest.raises(SpecError) as e:
            db.set_budget(store, "p", *args)
        assert "To fix:" in e.value.message
    assert db.budgets(store) == {}
