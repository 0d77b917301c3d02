"""``tessera up --spot-slots``: bad options refused with exit 2, a real preemption shown by ``show``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import wait_for
from tests.e2e.test_cli import Run
from tests.e2e.test_cli import tessera as tessera  # noqa: F401 - the fixture


def test_bad_spot_options_exit_2(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    for args, words in ((["--spot-slots", "1", "--preemption-rate", "fast"], "not a rate"),
                        (["--spot-slots", "9999"], "outside"),
                        (["--preemption-rate", "1/h"], "need spot slots"),
                        (["--spot-slots", "1", "--preemption-trace", str(tmp_path / "none")], "cannot read")):
        p = tessera("up", *args, check=2)
        assert words in p.stderr and "To fix" in p.stderr


def test_up_with_spot_slots_preempts_and_show_reports_it(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    trace = tmp_path / "trace"
    trace.write_text("".join(f"{t}\n" for t in range(2, 40, 2)))  # from the controller's start; cap 3
    tessera("up", "--spot-slots", "1", "--preemption-trace", str(trace), "--notice-s", "0.2")
    p = tessera("up", "--spot-slots", "1", check=2)  # already running: its spot settings are fixed
    assert "tessera down" in p.stderr
    out = tmp_path / "out.json"
    p = tessera("submit", "--json", "--", sys.executable, "-m", "tests.chaos.jobs", "60", "0.05", "0.2", str(out))
    jid = json.loads(p.stdout)["id"]
    tessera("wait", str(jid), timeout=180)
    shown = tessera("show", str(jid)).stdout
    assert "preempted" in shown and "attempts on spot," in shown, shown
    assert "lost" in shown and "saved $" in shown
    report = json.loads(tessera("spot", "report", "--json").stdout)
    assert 1 <= report["preemptions"] <= 3 and report["usd"] < report["on_demand_usd"]
    assert "preempted" in tessera("cost").stdout  # the cost report carries the spot totals
    assert json.loads(tessera("cost", "--json").stdout)["spot"]["preemptions"] == report["preemptions"]
    assert json.loads(out.read_text())["starts"][1][1] > 0


def test_show_prints_the_progress_of_a_running_job(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    marker = str(tmp_path / "m")
    p = tessera("submit", "--json", "--function", "tests.chaos.jobs:steps", "--args", json.dumps([400, 0.05, marker]))
    jid = json.loads(p.stdout)["id"]
    wait_for(lambda: Path(f"{marker}.1").exists() and int(Path(f"{marker}.1").read_text() or 0) >= 3, 60,
             "the job to make progress")
    shown = tessera("show", str(jid)).stdout
    assert "progress" in shown and "%" in shown, shown
    tessera("cancel", str(jid))
