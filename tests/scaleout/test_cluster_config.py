"""``tessera cluster config``: the YAML from the catalog, checked against Ray's schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tessera.cluster.launcher import (
    ClusterPlan,
    InstanceType,
    build,
    catalog,
    schema,
    validate,
)
from tessera.errors import NotFoundError, SpecError
from tests import raycluster

pytestmark = pytest.mark.skipif(not raycluster.HAVE_RAY, reason="ray is not installed")


def test_default_plan_has_head_cpu_gpu_and_spot_types_and_passes_rays_checks() -> None:
    cfg = build(ClusterPlan(), types=catalog())
    validate(cfg)
    types = cfg["available_node_types"]
    assert set(types) == {"head", "cpu", "gpu", "cpu_spot"}
    assert types["head"]["resources"] == {"CPU": 0} and types["head"]["max_workers"] == 0
    assert types["gpu"]["resources"]["GPU"] >= 1
    assert types["cpu_spot"]["node_config"]["InstanceMarketOptions"] == {"MarketType": "spot"}
    assert types["cpu_spot"]["resources"]["tessera-spot"] == 1
    assert types["cpu_spot"]["labels"] == {"tessera.io/capacity": "spot"}
    assert cfg["max_workers"] == 24 and cfg["idle_timeout_minutes"] == 5.0
    assert cfg["provider"] == {"type": "aws", "region": "us-east-1", "cache_stopped_nodes": False}


def test_sizes_come_from_the_catalog() -> None:
    types = {**catalog(), "x.big": InstanceType("x.big", 64, 256.0, 8)}
    cfg = build(ClusterPlan(gpu="x.big", max_gpu_workers=2), types=types)
    assert cfg["available_node_types"]["gpu"]["resources"] == {"CPU": 64, "GPU": 8}
    assert cfg["available_node_types"]["gpu"]["max_workers"] == 2


def test_schema_refuses_what_ray_would_refuse() -> None:
    assert schema()["required"] == ["cluster_name", "provider"]
    cfg = build(ClusterPlan())
    cfg["available_node_types"]["cpu"]["resources"]["CPU"] = 0.5
    with pytest.raises(SpecError, match="cpu/resources/CPU"):
        validate(cfg)
    cfg = build(ClusterPlan())
    del cfg["available_node_types"]["gpu"]["node_config"]
    with pytest.raises(SpecError, match="node_config"):
        validate(cfg)


@pytest.mark.parametrize(("plan", "provider", "error", "match"), [
    (ClusterPlan(), "gcp", SpecError, "provider 'gcp' is not supported"),
    (ClusterPlan(gpu="m6i.large"), "aws", SpecError, "has no GPU"),
    (ClusterPlan(cpu="nope.large"), "aws", NotFoundError, "not in the catalog"),
    (ClusterPlan(max_spot_workers=-1), "aws", SpecError, "max spot workers is -1"),
    (ClusterPlan(idle_timeout_minutes=0), "aws", SpecError, "idle timeout"),
])
def test_bad_plans_are_refused(plan: ClusterPlan, provider: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as e:
        build(plan, provider)
    assert "To fix:" in str(e.value)


def test_cli_writes_a_valid_yaml_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "cluster.yaml"
    env_cmd = [sys.executable, "-m", "tessera.cli.main", "cluster", "config"]
    env = {"TESSERA_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([*env_cmd, "--provider", "aws", "-o", str(out), "--max-gpu-workers", "2"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(out.read_text())
    validate(cfg)
    assert cfg["available_node_types"]["gpu"]["max_workers"] == 2
    bad = subprocess.run([*env_cmd, "--gpu-type", "m6i.large", "-o", str(tmp_path / "bad.yaml")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "To fix:" in bad.stderr
    assert not (tmp_path / "bad.yaml").exists()
