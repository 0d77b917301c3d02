"""The ``tessera`` command (Typer + Rich). Exit codes: 0 success, 1 a job failed, 2 bad input, 3 system."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from tessera.cli import render
from tessera.config import Settings
from tessera.controller import daemon, notices
from tessera.errors import NotFoundError, SpecError, TesseraError, WaitTimeoutError
from tessera.executors.hardware import detect
from tessera.jobfile import load as load_jobfile
from tessera.jobfile import to_spec
from tessera.models.job import Job
from tessera.models.states import TERMINAL, JobState
from tessera.remote import RemoteStore, connect, remote_logs
from tessera.store import Store
from tessera.submit import submit as submit_specs

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Run compute-heavy batch work in parallel on the right hardware.")
queue_app = typer.Typer(no_args_is_help=True, help="List and create queues.")
app.add_typer(queue_app, name="queue")


def _mount_bench() -> None:
    from tessera.cli.bench import install
    from tessera.cli.scale import autoscale_app, cluster_app

    app.add_typer(install(), name="bench", help="Benchmark the built-in kernels on CPU and GPU as tessera jobs.")
    app.add_typer(autoscale_app, name="autoscale")
    app.add_typer(cluster_app, name="cluster")


_mount_bench()


def _mount_server() -> None:
    from tessera.cli.server import install

    install(app)


_mount_server()


def _mount_cost() -> None:
    from tessera.cli.cost import install

    install(app)


_mount_cost()


def _mount_workflows() -> None:
    from tessera.cli.workflow import components_app, workflow_app

    app.add_typer(workflow_app, name="workflow")
    app.add_typer(components_app, name="components")


_mount_workflows()
from tessera.cli import prune as prune_cli  # noqa: E402 - mounted after the app exists
from tessera.cli import spot as spot_cli  # noqa: E402 - mounted after the app exists

prune_cli.install(app)

app.add_typer(spot_cli.app, name="spot")
_state: dict[str, Any] = {"debug": False}


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", envvar="TESSERA_DEBUG", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


def _settings() -> Settings:
    return Settings.load()


def _local_only(s: Settings) -> None:
    if s.url:
        raise SpecError(f"TESSERA_URL is set: the server at {s.url} runs the controller",
                        "unset TESSERA_URL to manage this machine's own controller")


def _store(s: Settings) -> Store:
    return connect(s) or Store(s.db_url)


def _kv(pairs: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise SpecError(f"{what} {p!r} is not KEY=VALUE", f"write {what} as KEY=VALUE, e.g. --{what} N=8")
        out[k] = v
    return out


def _param_value(v: str) -> Any:
    try:
        return json.loads(v)
    except ValueError:
        return v


def _submit_and_poke(s: Settings, store: Store, specs: list[Any], **kw: Any) -> list[int]:
    if isinstance(store, RemoteStore):  # the server checks, places, budgets, stores and pokes its controller
        return store.submit_specs(specs, **kw)
    notes: list[str] = []
    from tessera.executors.factory import submit_capacity

    ids = submit_specs(store, specs, submit_capacity(s, store), notes=notes, **kw)
    for note in notes:
        render.err_console.print(f"[yellow]budget:[/] {note}", soft_wrap=True)
    daemon.ensure_running(s)
    daemon.poke(s)
    return ids


@app.command()
def submit(
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the job.")] = None,
    function: Annotated[str | None, typer.Option(help="Run module:function instead of a command.")] = None,
    args: Annotated[str | None, typer.Option(help="JSON list (positional) or object (keyword) arguments.")] = None,
    kernel: Annotated[str | None, typer.Option(help="Run a built-in kernel, e.g. matmul.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Kernel parameter KEY=VALUE (repeatable).")] = None,
    device: Annotated[str | None, typer.Option(help="Kernel device: cpu, cuda, cuda:0.")] = None,
    queue: Annotated[str, typer.Option(help="Queue name.")] = "default",
    priority: Annotated[int, typer.Option(help="Higher runs first within a queue.")] = 0,
    project: Annotated[str, typer.Option(help="Project that owns the job.")] = "default",
    tag: Annotated[list[str] | None, typer.Option(help="Tag KEY=VALUE (repeatable).")] = None,
    cpus: Annotated[float, typer.Option(help="CPUs the job holds.")] = 1.0,
    memory_mb: Annotated[int | None, typer.Option(help="Memory limit in MB (enforced).")] = None,
    gpus: Annotated[int, typer.Option(help="GPUs the job holds.")] = 0,
    timeout_s: Annotated[float | None, typer.Option(help="Kill the attempt after this many seconds.")] = None,
    retries: Annotated[int, typer.Option(help="Extra attempts after a failure.")] = 0,
    retry_on: Annotated[str | None, typer.Option(help="Retry only on these exit codes, e.g. 1,137; others exit.")] = None,
    backoff_s: Annotated[float, typer.Option(help="First retry delay; doubles each retry.")] = 0.0,
    array: Annotated[str | None, typer.Option(help="Array indices, e.g. 0-999%10.")] = None,
    array_max_failures: Annotated[int | None, typer.Option(help="Cancel the rest after this many failures.")] = None,
    dependency: Annotated[str | None, typer.Option(help="afterok:ID[:ID],afterany:ID,afternotok:ID,aftercorr:ID")] = None,
    env: Annotated[list[str] | None, typer.Option(help="Environment KEY=VALUE (repeatable).")] = None,
    cwd: Annotated[str | None, typer.Option(help="Working directory.")] = None,
    variant: Annotated[list[str] | None, typer.Option(help="A variant NAME:cpus=N,gpus=N (repeatable); tessera picks one.")] = None,
    size: Annotated[str | None, typer.Option(help="The job's size feature for runtime prediction, e.g. n=8000.")] = None,
    optimize: Annotated[str, typer.Option(help="Pick variants by time or cost.")] = "time",
    deadline: Annotated[float | None, typer.Option(help="Only variants predicted to finish within this many seconds.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Only variants predicted to cost at most this many dollars.")] = None,
    coalesce: Annotated[str | None, typer.Option(help="Arrays: auto, off or N elements per worker round trip.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Submit one job (or an array) and print its id."""
    fields: dict[str, Any] = {
        "name": name, "queue": queue, "priority": priority, "project": project, "tags": _kv(tag, "tag"),
        "cpus": cpus, "gpus": gpus, "timeout_s": timeout_s, "env": _kv(env, "env"), "cwd": cwd,
    }
    if memory_mb is not None:
        fields["memory_mb"] = memory_mb
    if function:
        fields["function"] = function
        if args:
            try:
                parsed = json.loads(args)
            except ValueError as e:
                raise SpecError(f"--args is not JSON: {e}", "pass a JSON list or object, e.g. --args '[1, 2]'") from None
            if isinstance(parsed, list):
                fields["args"] = parsed
            elif isinstance(parsed, dict):
                fields["kwargs"] = parsed
            else:
                raise SpecError("--args must be a JSON list or object", "e.g. --args '[1, 2]' or '{\"n\": 3}'")
    if kernel:
        fields["kernel"] = kernel
        fields["params"] = {k: _param_value(v) for k, v in _kv(param, "param").items()}
        if device:
            fields["params"]["device"] = device
            if device.startswith("cuda"):  # the job holds the GPU; inside it, CUDA_VISIBLE_DEVICES shows it as 0
                fields["gpus"] = max(gpus, 1)
                fields["params"]["device"] = "cuda:0"
    if command:
        fields["command"] = command
    retry: dict[str, Any] = {"attempts": retries + 1, "backoff_s": backoff_s}
    if retry_on:
        codes = [c.strip() for c in retry_on.split(",") if c.strip()]
        retry["rules"] = [{"action": "retry", "on_exit_code": c} for c in codes] + [
            {"action": "exit", "on_exit_code": "*"}]
    fields["retry"] = retry
    if array:
        fields["array"] = array
        fields["array_max_failures"] = array_max_failures
    if dependency:
        fields["dependency"] = dependency
    if variant or size or coalesce:
        from tessera.cli.cost import placement_fields

        fields["placement"] = placement_fields(variant, size, optimize, deadline, max_cost, coalesce)
    spec = to_spec(fields, "submit")
    s = _settings()
    store = _store(s)
    job_id = _submit_and_poke(s, store, [spec])[0]
    if as_json:
        render.console.print_json(json.dumps({"id": str(job_id), "state": store.job(job_id).state.value}))
    else:
        render.console.print(str(job_id))


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="A YAML job file or workflow file (one with steps:).")],
    wait: Annotated[bool, typer.Option(help="Wait and print a summary.")] = True,
    timeout_s: Annotated[float | None, typer.Option(help="Give up waiting after this long.")] = None,
    resume: Annotated[bool, typer.Option(help="Workflows: skip steps whose cached outputs exist.")] = False,
) -> None:
    """Submit a job file or a workflow, show progress, wait, and print a summary; exit 0 only if all succeeded."""
    from tessera.cli import workflow

    if workflow.is_workflow_file(file):
        raise typer.Exit(workflow.run(file, wait, timeout_s, resume))
    if resume:
        raise SpecError(f"{file} is a job file; --resume applies to workflows (files with steps:)",
                        "drop --resume, or write the jobs as a workflow (docs/workflows.md)")
    specs = load_jobfile(file)
    s = _settings()
    store = _store(s)
    ids = _submit_and_poke(s, store, specs)
    render.err_console.print(f"submitted {len(ids)} jobs: {', '.join(map(str, ids))}")
    if not wait:
        return
    jobs = _follow(s, store, ids, timeout_s)
    render.console.print(summary_table(store, jobs))
    raise typer.Exit(0 if all(j.state is JobState.SUCCEEDED for j in jobs) else 1)


def _follow(s: Settings, store: Store | RemoteStore, ids: list[int], timeout_s: float | None) -> list[Any]:
    """Show the jobs' progress until all have ended; returns them by id. The bar is redrawn every
    0.1 s, and at once when the controller says one of them ended (``notices``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def units(j: Any) -> tuple[int, int]:
        if j.is_array:
            return j.counts["done"], j.counts["size"]
        return int(j.state in TERMINAL), 1

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[states]}"), TimeElapsedColumn(), console=render.err_console,
                  transient=False) as bar, _watching(s, store, ids) as (ended, _told):
        task = bar.add_task("jobs", total=None, states="")
        while True:
            jobs = store.jobs(ids=ids, limit=len(ids) + 1)
            done = sum(units(j)[0] for j in jobs)
            total = sum(units(j)[1] for j in jobs)
            states: dict[str, int] = {}
            for j in jobs:
                states[j.state.value] = states.get(j.state.value, 0) + 1
            bar.update(task, completed=done, total=total, states=" ".join(f"{k}={v}" for k, v in sorted(states.items())))
            if all(j.state in TERMINAL for j in jobs):
                return sorted(jobs, key=lambda j: j.id)
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"jobs still running after {timeout_s:g} s", "wait with `tessera wait ID…`")
            ended.wait(0.1)
            ended.clear()


def summary_table(store: Store, jobs: list[Any]) -> Any:
    from rich.table import Table

    t = Table(title="summary", header_style="bold")
    for col in ("ID", "NAME", "STATE", "ELEMENTS", "ATTEMPTS", "RUNTIME", "RESULT", "NOTE"):
        t.add_column(col)
    for j in jobs:
        el = f"{j.counts['size'] - j.counts['failed']}/{j.counts['size']} ok" if j.is_array else "-"
        attempts = str(j.attempts)
        if j.is_array:
            attempts = str(sum(e.attempts for e in store.jobs(array_id=j.id, limit=10**7)))
        note = j.reason_detail or (j.reason.value if j.reason else "")
        if j.retries_used:
            note = f"retried {j.retries_used}x" + (f"; {note}" if note else "")
        res = store.result(j.id)
        value = res[1].decode(errors="replace")[:30] if res and res[0] == "json" and res[1] else ""
        t.add_row(j.ref, j.name, render.styled(j.state.value), el, attempts, render.runtime(j), value, note)
    return t


@app.command("ls")
def ls(
    state: Annotated[list[str] | None, typer.Option(help="Only jobs in this state (repeatable).")] = None,
    elements: Annotated[bool, typer.Option(help="Include array elements.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many jobs.")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List jobs, newest first."""
    states = None
    if state:
        try:
            states = [JobState(x) for x in state]
        except ValueError:
            raise SpecError(f"unknown state in {state}", f"use one of {', '.join(s.value for s in JobState)}") from None
    store = _store(_settings())
    jobs = store.jobs(states=states, limit=limit, elements=elements)
    from tessera.cli.cost import job_costs

    costs = job_costs(store, jobs)
    if as_json:
        print(render.dumps([{**render.job_dict(j), **costs.get(j.id, {})} for j in jobs]))
    else:
        render.console.print(render.jobs_table(jobs, costs={i: c["cost"] for i, c in costs.items()}))


@app.command()
def show(job_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A job with its attempts and its history of state changes."""
    store = _store(_settings())
    job = store.job(job_id)
    attempts, events = store.attempts(job.id), store.events(job.id)
    elements = store.element_counts(job.id) if job.is_array else None
    from tessera.cli.cost import job_costs

    cost = job_costs(store, [job]).get(job.id, {})
    if as_json:
        print(render.dumps({**render.job_dict(job), "elements": elements,
                            "attempts": [render.attempt_dict(a) for a in attempts],
                            "events": [render.event_dict(e) for e in events], **cost}))
    else:
        render.show(job, attempts, events, elements)
        spot_lines = [] if isinstance(store, RemoteStore) else spot_cli.lines(store, [job.id], _settings().scratch_dir)
        for line in spot_lines:
            render.console.print(line)
        if cost:
            render.console.print(f"  cost      {cost['detail']}")


@app.command()
def explain(job_id: str) -> None:
    """Why a job waits, or why it ended the way it did, in words."""
    s = _settings()
    store = _store(s)
    job = store.job(job_id)
    deps = store.dependency_states([job.id])[job.id]
    if job.array_id is not None:
        deps += store.dependency_states([job.array_id])[job.array_id]
    ctl = store.latest_controller()
    cap = (ctl or {}).get("status", {}).get("executors", [None])[0] if ctl and not ctl.get("stopped_at") else None
    render.console.print(render.explain(job, deps, cap))
    from tessera.cli.cost import explain_placement

    for line in explain_placement(job):
        render.console.print(line, soft_wrap=True)


@app.command()
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing until the job ends.")] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="Print standard error instead.")] = False,
    attempt: Annotated[int | None, typer.Option(help="Attempt number (default: the latest).")] = None,
) -> None:
    """Print a job's captured output."""
    s = _settings()
    store = _store(s)
    job = store.job(job_id)
    if isinstance(store, RemoteStore):
        remote_logs(store, job.ref, follow, "stderr" if stderr else "stdout", attempt)
        return
    atts = store.attempts(job.id)
    if attempt is not None:
        atts = [a for a in atts if a.number == attempt]
    if not atts and not follow:
        raise NotFoundError(f"job {job.ref} has no attempt yet" if attempt is None else f"no attempt {attempt}",
                            f"wait for it to start (`tessera explain {job.ref}`)")
    pos = 0
    while True:
        atts = store.attempts(job.id) if attempt is None else atts
        path = None
        if atts:
            a = atts[-1]
            path = (a.stderr_path if stderr else a.stdout_path) or s.log_path(job, a.number, "stderr" if stderr else "stdout")
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
        if not follow or store.job(job_id).state in TERMINAL:
            if follow and path and os.path.exists(path) and os.path.getsize(path) > pos:
                continue
            return
        time.sleep(0.2)


@app.command()
def cancel(job_ids: Annotated[list[str], typer.Argument(help="Job ids.")]) -> None:
    """Cancel jobs in any state (array ids cancel all their elements)."""
    s = _settings()
    store = _store(s)
    ids = [store.job(j).id for j in job_ids]
    n = store.request_cancel(ids)
    if isinstance(store, RemoteStore):
        pass  # the server pokes its controller
    elif daemon.running_pid(s):
        daemon.poke(s)
    else:
        daemon.ensure_running(s)
    render.console.print(f"cancel requested for {n} job(s)")


@app.command()
def wait(
    job_ids: Annotated[list[str], typer.Argument(help="Job ids.")],
    timeout_s: Annotated[float | None, typer.Option(help="Give up after this many seconds (exit 1).")] = None,
) -> None:
    """Wait for jobs to end; exit 0 only if all succeeded."""
    s = _settings()
    store = _store(s)
    ids = [store.job(j).id for j in job_ids]  # an unknown id is refused before any waiting
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    # told by the controller when one ends (``notices``); a look every 0.25 s all the same, since
    # a notice may be lost, and every 50 ms where nothing can tell (a server's store, no controller)
    with _watching(s, store, ids) as (ended, told):
        while True:
            jobs = _states(store, ids)
            if all(j.state in TERMINAL for j in jobs):
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeoutError(
                    f"after {timeout_s:g} s: "
                    + ", ".join(f"{j.ref} {j.state.value}" for j in jobs if j.state not in TERMINAL),
                    "wait longer, or see why with `tessera explain ID`")
            ended.wait(min(0.25 if told else 0.05, left if left is not None else 1.0))
            ended.clear()
    for j in jobs:
        render.console.print(f"{j.ref} {render.styled(j.state.value)}")
    raise typer.Exit(0 if all(j.state is JobState.SUCCEEDED for j in jobs) else 1)


def _watching(s: Settings, store: Store | RemoteStore,
              ids: list[int]) -> contextlib.AbstractContextManager[tuple[threading.Event, bool]]:
    """``notices.watching`` for this home's store; a server's store (``TESSERA_URL``) has no
    controller here to tell: ``(an event never set, False)``, and the caller polls."""
    if isinstance(store, Store):
        return notices.watching(s, ids)
    return contextlib.nullcontext((threading.Event(), False))


def _states(store: Store | RemoteStore, ids: list[int]) -> list[Job]:
    """The jobs, in the order of ``ids``, read a thousand at a time (not one read per job)."""
    got: dict[int, Job] = {}
    for i in range(0, len(ids), 1000):
        part = ids[i:i + 1000]
        got.update((j.id, j) for j in store.jobs(ids=part, limit=len(part) + 1, elements=True))
    gone = [i for i in ids if i not in got]
    if gone:
        raise NotFoundError(f"job {gone[0]} is no longer in the store", "it was pruned (`tessera prune`)")
    return [got[i] for i in ids]


@app.command()
def up(
    foreground: Annotated[bool, typer.Option(help="Run in this terminal instead of the background.")] = False,
    executor: Annotated[str | None, typer.Option(help="local (this machine) or ray (a Ray cluster).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="auto, ray://HOST:10001 or HOST:6379.")] = None,
    queue_executor: Annotated[list[str] | None, typer.Option(help="QUEUE=EXECUTOR: run a queue elsewhere, e.g. gpu=ray.")] = None,
    spot_slots: Annotated[int | None, typer.Option(help="How many local slots are spot (preemptible).")] = None,
    preemption_rate: Annotated[str | None, typer.Option(help="Preempt spot slots at this rate, e.g. 12/h.")] = None,
    preemption_trace: Annotated[Path | None, typer.Option(help="Preempt at the times (s) in this file.")] = None,
    preemption_seed: Annotated[int | None, typer.Option(help="Seed of the random preemption schedule.")] = None,
    notice_s: Annotated[float | None, typer.Option(help="Seconds of notice before SIGTERM (default 120).")] = None,
) -> None:
    """Start the controller for this TESSERA_HOME: local or on Ray, optionally with local spot slots
    that really get preempted."""
    from tessera.cli.scale import choose_executor

    s = _settings()
    spot_cli.apply(spot_cli.up_env(spot_slots, preemption_rate, preemption_trace, preemption_seed, notice_s,
                                   detect(s).cpus), daemon.running_pid(s) is not None)
    s = choose_executor(executor, ray_address, queue_executor)  # reads the spot options from the environment too
    _local_only(s)
    if foreground:
        raise typer.Exit(daemon.serve(s))
    pid = daemon.ensure_running(s)
    render.console.print(f"controller running, pid {pid}, home {s.home}")


@app.command()
def down(timeout_s: Annotated[float, typer.Option("--timeout-s", min=0.1,
                                                  help="how long to wait for it to stop")] = 30.0) -> None:
    """Stop the controller; its running attempts are requeued and resume when it is back."""
    _local_only(_settings())
    pid = daemon.stop(_settings(), timeout_s=timeout_s)
    render.console.print("no controller was running" if pid is None else f"controller {pid} stopped")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The controller, its executors with free and total resources, and job counts."""
    s = _settings()
    store = _store(s)
    pid = daemon.running_pid(s) if not isinstance(store, RemoteStore) else None
    ctl = store.latest_controller()
    if isinstance(store, RemoteStore) and ctl:
        pid = ctl["status"].get("pid")
    info: dict[str, Any] = {"running": bool(pid), "pid": pid, "home": str(s.home), "counts": store.counts()}
    if pid and ctl and not ctl.get("stopped_at"):
        info.update(ctl["status"])
        info["pid"] = pid
        info["heartbeat_at"] = ctl["heartbeat_at"]
    else:
        total = detect(s)
        cap = {"cpus": total.cpus, "memory_mb": total.memory_mb, "gpus": len(total.gpus), "gpu_ids": list(total.gpus)}
        info["executors"] = [{"name": "local", "total": cap, "free": cap, "running": 0}]
    if as_json:
        print(render.dumps(info))
        return
    render.console.print(f"controller: {'running, pid ' + str(pid) if pid else 'not running'}   home: {s.home}")
    for ex in info["executors"]:
        t, f = ex["total"], ex["free"]
        render.console.print(f"executor {ex['name']}: cpus {f['cpus']:g}/{t['cpus']:g} free, memory {f['memory_mb']}/"
                             f"{t['memory_mb']} MB free, gpus {f['gpus']}/{t['gpus']} free, {ex['running']} running"
                             + (f", queues {' '.join(ex['queues'])}" if ex.get("queues") else ""))
    render.console.print("jobs: " + (", ".join(f"{k}={v}" for k, v in sorted(info["counts"].items())) or "none"))


@queue_app.command("ls")
def queue_ls() -> None:
    """List queues and their priorities."""
    for name, prio in sorted(_store(_settings()).queues().items(), key=lambda kv: -kv[1]):
        render.console.print(f"{name}\t{prio}")


@queue_app.command("create")
def queue_create(name: str, priority: Annotated[int, typer.Option(help="Higher queues run first.")] = 0) -> None:
    """Create a queue (or change its priority)."""
    _store(_settings()).create_queue(name, priority)
    render.console.print(f"queue {name} priority {priority}")


def main() -> None:
    """Entry point: run the app, turning tessera's errors into a message and an exit code."""
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int):  # without standalone mode, click returns typer.Exit's code instead of raising
            sys.exit(rc)
    except TesseraError as e:
        if _state["debug"]:
            traceback.print_exc()
        from rich.markup import escape  # messages may hold brackets, e.g. list[array]

        render.err_console.print(f"[red]error:[/] {escape(e.message)}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as e:
        if isinstance(e, _usage_errors()) and hasattr(e, "show"):  # an unknown option, a value out of range...
            e.show()  # type: ignore[attr-defined]
            sys.exit(2)
        raise


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's usage errors: from click itself, or from the copy of click newer Typers carry
    (whose errors derive from ``typer.TyperException``, not from click's)."""
    import click

    vendored = getattr(typer, "TyperException", None)
    return (click.exceptions.ClickException, *([vendored] if isinstance(vendored, type) else []))


if __name__ == "__main__":
    main()
