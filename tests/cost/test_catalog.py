"""The instance catalog, `tessera hw` and `tessera catalog`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.bench.hardware import hardware_fingerprint
from tessera.cost import catalog as cat
from tessera.errors import NotFoundError, SpecError
from tests.cost.conftest import cost_cli

FAMILIES = {"c5", "m5", "r5", "g4dn", "g5", "p3", "p4d", "p5", "inf2", "trn1"}


def test_packaged_catalog_covers_the_seed_families_with_date_and_source() -> None:
    c = cat.load(None)
    assert c.recorded and "aws" in c.source.lower()
    assert {i.family for i in c.instances.values()} >= FAMILIES
    for i in c.instances.values():
        p = i.price("us-east-1")
        assert p.on_demand > 0 and 0 < p.spot_rate < p.on_demand
        assert (i.gpus > 0) == (i.gpu_model is not None)
    assert c.find("g5.8xlarge").gpu_model == "NVIDIA A10G"
    assert c.find("r5.4xlarge").rate() == pytest.approx(1.008)


def test_cheapest_covering_and_errors() -> None:
    c = cat.load(None)
    assert c.cheapest_covering(2, 4096, 0).type in {"c5.large", "c6i.large", "c7i.large"}
    assert c.cheapest_covering(4, 8192, 1).type == "g4dn.xlarge"
    with pytest.raises(NotFoundError, match="r5.4xlarge"):
        c.find("r5.3xlarge")
    with pytest.raises(NotFoundError) as e:
        c.find("g5.8xlarge").price("mars-1")
    assert "To fix:" in e.value.message
    with pytest.raises(SpecError, match="malformed"):
        cat.parse({"recorded": "x", "source": "y", "instances": [{"type": "a"}]})


def test_refreshed_catalog_in_home_takes_precedence(tmp_path: Path) -> None:
    doc = cat.load(None).as_dict()
    doc["recorded"] = "2030-01-01"
    (tmp_path / "catalog.json").write_text(json.dumps(doc))
    assert cat.load(tmp_path).recorded == "2030-01-01"


def test_hw_and_catalog_cli(home: Path) -> None:
    r = CliRunner()
    app = cost_cli()
    out = r.invoke(app, ["hw", "--json"])
    assert out.exit_code == 0, out.output
    inv = json.loads(out.output)
    assert inv["logical_cpus"] >= 1 and inv["memory_mb"] > 0 and inv["fingerprint"] == hardware_fingerprint()
    assert "fingerprint" in r.invoke(app, ["hw"]).output
    ls = json.loads(r.invoke(app, ["catalog", "ls", "--json", "--family", "p5"]).output)
    assert [i["type"] for i in ls["instances"]] == ["p5.48xlarge"] and ls["recorded"]
    show = json.loads(r.invoke(app, ["catalog", "show", "trn1.2xlarge", "--json"]).output)
    assert show["gpus"] == 1 and show["regions"]["us-east-1"]["on_demand"] > 0
    bad = r.invoke(app, ["catalog", "show", "zz.large"])
    assert bad.exit_code != 0
