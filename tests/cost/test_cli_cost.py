"""The cost commands as a user runs them: a subprocess, exit codes, `To fix:` lines, real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cost.conftest import PROFILES

TESSERA = str(Path(sys.executable).with_name("tessera"))


@pytest.fixture
def tessera(home: Path) -> Iterator[object]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TESSERA_GPUS": "0",
           "TESSERA_PROFILES": str(PROFILES / "cpu_epyc_2core.json")}

    def run(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([TESSERA, *args], env=env, capture_output=True, text=True, timeout=180)
        if check is not None:
            assert p.returncode == check, f"{args} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    yield run
    run("down", check=None)


def test_placed_job_runs_costs_and_explains(tessera) -> None:  # type: ignore[no-untyped-def]
    jid = tessera("submit", "--kernel", "matmul", "--param", "n=64", "--variant", "cpu:cpus=1",
                  "--variant", "gpu:gpus=1", "--size", "n=64", "--project", "alpha").stdout.strip()
    tessera("wait", jid, "--timeout-s", "150")
    out = tessera("explain", jid).stdout
    assert "Placement: cpu: the only variant with a measured runtime" in out and "not offered here: gpu" in out
    show = json.loads(tessera("show", jid, "--json").stdout)
    assert show["cost_usd"] > 0 and show["spec"]["params"]["device"] == "cpu"
    assert "$" in tessera("ls").stdout.split("COST", 1)[1]
    by_job = json.loads(tessera("cost", "--by", "job", "--json").stdout)
    assert by_job["total"]["usd"] == pytest.approx(show["cost_usd"])
    # a $0 budget refuses the project's next job: exit 2, a `To fix:` line, nothing stored
    tessera("budget", "set", "alpha", "--limit-usd", "0", "--action", "reject")
    bad = tessera("submit", "--project", "alpha", "--", "true", check=2)
    assert "over budget" in bad.stderr and "To fix:" in bad.stderr
    assert len(json.loads(tessera("ls", "--json").stdout)) == 1


def test_bad_input_exits_2_with_a_fix(tessera) -> None:  # type: ignore[no-untyped-def]
    for args in (["submit", "--variant", "gpu:gpus=x", "--", "true"], ["submit", "--size", "n", "--", "true"],
                 ["submit", "--variant", "a", "--optimize", "speed", "--", "true"],
                 ["cost", "--by", "colour"], ["budget", "set", "p", "--limit-usd", "1", "--action", "explode"],
                 ["catalog", "show", "z9.large"], ["cost", "price", "no-such-type"]):
        p = tessera(*args, check=2)
        assert "To fix:" in p.stderr, args
