"""``tessera up --executor ray --ray-address ADDR``: the background controller drives the session's
Ray cluster; jobs submitted from the command line run there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _tessera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli.main", *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=180)


def test_up_with_the_ray_executor(ray_cluster: Any, home: Path) -> None:
    bad = _tessera("up", "--ray-address", ray_cluster.address)
    assert bad.returncode == 2 and "--executor ray" in bad.stderr
    assert _tessera("up", "--executor", "nope").returncode == 2
    up = _tessera("up", "--executor", "ray", "--ray-address", ray_cluster.address)
    assert up.returncode == 0, up.stderr
    try:
        again = _tessera("up", "--executor", "local")
        assert again.returncode != 0 and "tessera down" in again.stderr
        sub = _tessera("submit", "--json", "--", "sh", "-c", "echo on-ray")
        assert sub.returncode == 0, sub.stderr
        job = json.loads(sub.stdout)["id"]
        assert _tessera("wait", job, "--timeout-s", "120").returncode == 0
        assert _tessera("logs", job).stdout == "on-ray\n"
        # this machine has no GPU: the job is accepted because the running controller's cluster has two
        gpu = _tessera("submit", "--json", "--gpus", "1", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
        assert gpu.returncode == 0, gpu.stderr
        gid = json.loads(gpu.stdout)["id"]
        assert _tessera("wait", gid, "--timeout-s", "120").returncode == 0
        assert _tessera("logs", gid).stdout.strip() in ("0", "1")
        status = json.loads(_tessera("status", "--json").stdout)
        assert [e["name"] for e in status["executors"]] == ["ray"]
        assert status["executors"][0]["total"]["gpus"] == 2  # the cluster's logical GPUs
    finally:
        assert _tessera("down").returncode == 0
