"""``tessera workflow ls|show|cancel``, ``tessera components ls|show`` and ``tessera run WORKFLOW.yaml``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape

from tessera.cli import render
from tessera.config import Settings
from tessera.controller import daemon
from tessera.errors import WaitTimeoutError
from tessera.executors.hardware import detect
from tessera.store import Store
from tessera.workflows import engine, records, registry
from tessera.workflows import spec as wfspec

workflow_app = typer.Typer(no_args_is_help=True, help="List, show and cancel workflows (run one with `tessera run`).")
components_app = typer.Typer(no_args_is_help=True, help="List and describe the components workflows are made of.")


def is_workflow_file(path: Path) -> bool:
    """A YAML file with ``steps`` (a workflow) rather than ``jobs`` (a job file)."""
    try:
        return wfspec.is_workflow(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError):
        return False  # the job-file reader reports it


def run(file: Path, wait: bool, timeout_s: float | None, resume: bool) -> int:
    """Submit a workflow file; with ``wait``, follow it and print its steps. Returns the exit code."""
    wf = wfspec.load(file)
    s = Settings.load()
    store = Store(s.db_url)
    done = engine.submit(store, detect(s), wf, home=s.home, resume=resume)
    if done.job_ids:
        daemon.ensure_running(s)
        daemon.poke(s)
    cached = sum(1 for st in done.steps if st.status == "cached")
    render.err_console.print(f"workflow {done.id} ({wf.name}): {len(done.job_ids)} step job(s) submitted"
                             + (f", {cached} step(s) cached" if cached else ""))
    if not wait:
        render.console.print(str(done.id))
        return 0
    state = _follow(store, done.id, timeout_s)
    _show(store, records.get(store, done.id))
    return 0 if state == "succeeded" else 1


def _follow(store: Store, workflow_id: int, timeout_s: float | None) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    record = records.get(store, workflow_id)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[states]}"), TimeElapsedColumn(), console=render.err_console) as bar:
        task = bar.add_task(f"workflow {workflow_id}", total=len(record.steps), states="")
        while True:
            states = records.states(store, record)
            state = records.workflow_state(states.values())
            ended = sum(1 for v in states.values() if v in records.ENDED)
            counts: dict[str, int] = {}
            for v in states.values():
                counts[v] = counts.get(v, 0) + 1
            bar.update(task, completed=ended, states=" ".join(f"{k}={n}" for k, n in sorted(counts.items())))
            if state != "running":
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"workflow {workflow_id} still running after {timeout_s:g} s",
                                       f"follow it with `tessera workflow show {workflow_id}`")
            time.sleep(0.1)


def _store() -> Store:
    return Store(Settings.load().db_url)


def _dict(store: Store, record: records.WorkflowRecord) -> dict[str, Any]:
    states = records.states(store, record)
    return {
        "id": record.id, "name": record.name, "project": record.project,
        "state": records.workflow_state(states.values()), "artifacts": record.artifacts,
        "resumed": record.resumed, "submitted_at": datetime.fromtimestamp(record.submitted_at, UTC).isoformat(timespec="seconds"),
        "steps": [{"step": s.step, "component": s.component, "state": states[s.step], "status": s.status,
                   "job_id": s.job_id, "size": s.size, "keys": list(s.keys)} for s in record.steps],
    }


def _show(store: Store, record: records.WorkflowRecord) -> None:
    from rich.table import Table

    info = _dict(store, record)
    render.console.print(f"[bold]workflow {record.id}[/] {record.name}  {render.styled(info['state'])}"
                         f"  artifacts {record.artifacts}")
    t = Table(header_style="bold")
    for col in ("STEP", "COMPONENT", "STATE", "JOB", "ELEMENTS", "CACHE KEY"):
        t.add_column(col)
    for s in info["steps"]:
        key = s["keys"][0][:12] + ("…" if len(s["keys"]) == 1 else f" +{len(s['keys']) - 1}")
        t.add_row(s["step"], s["component"], render.styled(s["state"]), str(s["job_id"] or "-"),
                  str(s["size"] or "-"), key)
    render.console.print(t)


@workflow_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="A workflow file.")],
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check a workflow without running it: each step's component, fan-out, inputs and dependencies."""
    from tessera.workflows.plan import compile_jobs

    p = engine.prepare(wfspec.load(file))
    compiled = {c.step: c for c in compile_jobs(p, set(), "check")}
    rows: list[dict[str, Any]] = []
    for ps in p.steps:
        job = compiled[ps.name].spec
        rows.append({
            "step": ps.name, "component": ps.component.name, "size": len(ps.keys) if ps.mapped else None,
            "inputs": {port: [f"{s.step}.{s.output} ({s.how})" for s in srcs] for port, srcs in ps.sources.items()},
            "dependencies": [f"{d.kind.value}:{':'.join(d.on)}" for d in job.dependencies] if job else [],
            "keys": list(ps.keys),
        })
    if as_json:
        print(render.dumps(rows))
        return
    for r in rows:
        wired = "; ".join(f"{k} <- {', '.join(v)}" for k, v in r["inputs"].items()) or "no inputs"
        size = f" x{r['size']}" if r["size"] else ""
        render.console.print(escape(f"{r['step']}{size}: {r['component']}; {wired}; "
                                    f"after {', '.join(r['dependencies']) or 'nothing'}"))
    render.console.print(f"{p.workflow.name}: {len(rows)} steps, valid")


@workflow_app.command("ls")
def ls(limit: Annotated[int, typer.Option(help="At most this many workflows.")] = 50,
       as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List workflows, newest first."""
    from rich.table import Table

    store = _store()
    rows = [_dict(store, r) for r in records.recent(store, limit)]
    if as_json:
        print(render.dumps(rows))
        return
    t = Table(header_style="bold")
    for col in ("ID", "NAME", "STATE", "STEPS", "SUBMITTED"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r["id"]), r["name"], render.styled(r["state"]), str(len(r["steps"])), r["submitted_at"])
    render.console.print(t)


@workflow_app.command("show")
def show(workflow: Annotated[str, typer.Argument(help="Workflow id or name (the latest with that name).")],
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A workflow's steps: component, state, job and cache key."""
    store = _store()
    record = records.get(store, workflow)
    if as_json:
        print(render.dumps(_dict(store, record)))
    else:
        _show(store, record)


@workflow_app.command("cancel")
def cancel(workflow: Annotated[str, typer.Argument(help="Workflow id or name.")]) -> None:
    """Cancel every step of a workflow that has not ended."""
    s = Settings.load()
    store = Store(s.db_url)
    record = records.get(store, workflow)
    n = store.request_cancel(records.job_ids(record))
    if daemon.running_pid(s):
        daemon.poke(s)
    elif n:
        daemon.ensure_running(s)
    render.console.print(f"cancel requested for {n} job(s) of workflow {record.id}")


@workflow_app.command("outputs")
def outputs(workflow: Annotated[str, typer.Argument(help="Workflow id or name.")],
            step: Annotated[str, typer.Argument(help="A finished step.")],
            copy_to: Annotated[Path | None, typer.Option(help="Copy every output file into this directory.")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where a finished step's outputs are (one line per element and output), or copies of them."""
    from tessera.workflows.artifacts import ArtifactStore, copy_out

    store = _store()
    record = records.get(store, workflow)
    run = engine.Run(store, record.id)
    arts = ArtifactStore(record.artifacts)
    rows = []
    for index, outs in enumerate(run.outputs(step)):
        for name, refs in outs.items():
            for ref in refs if isinstance(refs, list) else [refs]:
                row = {"index": index, "output": name, **ref.to_json(), "where": arts.where(ref)}
                if copy_to is not None:
                    row["copy"] = str(copy_out(arts, ref, copy_to / f"{step}-{name}-{index}{ref.suffix}"))
                rows.append(row)
    if as_json:
        print(render.dumps(rows))
        return
    for row in rows:
        render.console.print(f"{step}[{row['index']}].{row['output']} ({row['type']}, {row['size']} bytes): "
                             + escape(row.get("copy") or row["where"]))


@components_app.command("ls")
def components_ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered component: name, kind, inputs and outputs."""
    from rich.table import Table

    comps = registry.all_components()
    if as_json:
        print(json.dumps([c.describe() for c in comps], indent=2))
        return
    t = Table(header_style="bold")
    for col in ("NAME", "KIND", "INPUTS", "OUTPUTS", "SUMMARY"):
        t.add_column(col)
    for c in comps:
        t.add_row(c.name, c.kind, escape(", ".join(f"{p.name}:{p.type}" for p in c.inputs) or "-"),
                  escape(", ".join(f"{p.name}:{p.type}" for p in c.outputs)), escape(c.summary))
    render.console.print(t)


@components_app.command("show")
def components_show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One component: its ports and its parameters' JSON Schema."""
    info = registry.get(name).describe()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    render.console.print(f"[bold]{info['name']}[/] ({info['kind']}, version {info['version']})  "
                         + escape(info["summary"]))
    for kind in ("inputs", "outputs"):
        for p in info[kind]:
            line = f"  {kind[:-1]:6} {p['name']}: {p['type']}" + (" (optional)" if p.get("optional") else "")
            render.console.print(escape(line))
    for pname, prop in info["params"].get("properties", {}).items():
        required = pname in info["params"].get("required", [])
        kind = prop.get("type") or "/".join(x.get("type", "?") for x in prop.get("anyOf", []))
        default = "required" if required else f"default {json.dumps(prop.get('default'))}"
        render.console.print(escape(f"  param  {pname}: {kind} ({default})"))
