"""Domain components as workflow steps: the examples plan, and small surveys run end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tessera.client import Client
from tessera.domains import components as C
from tessera.domains import finance
from tessera.errors import SpecError
from tessera.workflows import engine, registry, spec
from tessera.workflows.builder import Workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 300


@pytest.mark.parametrize("name", ["seismic_survey", "monte_carlo_risk", "seed_benchmark"])
def test_examples_plan_against_the_registry(name: str) -> None:
    plan = engine.prepare(spec.load(EXAMPLES / f"{name}.yaml"))
    assert plan.steps


def test_domain_components_are_registered_with_schemas() -> None:
    names = set(registry.names())
    assert {"seismic.model", "seismic.shot", "seismic.rtm", "seismic.stack", "seismic.plot",
            "finance.losses", "finance.risk", "finance.option", "reservoir.simulate",
            "kernel.wave", "kernel.mc_option"} <= names  # fmt: skip
    rtm = registry.get("seismic.rtm").describe()
    assert [p["name"] for p in rtm["inputs"]] == ["migration", "data", "geometry"]
    assert {p["name"] for p in rtm["outputs"]} == {"image", "illumination", "stats"}


def test_shot_positions_spread_evenly_and_refuse_bad_indices() -> None:
    assert [C.source_position(i, 4, 100) for i in range(4)] == [12, 38, 62, 88]
    with pytest.raises(SpecError, match="To fix:"):
        C.source_position(4, 4, 100)


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(embedded=True) as c:
        yield c


def test_a_small_survey_runs_as_a_workflow_and_matches_direct_calls(client: Client) -> None:
    shots, params = 3, {"nz": 40, "nx": 60, "dx": 10.0, "duration_s": 0.45, "f0": 20.0}
    wf = Workflow("survey")
    wf.step("model", "seismic.model", params=params)
    wf.step(
        "shots",
        "seismic.shot",
        params={"shots": shots},
        map=range(shots),
        map_as="shot",
        inputs={"velocity": "model.velocity", "geometry": "model.geometry"},
    )
    wf.step(
        "migrate",
        "seismic.rtm",
        params={"shots": shots},
        map=range(shots),
        map_as="shot",
        inputs={"migration": "model.migration", "data": "shots.data", "geometry": "model.geometry"},
    )
    wf.step(
        "stack",
        "seismic.stack",
        params={"mute": 4},
        inputs={"images": "migrate.image", "illuminations": "migrate.illumination"},
    )
    wf.step("plot", "seismic.plot", inputs={"image": "stack.image", "velocity": "model.velocity"})  # fmt: skip
    run = wf.run(client, timeout=TIMEOUT)
    assert run.state == "succeeded", run.states()

    m = C.model(**params)
    direct = []
    for i in range(shots):
        data = C.shot(m["velocity"], m["geometry"], shot=i, shots=shots)
        direct.append(C.rtm(m["migration"], data, m["geometry"], shot=i, shots=shots))
    expected = C.stack([d["image"] for d in direct], [d["illumination"] for d in direct], mute=4)
    np.testing.assert_allclose(
        run.value("stack"), expected, rtol=0, atol=1e-6 * np.abs(expected).max()
    )
    assert np.abs(expected).max() > 0
    stats = run.values("migrate", "stats")
    assert [s["shot"] for s in stats] == [0, 1, 2]
    assert all(s["bytes"] == 16 * s["cells"] * s["steps"] and s["gbps"] > 0 for s in stats)
    png = Path(run.value("plot"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_monte_carlo_risk_fans_out_and_pools(client: Client) -> None:
    book = {"positions": [1e6, -4e5], "mu": [0.05, 0.02], "cov": [[0.04, 0.01], [0.01, 0.09]]}
    wf = Workflow("risk")
    wf.step(
        "scenarios", "finance.losses", params={**book, "paths": 20_000}, map=range(3), map_as="seed"
    )
    wf.step(
        "risk",
        "finance.risk",
        params={**book, "confidence": 0.95},
        inputs={"losses": "scenarios.losses"},
    )
    run = wf.run(client, timeout=TIMEOUT)
    assert run.state == "succeeded", run.states()
    got = run.value("risk")
    pooled = [finance.simulate_losses(book["positions"], book["mu"], book["cov"], paths=20_000, seed=s)
              for s in range(3)]  # fmt: skip
    want = finance.risk_of(pooled, 0.95)
    assert got["paths"] == 60_000 and got["var"] == pytest.approx(want.var, rel=1e-12)
    assert abs(got["var"] - got["normal_var"]) < 0.1 * got["normal_var"]  # lognormal vs normal
