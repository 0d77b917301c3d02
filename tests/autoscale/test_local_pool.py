"""The autoscaler on the local executor: a real controller scales its warm-worker pool, and
``tessera autoscale status`` explains the decision of a running controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.autoscale.policy import AutoscaleConfig
from tessera.client import Client
from tests.conftest import wait_for


def _cpu_workers(c: Client) -> int:
    assert c._controller is not None
    ex = c._controller.executor
    return sum(1 for w in ex._workers if not w.key and w.proc.poll() is None)  # type: ignore[attr-defined]


def test_pool_scales_in_when_idle_and_out_when_the_queue_is_deep(home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HEARTBEAT_S", "0.2")
    AutoscaleConfig(scale_out_queue_depth=3, scale_in_after_s=0.5, min_workers=1, max_workers=2).save(home)
    with Client(home=str(home), cpus=2, workers=2) as c:
        assert c._controller is not None
        wait_for(lambda: (c._controller.extra_status.get("autoscale") or {}).get("action") == "scale_in",
                 60, "a scale-in decision on an idle controller")
        wait_for(lambda: _cpu_workers(c) == 1, 60, "the pool to shrink to min_workers")
        d = c._controller.extra_status["autoscale"]
        assert d["reasons"][0].startswith("utilisation 0% is under 20% for")
        assert d["applied"] in ("local pool 2 -> 1 warm workers", "local pool stays at 1 warm workers")
        # eight one-CPU jobs on two CPUs: six wait, more than the depth of 3
        handles = [c.submit_spec({"command": ["sleep", "1"]}) for _ in range(8)]
        wait_for(lambda: (c._controller.extra_status.get("autoscale") or {}).get("action") == "scale_out",
                 60, "a scale-out decision")
        d = c._controller.extra_status["autoscale"]
        assert d["workers"] == 2 and "more than the scale-out depth of 3" in d["reasons"][0]
        wait_for(lambda: _cpu_workers(c) == 2, 60, "the pool to grow back to max_workers")
        assert all(h.wait(120).state.value == "succeeded" for h in handles)


def test_autoscale_cli_enable_status_and_bad_input(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_HEARTBEAT_S", "0.2")
    env = dict(os.environ)

    def tessera(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tessera.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    off = tessera("autoscale", "status")
    assert off.returncode == 0 and "autoscaling is off" in off.stdout
    bad = tessera("autoscale", "enable", "--min-workers", "3", "--max-workers", "1")
    assert bad.returncode == 2 and "To fix:" in bad.stderr and not (home / "autoscale.yaml").exists()
    assert tessera("autoscale", "enable", "--queue-depth", "4", "--idle-minutes", "0.01").returncode == 0
    assert tessera("up").returncode == 0
    try:
        def decided() -> dict[str, object] | None:
            got = json.loads(tessera("autoscale", "status", "--json").stdout)
            return got if got.get("decision") else None

        info = wait_for(decided, 60, "the controller's first decision")
        assert isinstance(info, dict) and info["config"]["scale_out_queue_depth"] == 4
        text = tessera("autoscale", "status").stdout
        assert "scale out when more than 4 jobs wait" in text and "because utilisation 0% is under 20%" in text
    finally:
        assert tessera("down", "--timeout-s", "110").returncode == 0  # a loaded machine stops slowly
