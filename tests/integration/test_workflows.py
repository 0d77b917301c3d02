"""Workflows end to end on a real controller and real workers: fan-out, fan-in, conditions, resume, commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tests.wf_components  # noqa: F401 - registers the test.* components
from tessera.client import Client
from tessera.workflows import engine
from tessera.workflows.builder import Workflow
from tessera.workflows.spec import from_dict

TIMEOUT = 180


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(embedded=True) as c:
        yield c


def runs(log_dir: Path) -> list[str]:
    path = log_dir / "runs.log"
    return sorted(path.read_text().splitlines()) if path.exists() else []


def submit(client: Client, doc: dict, resume: bool = False) -> engine.Run:
    done = engine.submit(client.store, client.total, from_dict(doc), home=client.settings.home, resume=resume)
    client._poke()
    return engine.Run(client.store, done.id)


def test_fan_out_then_fan_in(client: Client, tmp_path: Path) -> None:
    log = str(tmp_path)
    wf = Workflow("fan")
    src = wf.step("src", "test.source", params={"n": 6, "seed": 4})
    scaled = wf.step("scale", "test.scale", inputs={"x": src.out}, map=[1.0, 2.0, 3.0], map_as="factor",
                     params={"log_dir": log})
    shifted = wf.step("shift", "test.shift", inputs={"x": scaled.out}, params={"by": 10})
    wf.step("stack", "array.stack", inputs={"items": shifted.out})
    wf.step("notes", "json.gather", inputs={"items": [wf.step("n1", "test.note", params={"message": "a"}).out,
                                                       wf.step("n2", "test.note", params={"message": "b"}).out]})
    run = wf.run(client, timeout=TIMEOUT)
    assert run.state == "succeeded", run.states()
    x = np.random.default_rng(4).random(6)
    stacked = run.value("stack")
    np.testing.assert_allclose(stacked, np.stack([x * f + 10 for f in (1.0, 2.0, 3.0)]))
    assert [v.tolist() for v in run.values("shift")] == [(x * f + 10).tolist() for f in (1.0, 2.0, 3.0)]
    assert [n["message"] for n in run.value("notes")] == ["a", "b"]
    assert runs(tmp_path) == ["scale 1.0", "scale 2.0", "scale 3.0"]
    record = run.record
    assert [s.size for s in record.steps if s.step in ("scale", "shift")] == [3, 3]
    shift_job = client.store.job(str(next(s.job_id for s in record.steps if s.step == "shift")))
    assert shift_job.is_array and shift_job.spec.dependencies[0].kind.value == "aftercorr"


def test_a_failure_runs_its_handler_and_skips_what_follows(client: Client, tmp_path: Path) -> None:
    log = str(tmp_path)
    run = submit(client, {"name": "cond", "steps": [
        {"name": "ok", "component": "test.source"},
        {"name": "bad", "component": "test.fail", "retries": 1},
        {"name": "after_bad", "component": "test.scale", "inputs": {"x": "bad.out"}},
        {"name": "on_bad", "component": "test.note", "params": {"message": "bad", "log_dir": log},
         "when": {"failed": ["bad"]}},
        {"name": "on_ok", "component": "test.note", "params": {"message": "ok", "log_dir": log},
         "when": {"failed": ["ok"]}},
        {"name": "always", "component": "test.note", "params": {"message": "always", "log_dir": log},
         "when": {"done": ["bad"]}},
    ]})
    assert run.wait(TIMEOUT) == "failed"
    states = run.states()
    assert states == {"ok": "succeeded", "bad": "failed", "after_bad": "skipped", "on_bad": "succeeded",
                      "on_ok": "skipped", "always": "succeeded"}
    assert runs(tmp_path) == ["note always", "note bad"]
    bad = client.store.job(str(next(s.job_id for s in run.record.steps if s.step == "bad")))
    assert bad.attempts == 2  # retries: 1


def test_resume_skips_finished_steps_and_reruns_failed_elements(client: Client, tmp_path: Path) -> None:
    log = str(tmp_path)

    def doc(bad: int) -> dict:
        return {"name": "resume", "steps": [
            {"name": "src", "component": "test.source", "params": {"log_dir": log}},
            {"name": "sq", "component": "test.square", "map": {"range": 4}, "params": {"log_dir": log}},
            {"name": "shift", "component": "test.shift", "inputs": {"x": "sq.out"}, "params": {"log_dir": log}},
            {"name": "check", "component": "test.fail_at", "map": {"range": 4}, "params": {"bad": bad}},
            {"name": "total", "component": "array.sum", "inputs": {"items": "shift.out"}},
        ]}

    first = submit(client, doc(bad=2))
    assert first.wait(TIMEOUT) == "failed"
    assert first.states()["check"] == "failed" and first.states()["total"] == "succeeded"
    assert len(runs(tmp_path)) == 1 + 4 + 4
    again = submit(client, doc(bad=2), resume=True)
    assert again.wait(TIMEOUT) == "failed"
    check = next(s for s in again.record.steps if s.step == "check")
    job = client.store.job(str(check.job_id))
    assert job.spec.array is not None and job.spec.array.indices == (2,)  # only the failed element ran again
    assert {s.step: s.status for s in again.record.steps}["total"] == "cached"
    assert len(runs(tmp_path)) == 9  # nothing else ran
    changed = submit(client, {**doc(bad=2), "steps": [*doc(bad=2)["steps"][:2],
                                                     {**doc(2)["steps"][2], "params": {"log_dir": log, "by": 5}},
                                                     *doc(2)["steps"][3:]]}, resume=True)
    changed.wait(TIMEOUT)
    assert {s.step: s.status for s in changed.record.steps}["shift"] == "submitted"
    assert runs(tmp_path).count("shift 0") == 2 and runs(tmp_path).count("square 0") == 1
    np.testing.assert_array_equal(changed.value("total"), np.array([0 + 1 + 4 + 9 + 20]))


def test_files_travel_by_reference(client: Client) -> None:
    run = submit(client, {"name": "files", "steps": [
        {"name": "src", "component": "test.source", "params": {"n": 3, "seed": 1}},
        {"name": "desc", "component": "test.describe", "inputs": {"x": "src.out"}},
        {"name": "read", "component": "test.read_text", "inputs": {"doc": "desc.text"}},
    ]})
    assert run.wait(TIMEOUT) == "succeeded", run.states()
    x = np.random.default_rng(1).random(3)
    assert run.value("read") == f"3 values, sum {x.sum():.6f}\n"
    assert run.value("desc", "stats") == {"size": 3, "sum": pytest.approx(float(x.sum()))}
    assert run.refs("desc", "text")[0].type == "file"


def _fake_docker(tmp_path: Path) -> Path:
    """A docker look-alike that runs the command itself (no engine exists on the test machines)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "docker"
    script.write_text(f"""#!{sys.executable}
import os, sys
args = sys.argv[1:]
if args[0] == "version":
    print("fake-1.0")
    sys.exit(0)
assert args[0] == "run", args
i, workdir = 1, None
while args[i].startswith("-"):
    if args[i] == "--rm":
        i += 1
        continue
    if args[i] == "-w":
        workdir = args[i + 1]
    i += 2
with open(os.path.join({str(tmp_path)!r}, "images.log"), "a") as f:
    f.write(args[i] + "\\n")
os.chdir(workdir)
os.execvp(args[i + 1], args[i + 1:])
""")
    script.chmod(0o755)
    return bindir


def test_command_and_container_components(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = _fake_docker(tmp_path)
    env = {"PATH": f"{bindir}:{Path(sys.executable).parent}:/usr/bin:/bin", "TESSERA_CONTAINER_ENGINE": "docker"}
    for key, value in env.items():  # for the check at submission; the step's env reaches its worker
        monkeypatch.setenv(key, value)
    code = ("import sys, numpy as np; x = np.load(sys.argv[1]); "
            "np.save(sys.argv[2], x * float(sys.argv[3]))")
    scale = {"argv": [sys.executable, "-c", code, "{inputs.x}", "{outputs.y}", "{params.k}"],
             "inputs": {"x": "array"}, "outputs": {"y": "array"}, "params": {"k": {"type": "number", "default": 2}}}
    wc = {"argv": ["sh", "-c", 'ls "$0" | wc -l > "$1"', "{inputs.parts}", "{outputs.n}"],
          "image": "alpine:3", "inputs": {"parts": "list[array]"}, "outputs": {"n": "json"}}
    run = submit(client, {"name": "cmds", "components": {"lab.scale": scale, "lab.count": wc}, "steps": [
        {"name": "src", "component": "test.source", "params": {"n": 4, "seed": 2}},
        {"name": "scale", "component": "lab.scale", "inputs": {"x": "src.out"}, "map": {"over": [2, 3], "as": "k"}},
        {"name": "count", "component": "lab.count", "inputs": {"parts": "scale.y"}, "env": env},
    ]})
    assert run.wait(TIMEOUT) == "succeeded", run.states()
    x = np.random.default_rng(2).random(4)
    np.testing.assert_allclose(np.stack(run.values("scale")), np.stack([x * 2, x * 3]))
    assert run.value("count") == 2
    assert (tmp_path / "images.log").read_text() == "alpine:3\n"


def test_a_failing_command_fails_its_step(client: Client) -> None:
    run = submit(client, {"name": "cmdfail", "components": {
        "lab.false": {"argv": ["sh", "-c", "echo nope >&2; exit 3; echo {outputs.o}"], "outputs": {"o": "file"}}},
        "steps": [{"name": "f", "component": "lab.false"}]})
    assert run.wait(TIMEOUT) == "failed"


def test_cancel_a_workflow(client: Client) -> None:
    run = submit(client, {"name": "slow", "steps": [
        {"name": "wait", "component": "test.slow", "params": {"seconds": 120}},
        {"name": "next", "component": "test.scale", "inputs": {"x": "wait.out"}},
    ]})
    assert run.cancel() == 2
    client._poke()
    assert run.wait(TIMEOUT) == "cancelled"


def test_a_python_function_from_a_script(client: Client) -> None:
    def triple(x: np.ndarray) -> np.ndarray:  # defined inside a function: travels pickled
        return x * 3

    wf = Workflow("local")
    src = wf.step("src", "test.source", params={"n": 2})
    wf.step("triple", triple, inputs={"x": src.out})
    run = wf.run(client, timeout=TIMEOUT)
    assert run.state == "succeeded", run.states()
    np.testing.assert_allclose(run.value("triple"), np.random.default_rng(0).random(2) * 3)


def test_file_names_and_extensions_survive(client: Client, tmp_path: Path) -> None:
    write = {"argv": ["sh", "-c", 'echo "$1" > "$0.txt"', "{outputs.doc}", "{params.text}"],
             "outputs": {"doc": "file"}, "params": {"text": {"type": "string"}}}
    check = {"argv": ["sh", "-c", 'case "$0" in *.txt) cp "$0" "$1";; *) exit 9;; esac', "{inputs.doc}",
                      "{outputs.copy}"], "inputs": {"doc": "file"}, "outputs": {"copy": "file"}}
    run = submit(client, {"name": "names", "components": {"lab.write": write, "lab.check": check}, "steps": [
        {"name": "write", "component": "lab.write", "params": {"text": "hello"}},
        {"name": "check", "component": "lab.check", "inputs": {"doc": "write.doc"}},
        {"name": "read", "component": "test.read_text", "inputs": {"doc": "check.copy"}},
    ]})
    assert run.wait(TIMEOUT) == "succeeded", run.states()
    assert run.value("read") == "hello\n"
    ref = run.refs("write", "doc")[0]
    assert ref.name == "doc.txt" and ref.suffix == ".txt"
    assert [sorted(o) for o in run.outputs("write")] == [["doc"]]


def test_kernel_steps_and_variants(client: Client) -> None:
    run = submit(client, {"name": "kern", "steps": [
        {"name": "plain", "component": "kernel.matmul", "params": {"n": 48, "repeat": 1}},
        {"name": "placed", "component": "kernel.matmul", "params": {"n": 48, "repeat": 1},
         "variants": [{"name": "small", "cpus": 1}, {"name": "wide", "cpus": 2}]},
        {"name": "figures", "component": "json.gather", "inputs": {"items": ["plain.result", "placed.result"]}},
    ]})
    assert run.wait(TIMEOUT) == "succeeded", run.states()
    plain, placed = run.value("figures")
    assert plain["kernel"] == "matmul" and plain["ok"] is True and plain["device"] == "cpu"
    assert placed["ok"] is True and placed["params"]["n"] == 48
    job = client.store.job(str(next(s.job_id for s in run.record.steps if s.step == "placed")))
    assert job.spec.placement is not None and job.spec.placement.chosen is not None
    assert job.spec.env["TESSERA_VARIANT"] == job.spec.placement.chosen["variant"]
