"""How jobs look in a terminal: tables, histories, explanations, and their JSON forms."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from tessera.models.job import Attempt, Event, Job, fmt_time
from tessera.models.states import JobState, describe

_WIDTH = None if os.isatty(1) else int(os.environ.get("COLUMNS", "140"))
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)

STATE_STYLE = {
    "succeeded": "green", "failed": "red", "timed_out": "red", "cancelled": "yellow",
    "running": "cyan", "starting": "cyan", "runnable": "white", "pending": "dim", "submitted": "dim",
    "preempted": "magenta",
}


def styled(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def runtime(job: Job) -> str:
    if job.started_at is None:
        return "-"
    end = job.ended_at or time.time()
    return f"{end - job.started_at:.2f}s"


def job_dict(job: Job) -> dict[str, Any]:
    """A job's JSON form: the API's (``tessera.server.wire``), so --json output and the server agree."""
    from tessera.server.wire import job_json

    return job_json(job)


def attempt_dict(a: Attempt) -> dict[str, Any]:
    return {"id": a.id, "number": a.number, "executor": a.executor, "state": a.state,
            "placement": a.placement, "pid": a.pid, "started_at": a.started_at, "ended_at": a.ended_at,
            "exit_code": a.exit_code, "reason": a.reason, "stdout_path": a.stdout_path,
            "stderr_path": a.stderr_path, "usage": a.usage}


def event_dict(e: Event) -> dict[str, Any]:
    return {"at": e.at, "src": e.src, "dst": e.dst, "reason": e.reason, "detail": e.detail}


def jobs_table(jobs: list[Job], title: str | None = None, costs: dict[int, str] | None = None) -> Table:
    t = Table(title=title, header_style="bold")
    for col in ("ID", "NAME", "STATE", "REASON", "QUEUE", "CPU", "MEM", "GPU", "TRIES", "RUNTIME"):
        t.add_column(col, justify="right" if col in ("CPU", "MEM", "GPU", "TRIES") else "left")
    if costs is not None:
        t.add_column("COST", justify="right")
    for j in jobs:
        r = j.spec.resources
        state = styled(j.state.value)
        if j.is_array and j.counts:
            c = j.counts
            state += f" ({c['done']}/{c['size']} done" + (f", {c['failed']} not ok" if c["failed"] else "") + ")"
        cells = [j.ref, j.name[:40], state, j.reason.value if j.reason else "", j.spec.queue,
                 f"{r.cpus:g}", str(r.memory_mb or "-"), str(r.gpus), str(j.attempts), runtime(j)]
        t.add_row(*cells, *([costs.get(j.id, "-")] if costs is not None else []))
    return t


def show(job: Job, attempts: list[Attempt], events: list[Event], elements: dict[str, int] | None) -> None:
    s = job.spec
    console.print(f"[bold]job {job.ref}[/] {job.name}  {styled(job.state.value)}"
                  + (f"  [dim]{job.reason.value}: {job.reason_detail or describe(job.reason)}[/]" if job.reason else ""))
    what = (" ".join(s.command) if s.command else s.function or (f"kernel {s.kernel}" if s.kernel else "python function"))
    console.print(f"  runs      {what}")
    console.print(f"  queue     {s.queue} (priority {s.priority})  project {s.project}")
    r = s.resources
    console.print(f"  resources cpus={r.cpus:g} memory_mb={r.memory_mb or '-'} gpus={r.gpus}"
                  f"  timeout_s={s.timeout_s or '-'}  attempts allowed={s.retry.attempts}")
    if job.is_array:
        console.print(f"  array     {s.array.spec if s.array else ''} cap={s.array.max_running if s.array else '-'}  "
                      + ", ".join(f"{k}={v}" for k, v in sorted((elements or {}).items())))
    if s.dependencies:
        console.print("  depends   " + ",".join(f"{d.kind.value}:{':'.join(d.on)}" for d in s.dependencies))
    if attempts:
        t = Table(title="attempts", header_style="bold")
        for col in ("#", "STATE", "EXIT", "REASON", "PLACEMENT", "STARTED", "WALL", "PEAK RSS"):
            t.add_column(col)
        for a in attempts:
            wall = f"{a.ended_at - a.started_at:.3f}s" if a.ended_at else "-"
            place = f"cpus={a.placement.get('cpus')} gpus={a.placement.get('gpus') or []}"
            t.add_row(str(a.number), a.state, str(a.exit_code if a.exit_code is not None else "-"), a.reason or "",
                      place, fmt_time(a.started_at), wall, f"{a.usage.get('peak_rss_mb', '-')}")
        console.print(t)
    t = Table(title="history", header_style="bold")
    for col in ("AT", "FROM", "TO", "REASON", "DETAIL"):
        t.add_column(col)
    for e in events:
        t.add_row(fmt_time(e.at), e.src or "", styled(e.dst), e.reason or "", (e.detail or "")[:80])
    console.print(t)


def explain(job: Job, deps: list[tuple[str, int, str]], capacity: dict[str, Any] | None) -> str:
    """Why a job is where it is, in sentences."""
    lines = [f"job {job.ref} ({job.name}) is {job.state.value}."]
    if job.state in (JobState.PENDING, JobState.RUNNABLE, JobState.SUBMITTED):
        lines.append(f"It waits because {describe(job.reason)}" + (f": {job.reason_detail}." if job.reason_detail else "."))
        for kind, on, state in deps:
            lines.append(f"  - {kind} on job {on}, which is {state}")
        if job.not_before_at and job.reason and job.reason.value == "backoff":
            lines.append(f"  - its next attempt may start after {fmt_time(job.not_before_at)}")
        if capacity:
            free = capacity["free"]
            lines.append(f"The executor has {free['cpus']:g} CPUs, {free['memory_mb']} MB and {free['gpus']} GPUs free "
                         f"of {capacity['total']['cpus']:g}, {capacity['total']['memory_mb']} MB and "
                         f"{capacity['total']['gpus']}.")
    elif job.state in (JobState.STARTING, JobState.RUNNING):
        lines.append(f"Attempt {job.attempts} is {job.state.value} since {fmt_time(job.started_at)}.")
    elif job.state is JobState.SUCCEEDED and job.is_array:
        size = job.counts.get("size", 0)
        lines.append(f"All {size} of its elements succeeded, in {runtime(job)} from the first start to the last end.")
    elif job.state is JobState.SUCCEEDED:
        lines.append(f"It succeeded after {job.attempts} attempt(s) in {runtime(job)}.")
    else:
        lines.append(f"It ended because {describe(job.reason)}" + (f" ({job.reason_detail})." if job.reason_detail else "."))
        if job.retries_used:
            lines.append(f"It was retried {job.retries_used} time(s) before that.")
    return "\n".join(lines)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
