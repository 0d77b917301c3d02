"""The ``tessera`` command as a user runs it: a subprocess with its own TESSERA_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for

TESSERA = str(Path(sys.executable).with_name("tessera"))
PY = sys.executable

Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(**extra_env: str) -> Run:
    """The CLI as a subprocess in this environment plus ``extra_env``; ``check`` is the expected exit code."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **extra_env}

    def run(*args: str, check: int | None = 0, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [TESSERA, *args] if os.path.exists(TESSERA) else [PY, "-m", "tessera.cli.main", *args]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert p.returncode == check, f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p

    return run


@pytest.fixture
def tessera(home: Path) -> Iterator[Run]:
    run = runner()
    yield run
    from tessera.config import Settings
    from tessera.controller import daemon

    if daemon.running_pid(Settings.load()) is not None:  # no controller may outlive a test
        run("down", check=None)
    assert daemon.running_pid(Settings.load()) is None


@pytest.mark.parametrize("args, says", [
    (("submit", "--bogus", "--", "true"), "No such option: --bogus"),
    (("down", "--timeout-s", "0"), "Invalid value for '--timeout-s'"),
    (("server", "--workers", "0"), "Invalid value for '--workers'"),
    (("show",), "Missing argument"),
])
def test_usage_errors_are_messages_not_tracebacks(tessera: Run, args: tuple[str, ...], says: str) -> None:
    p = tessera(*args, check=2)
    assert says in p.stderr and "--help" in p.stderr and "Traceback" not in p.stderr + p.stdout
    assert tessera("ls", "--json").stdout.strip() == "[]"  # nothing stored


def ls_ids(tessera: Run) -> list[str]:
    return [j["id"] for j in json.loads(tessera("ls", "--json").stdout)]


def test_submit_wait_show_logs(tessera: Run) -> None:
    out = tessera("submit", "--", "sh", "-c", "echo hello; echo oops >&2").stdout.strip()
    assert out.isdigit()
    assert tessera("wait", out, "--timeout-s", "60").stdout.strip().startswith(f"{out} succeeded")
    assert tessera("logs", out).stdout == "hello\n"
    assert tessera("logs", out, "--stderr").stdout == "oops\n"
    shown = json.loads(tessera("show", out, "--json").stdout)
    assert shown["id"] == out and shown["state"] == "succeeded" and shown["attempts"]
    assert len(shown["attempts"]) == 1
    assert [e["dst"] for e in shown["events"]] == ["submitted", "pending", "runnable", "starting", "running", "succeeded"]
    assert "succeeded" in tessera("show", out).stdout
    assert tessera("explain", out).stdout.strip()


def test_submit_json(tessera: Run) -> None:
    got = json.loads(tessera("submit", "--json", "--name", "j1", "--", "true").stdout)
    assert set(got) >= {"id"} and got["id"].isdigit()
    tessera("wait", got["id"], "--timeout-s", "60")
    listed = json.loads(tessera("ls", "--json").stdout)
    assert [(j["id"], j["name"], j["state"]) for j in listed] == [(got["id"], "j1", "succeeded")]


def test_failed_job_wait_exits_1(tessera: Run) -> None:
    jid = tessera("submit", "--", "sh", "-c", "exit 4").stdout.strip()
    p = tessera("wait", jid, "--timeout-s", "60", check=1)
    assert "failed" in p.stdout
    assert "exit" in tessera("explain", jid).stdout.lower()


def test_function_and_array(tessera: Run) -> None:
    fn = tessera("submit", "--json", "--function", "tests.fixtures:square", "--args", "[9]").stdout
    arr = tessera("submit", "--json", "--array", "0-5%2", "--", "sh", "-c", "echo $TESSERA_ARRAY_INDEX").stdout
    ids = [json.loads(fn)["id"], json.loads(arr)["id"]]
    tessera("wait", *ids, "--timeout-s", "120")
    shown = json.loads(tessera("show", ids[1], "--json").stdout)
    assert shown["is_array"] and shown["elements"] == {"succeeded": 6}
    assert tessera("logs", f"{ids[1]}_4").stdout == "4\n"
    assert len(json.loads(tessera("ls", "--json", "--elements").stdout)) == 2 + 6


JOBFILE_OK = """\
defaults: {project: demo}
jobs:
  - name: prepare
    command: [sh, -c, "echo ready"]
  - name: simulate
    command: [sh, -c, "echo $TESSERA_ARRAY_INDEX"]
    array: 0-3%2
    dependency: afterok:prepare
  - name: report
    command: ["true"]
    dependency: afterany:simulate
"""


def test_run_file_all_succeed(tessera: Run, tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(JOBFILE_OK)
    p = tessera("run", str(f), "--timeout-s", "120")
    assert "summary" in p.stdout and "prepare" in p.stdout and "simulate" in p.stdout
    jobs = json.loads(tessera("ls", "--json").stdout)
    assert {j["name"]: j["state"] for j in jobs} == {"prepare": "succeeded", "simulate": "succeeded",
                                                     "report": "succeeded"}


def test_run_file_with_a_failure_exits_1(tessera: Run, tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("jobs:\n  - {name: a, command: [\"false\"]}\n  - {name: b, command: [\"true\"], dependency: 'afterok:a'}\n"
                 "  - {name: c, command: [\"true\"]}\n")
    tessera("run", str(f), "--timeout-s", "120", check=1)
    states = {j["name"]: (j["state"], j["reason"]) for j in json.loads(tessera("ls", "--json").stdout)}
    assert states == {"a": ("failed", "exit_code"), "b": ("cancelled", "dependency_never_satisfied"),
                      "c": ("succeeded", None)}
    assert "dependency" in tessera("explain", next(j["id"] for j in json.loads(tessera("ls", "--json").stdout)
                                                   if j["name"] == "b")).stdout


def test_cancel(tessera: Run) -> None:
    jid = tessera("submit", "--", "sleep", "300").stdout.strip()
    wait_for(lambda: json.loads(tessera("show", jid, "--json").stdout)["state"] == "running", 60, "the job to run")
    assert "cancel requested for 1" in tessera("cancel", jid).stdout
    tessera("wait", jid, "--timeout-s", "60", check=1)
    assert json.loads(tessera("show", jid, "--json").stdout)["state"] == "cancelled"


def test_status_up_down(tessera: Run) -> None:
    p = tessera("up")
    assert "controller running" in p.stdout
    st = json.loads(tessera("status", "--json").stdout)
    assert st["running"] and isinstance(st["pid"], int) and st["pid"] > 0
    ex = st["executors"][0]
    assert ex["name"] == "local" and {"free", "total"} <= set(ex)
    assert ex["total"]["cpus"] > 0 and ex["free"]["cpus"] <= ex["total"]["cpus"]
    assert "stopped" in tessera("down").stdout
    st = json.loads(tessera("status", "--json").stdout)
    assert not st["running"] and st["pid"] is None and st["executors"][0]["total"]["cpus"] > 0
    assert "no controller" in tessera("down").stdout


BAD_SUBMITS = {
    "negative cpus": ["--cpus", "-1", "--", "true"],
    "bad array": ["--array", "0-", "--", "true"],
    "unknown dependency kind": ["--dependency", "afterlunch:1", "--", "true"],
    "dependency on a missing job": ["--dependency", "afterok:424242", "--", "true"],
    "too many gpus": ["--gpus", "3", "--", "true"],
    "name with a newline": ["--name", "a\nb", "--", "true"],
    "name with quotes": ["--name", "x'\"", "--", "true"],
    "no command": [],
    "bad env": ["--env", "NOEQUALS", "--", "true"],
    "bad args json": ["--function", "tests.fixtures:square", "--args", "[1,"],
    "unknown queue": ["--queue", "nosuch", "--", "true"],
}


@pytest.mark.parametrize("args", list(BAD_SUBMITS.values()), ids=list(BAD_SUBMITS))
def test_bad_submit_exits_2_and_stores_nothing(tessera: Run, args: list[str]) -> None:
    p = tessera("submit", *args, check=2)
    assert "To fix:" in p.stderr
    assert "Traceback" not in p.stderr
    assert ls_ids(tessera) == []


@pytest.mark.parametrize(
    "text",
    ["jobs:\n  - {name: a, command: 'echo hi'}\n",
     "jobs:\n  - {name: a, command: [x], dependency: 'afterok:b'}\n  - {name: b, command: [x], dependency: 'afterok:a'}\n",
     "jobs:\n  - {name: a, command: [x], dependency: 'afterok:ghost'}\n",
     "jobs:\n  - {name: a, command: [x], colour: blue}\n",
     "jobs: [\n"],
    ids=["string command", "cycle", "unknown name", "unknown field", "bad yaml"],
)
def test_bad_job_file_exits_2_and_stores_nothing(tessera: Run, tmp_path: Path, text: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    p = tessera("run", str(f), check=2)
    assert "To fix:" in p.stderr and "Traceback" not in p.stderr
    assert ls_ids(tessera) == []


def test_unknown_job_exits_2(tessera: Run) -> None:
    for cmd in (["show", "999"], ["logs", "999"], ["cancel", "999"], ["explain", "nonsense"], ["wait", "7_7"]):
        p = tessera(*cmd, check=2)
        assert "To fix:" in p.stderr
