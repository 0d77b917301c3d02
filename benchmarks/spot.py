"""Spot resilience: a checkpointing workload on local spot slots that are really preempted.

    .venv/bin/python benchmarks/spot.py [--scale 40] [--work-s 1200] [--jobs 2] [--seed 3]

The workload is 20 minutes' equivalent of work (``--work-s``), split over ``--jobs`` jobs that run
on as many slots. It is **time-scaled**: every duration (the work, the checkpoint interval, the
notice, the preemption rate) is divided by ``--scale`` (40: 1,200 s of work run in 30 s of wall
time), and the work lost is reported back in equivalent seconds (measured seconds × scale).
What is not scaled is tessera's own overhead (a worker restarted after a kill, the controller's
loop): it is reported in real seconds, and it weighs 40 times more in the scaled run than it
would at full length, so the figures are if anything pessimistic.

Modes, each in a fresh ``TESSERA_HOME`` with an embedded controller:

* ``on-demand``: no spot slot; the reference time and cost.
* ``spot, checkpoint every 10 s + at the notice deadline``: tessera's runtime as meant (the job
  learns the kill time from the notice and saves just before it; periodic saves otherwise).
* ``spot, checkpoint every 10 s, notice ignored``: periodic saves only.
* ``spot, no checkpoint``: what a scheduler that only retries gives (the job restarts from zero),
  with tessera's default preemption cap (3), after which the job falls back to on-demand.

Spot slots are preempted about once a minute each (equivalent time; a seeded Poisson schedule),
with a 30 s notice (GCP's and Azure's; AWS gives 120 s, which with one preemption a minute would
leave every attempt under notice), SIGTERM at the deadline, SIGKILL a second later. Prices: the
cost ledger's (``tessera cost``): this machine as the cheapest catalog instance that covers it,
at its on-demand and spot rates; attempts are billed per second, lost work included.

The peers of the other benchmarks (Dask, Ray) have no preemptible local slots to compare with;
the no-checkpoint mode stands for them (a retried task restarts from zero).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
console = Console(width=170)


def work(steps: int, step_s: float, every: int, mode: str) -> dict[str, Any]:
    """``steps`` steps of ``step_s`` seconds; checkpoints every ``every`` steps per ``mode``."""
    import time as _time

    import tessera

    ctx = tessera.context()
    state: dict[str, Any] = {"i": 0} if mode == "none" else ctx.restore({"i": 0})
    start = state["i"]
    deadline: list[float | None] = [None]
    if mode == "notice":
        ctx.on_notice(lambda c: deadline.__setitem__(0, (c.notice() or {}).get("deadline")))
    last = state["i"]
    while state["i"] < steps:
        _time.sleep(step_s)
        state["i"] += 1
        due = mode != "none" and state["i"] - last >= every
        near = deadline[0] is not None and _time.time() >= deadline[0] - 2 * step_s
        if due or near:
            ctx.checkpoint(state)
            last = state["i"]
            if near:
                deadline[0] = None
    return {"start": start, "i": state["i"]}


def run_mode(name: str, mode: str, spot: bool, cap: int, a: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tessera-spotbench-"))
    for key in [k for k in os.environ if k.startswith("TESSERA_")]:
        del os.environ[key]
    env = {"TESSERA_HOME": str(home), "TESSERA_CPUS": str(a.jobs), "TESSERA_KILL_GRACE_S": "1",
           "TESSERA_PREEMPTION_CAP": str(cap)}
    if spot:
        env.update({"TESSERA_SPOT_SLOTS": str(a.jobs),
                    "TESSERA_PREEMPTION_RATE": f"{a.per_slot_per_h * a.jobs * a.scale:g}/h",
                    "TESSERA_PREEMPTION_SEED": str(a.seed), "TESSERA_NOTICE_S": f"{a.notice_s / a.scale:g}"})
    os.environ.update(env)
    import tessera
    from tessera.spot import ledger

    step_s = 1.0 / a.scale  # one equivalent second per step
    steps = int(a.work_s / a.jobs)
    every = int(a.every_s)
    t0 = time.monotonic()
    with tessera.Client() as c:
        hs = [c.submit(work, steps, step_s, every, mode, name=f"work{j}") for j in range(a.jobs)]
        outs = [h.result(timeout=3600) for h in hs]
        wall = time.monotonic() - t0
        summary = ledger.summary(c.store)
        jobs = [h.job for h in hs]
        if not spot:  # no classed slot: the cost ledger prices every attempt on demand
            from tessera.cost import catalog, db
            from tessera.cost.ledger import attempt_cost

            rates = db.ensure_rates(c.store, c.total, catalog.load(None))
            costs = [attempt_cost(x, rates, time.time()) for x in db.attempt_rows(c.store, job_ids=[h.id for h in hs])]
            summary["usd"] = summary["on_demand_usd"] = sum(x.usd for x in costs if x is not None)
    shutil.rmtree(home, ignore_errors=True)
    assert all(o["i"] == steps for o in outs)
    return {"mode": name, "wall_s": wall, "retries_used": sum(j.retries_used for j in jobs), **summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=40.0, help="time compression: equivalent s per real s")
    ap.add_argument("--work-s", type=float, default=1200.0, help="equivalent seconds of work in all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--every-s", type=float, default=10.0, help="checkpoint interval, equivalent s")
    ap.add_argument("--notice-s", type=float, default=30.0, help="preemption notice, equivalent s")
    ap.add_argument("--per-slot-per-h", type=float, default=60.0, help="preemptions per slot per equivalent hour")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--json", dest="as_json", action="store_true")
    a = ap.parse_args()
    modes = [("on-demand", "periodic", False, 3),
             ("spot, ckpt 10 s + at notice deadline", "notice", True, 1000),
             ("spot, ckpt 10 s, notice ignored", "periodic", True, 1000),
             ("spot, no checkpoint (retry only)", "none", True, 3)]
    rows = [run_mode(*m, a) for m in modes]
    ref = rows[0]["usd"] or 1.0
    load = os.getloadavg()
    t = Table(title=f"spot resilience, {a.work_s:g} s-equivalent of work, time-scaled x{a.scale:g} "
                    f"({platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    for col in ("mode", "wall (real s)", "eq. min", "preemptions", "lost/preemption (eq. s) mean/max",
                "recovery (real s) mean", "on-demand fallbacks", "retries used", "cost vs on-demand"):
        t.add_column(col)
    for r in rows:
        lost = (f"{r['lost_s_mean'] * a.scale:.1f} / {r['lost_s_max'] * a.scale:.1f}"
                if r["lost_s_mean"] is not None else "-")
        rec = f"{r['recovery_s_mean']:.2f}" if r["recovery_s_mean"] is not None else "-"
        t.add_row(r["mode"], f"{r['wall_s']:.1f}", f"{r['wall_s'] * a.scale / 60:.1f}", str(r["preemptions"]), lost,
                  rec, str(r["fallbacks"]), str(r["retries_used"]), f"{r['usd'] / ref:.0%}")
    console.print(t)
    if a.as_json:
        print(json.dumps({"args": vars(a), "rows": rows, "load": load}, indent=1, default=str))


if __name__ == "__main__":
    main()
