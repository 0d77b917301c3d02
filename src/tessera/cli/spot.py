"""``tessera spot report``, the spot options of ``tessera up``, and the spot lines of ``tessera show``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from tessera.cli import render
from tessera.config import Settings
from tessera.errors import SpecError
from tessera.remote import RemoteStore
from tessera.runtime.env import PROGRESS_NAME
from tessera.spot import ledger
from tessera.spot.schedule import parse_rate, parse_trace
from tessera.store import Store

app = typer.Typer(no_args_is_help=True, help="Spot capacity: preemptions, work lost, cost saved.")


def up_env(spot_slots: int | None, rate: str | None, trace: Path | None, seed: int | None,
           notice_s: float | None, cpus: float) -> dict[str, str]:
    """Validate ``tessera up``'s spot options; return them as the controller's TESSERA_* variables."""
    if spot_slots is None and (rate or trace):
        raise SpecError("--preemption-rate and --preemption-trace need spot slots",
                        "add --spot-slots N (how many of the local slots are preemptible)")
    if spot_slots is None:
        return {}
    if spot_slots < 0 or spot_slots > cpus:
        raise SpecError(f"--spot-slots {spot_slots} is outside 0..{cpus:g} (this machine's CPU slots)",
                        f"give at most {cpus:g} spot slots")
    if rate and trace:
        raise SpecError("--preemption-rate and --preemption-trace were both given", "give one of them")
    if notice_s is not None and notice_s < 0:
        raise SpecError(f"--notice-s {notice_s:g} is negative", "give a notice of zero or more seconds")
    env = {"TESSERA_SPOT_SLOTS": str(spot_slots)}
    if rate:
        parse_rate(rate)
        env["TESSERA_PREEMPTION_RATE"] = rate
    if trace:
        parse_trace(trace)
        env["TESSERA_PREEMPTION_TRACE"] = str(trace.resolve())
    if seed is not None:
        env["TESSERA_PREEMPTION_SEED"] = str(seed)
    if notice_s is not None:
        env["TESSERA_NOTICE_S"] = str(notice_s)
    return env


def apply(env: dict[str, str], running: bool) -> None:
    """Put the spot variables where the controller started next will read them."""
    if env and running:
        raise SpecError("a controller is already running; its spot settings are fixed at start",
                        "stop it with `tessera down`, then run `tessera up` with the spot options")
    os.environ.update(env)


def _fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def progress_line(scratch_dir: Path, attempt_id: int) -> list[str]:
    """The progress the attempt last recorded with ``ctx.progress`` (while its scratch dir exists)."""
    try:
        got = json.loads((scratch_dir / str(attempt_id) / PROGRESS_NAME).read_text())
        return [f"  progress  {float(got['fraction']):.0%} at {render.fmt_time(float(got['at']))}"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def lines(store: Store, job_ids: list[int], scratch_dir: Path | None = None) -> list[str]:
    """What ``tessera show`` adds: the latest attempt's progress, and for a job that ran on
    capacity classes its preemptions, work lost and cost (nothing otherwise)."""
    out: list[str] = []
    if isinstance(store, RemoteStore):  # a client of a server (TESSERA_URL): the ledger is the server's
        return out
    if scratch_dir is not None and len(job_ids) == 1:
        attempts = store.attempts(job_ids[0])
        if attempts:
            out += progress_line(scratch_dir, attempts[-1].id)
    s = ledger.summary(store, job_ids)
    if not s["attempts"]:
        return out
    out += [f"  spot      {s['spot_attempts']} of {s['attempts']} attempts on spot, {s['preemptions']} preempted"
           + (f", {s['fallbacks']} on-demand fallback(s)" if s["fallbacks"] else "")]
    if s["preemptions"]:
        out.append(f"  lost      {_fmt(s['lost_s_total'], ' s')} of work (${_fmt(s['lost_usd_total'], '', 5)}), "
                   f"mean {_fmt(s['lost_s_mean'], ' s')} per preemption; recovery mean {_fmt(s['recovery_s_mean'], ' s')}")
    out.append(f"  spot cost ${_fmt(s['usd'], '', 5)} vs ${_fmt(s['on_demand_usd'], '', 5)} on demand "
               f"(saved ${_fmt(s['saved_usd'], '', 5)})")
    return out


def cost_summary(store: Store) -> dict[str, Any] | None:
    """The spot totals for ``tessera cost``: None when nothing ran on capacity classes (or remote)."""
    if isinstance(store, RemoteStore):
        return None
    s = ledger.summary(store)
    return s if s["attempts"] else None


def cost_lines(store: Store) -> list[str]:
    s = cost_summary(store)
    if s is None:
        return []
    return [f"spot: {s['spot_attempts']} of {s['attempts']} attempts on spot, {s['preemptions']} preempted, "
            f"{_fmt(s['lost_s_total'], ' s')} of work lost (${_fmt(s['lost_usd_total'], '', 5)}); "
            f"${_fmt(s['usd'], '', 5)} against ${_fmt(s['on_demand_usd'], '', 5)} on demand "
            f"(saved ${_fmt(s['saved_usd'], '', 5)}); `tessera spot report` for more"]


@app.command("report")
def report(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False) -> None:
    """Totals over every attempt that ran on spot or on-demand slots: preemptions, work lost, recovery, cost."""
    s = Settings.load()
    store = Store(s.db_url)
    try:
        summary = ledger.summary(store)
    finally:
        store.close()
    if as_json:
        print(render.dumps(summary))
        return
    if not summary["attempts"]:
        render.console.print("no attempt has run on spot slots (start them with `tessera up --spot-slots N`)")
        return
    for key, value in summary.items():
        render.console.print(f"{key:18} {_fmt(value, digits=5 if 'usd' in key else 3)}")
