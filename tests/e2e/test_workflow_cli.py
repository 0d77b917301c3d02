"""``tessera run WORKFLOW.yaml``, ``tessera workflow`` and ``tessera components`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import Run, tessera  # noqa: F401 - the fixture

WORKFLOW = """\
name: squares
imports: [tests.wf_components]
steps:
  - name: sq
    component: test.square
    map: {range: 5}
  - name: total
    component: array.sum
    inputs: {items: sq.out}
  - name: on_fail
    component: test.note
    params: {message: total failed}
    when: {failed: [total]}
"""


def test_run_a_workflow_then_resume(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "squares.yaml"
    path.write_text(WORKFLOW)
    first = tessera("run", str(path), "--timeout-s", "180")
    assert "workflow 1" in first.stdout and "succeeded" in first.stdout
    shown = json.loads(tessera("workflow", "show", "1", "--json").stdout)
    assert shown["state"] == "succeeded"
    assert {s["step"]: s["state"] for s in shown["steps"]} == {"sq": "succeeded", "total": "succeeded",
                                                               "on_fail": "skipped"}
    again = tessera("run", str(path), "--resume", "--timeout-s", "180")
    assert "2 step(s) cached" in again.stderr
    resumed = json.loads(tessera("workflow", "show", "squares", "--json").stdout)
    assert resumed["id"] == 2 and [s["state"] for s in resumed["steps"]] == ["cached", "cached", "skipped"]
    listed = json.loads(tessera("workflow", "ls", "--json").stdout)
    assert [w["id"] for w in listed] == [2, 1]
    outs = json.loads(tessera("workflow", "outputs", "1", "sq", "--json").stdout)
    assert [(o["index"], o["output"], o["type"]) for o in outs] == [(i, "out", "array") for i in range(5)]
    assert Path(outs[3]["where"]).is_file()
    copied = tessera("workflow", "outputs", "1", "total", "--copy-to", str(tmp_path / "got")).stdout
    assert "total[0].out (array" in copied
    import numpy as np

    assert np.load(tmp_path / "got" / "total-out-0.npy").tolist() == [0 + 1 + 4 + 9 + 16]
    jobs = json.loads(tessera("ls", "--json").stdout)
    assert {j["name"] for j in jobs} == {"squares.sq", "squares.total", "squares.on_fail"}  # resume submitted none


def test_bad_workflows_exit_2_and_store_nothing(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    cases = {
        "cycle.yaml": "name: c\nsteps:\n  - {name: a, component: test.scale, inputs: {x: b.out}}\n"
                      "  - {name: b, component: test.scale, inputs: {x: a.out}}\nimports: [tests.wf_components]\n",
        "types.yaml": "name: t\nimports: [tests.wf_components]\nsteps:\n  - {name: a, component: test.source}\n"
                      "  - {name: b, component: array.sum, inputs: {items: a.out}}\n",
        "unknown.yaml": "name: u\nsteps:\n  - {name: a, component: no.such}\n",
        "image.yaml": "name: i\ncomponents:\n  lab.hello: {argv: [echo, hi], image: 'alpine:3'}\n"
                      "steps:\n  - {name: a, component: lab.hello}\n",
    }
    words = {"cycle.yaml": "cycle", "types.yaml": "is list[array], but a.out gives array",
             "unknown.yaml": "unknown component", "image.yaml": "container"}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        p = tessera("run", str(path), check=2)
        assert words[name] in p.stderr and "To fix:" in p.stderr, p.stderr
    assert json.loads(tessera("workflow", "ls", "--json").stdout) == []
    assert json.loads(tessera("ls", "--json").stdout) == []
    assert "To fix:" in tessera("workflow", "show", "7", check=2).stderr
    jobfile = tmp_path / "jobs.yaml"
    jobfile.write_text("jobs:\n  - {name: a, command: [true]}\n")
    assert "--resume applies to workflows" in tessera("run", str(jobfile), "--resume", check=2).stderr


def test_check_a_workflow_without_running_it(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "squares.yaml"
    path.write_text(WORKFLOW)
    out = tessera("workflow", "check", str(path)).stdout
    assert "sq x5: test.square" in out and "items <- sq.out (gather); after afterok:squares.sq" in out
    assert "after afternotok:squares.total" in out and "3 steps, valid" in out
    checked = json.loads(tessera("workflow", "check", str(path), "--json").stdout)
    assert [len(s["keys"]) for s in checked] == [5, 1, 1]
    assert json.loads(tessera("ls", "--json").stdout) == []  # nothing was submitted
    path.write_text(WORKFLOW.replace("sq.out", "sq.nope"))
    assert "has no output 'nope'" in tessera("workflow", "check", str(path), check=2).stderr


def test_components_ls_and_show(tessera: Run) -> None:  # noqa: F811
    listed = json.loads(tessera("components", "ls", "--json").stdout)
    names = {c["name"] for c in listed}
    assert {"kernel.matmul", "array.sum", "json.gather"} <= names
    shown = json.loads(tessera("components", "show", "array.sum", "--json").stdout)
    assert shown["inputs"][0]["type"] == "list[array]" and shown["outputs"][0]["type"] == "array"
    assert "items: list[array]" in tessera("components", "show", "array.sum").stdout
    assert "To fix:" in tessera("components", "show", "no.such", check=2).stderr


def test_cancel_a_running_workflow(tessera: Run, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "slow.yaml"
    path.write_text("name: slow\nimports: [tests.wf_components]\nsteps:\n"
                    "  - {name: s, component: test.slow, params: {seconds: 120}}\n")
    assert tessera("run", str(path), "--no-wait").stdout.strip() == "1"
    assert "cancel requested for 1 job(s)" in tessera("workflow", "cancel", "slow").stdout
    tessera("wait", "1", "--timeout-s", "120", check=1)
    assert json.loads(tessera("workflow", "show", "1", "--json").stdout)["state"] == "cancelled"
