"""The soak: many short jobs through a background controller while a worker is killed (-9) every
``--worker-kill-s`` and the controller every ``--controller-restart-s`` (kill -9, then started
again). It ends with the contract checked in SQL over every job: 0 lost, 0 duplicated results,
0 leaked processes. ``make soak`` runs the full size (100,000 jobs, 30 s, 5 min).

    python -m tests.chaos.soak --jobs 100000 --worker-kill-s 30 --controller-restart-s 300
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]


def _workers(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "tessera.executors._boot" in " ".join(k.cmdline()):
                out.append(k)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _pid(settings: object) -> int:
    from tessera.controller import daemon

    daemon.ensure_running(settings)  # type: ignore[arg-type]
    for _ in range(600):
        pid = daemon.running_pid(settings)  # type: ignore[arg-type]
        if pid and pid > 1:
            return pid
        time.sleep(0.05)
    raise SystemExit("the controller did not start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--worker-kill-s", type=float, default=30.0)
    ap.add_argument("--controller-restart-s", type=float, default=300.0)
    ap.add_argument("--limit-s", type=float, default=45 * 60.0, help="fail if it takes longer than this")
    ap.add_argument("--job-s", type=float, default=0.01, help="how long each job sleeps")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--home", default=None)
    args = ap.parse_args(argv)
    home = Path(args.home or tempfile.mkdtemp(prefix="tessera-soak-"))
    for key in [k for k in os.environ if k.startswith("TESSERA_")]:
        del os.environ[key]
    os.environ["TESSERA_HOME"] = str(home)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(ROOT))

    from tessera.config import Settings
    from tessera.controller import daemon
    from tessera.executors import procs
    from tessera.executors.hardware import detect
    from tessera.jobfile import to_spec
    from tessera.store import Store
    from tessera.submit import submit
    from tests.chaos.conftest import leaked

    s = Settings.load()
    store = Store(s.db_url)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    pid = _pid(s)
    submitted = 0
    spec = to_spec({"function": "tests.fixtures:sleep_for", "args": [args.job_s]})
    worker_kills = controller_kills = 0
    next_worker = t0 + args.worker_kill_s
    next_controller = t0 + args.controller_restart_s
    done = 0
    next_count = 0.0
    hw = detect(s)
    while True:
        now = time.monotonic()
        if submitted < args.jobs:
            batch = min(5000, args.jobs - submitted)
            submit(store, [spec] * batch, hw)
            submitted += batch
            daemon.poke(s)
        if now >= next_worker:
            next_worker = now + args.worker_kill_s
            ws = _workers(pid)
            if ws:
                os.kill(rng.choice(ws).pid, signal.SIGKILL)
                worker_kills += 1
        if now >= next_controller:
            next_controller = now + args.controller_restart_s
            assert pid > 1
            os.kill(pid, signal.SIGKILL)
            controller_kills += 1
            while daemon.running_pid(s) is not None:
                time.sleep(0.05)
            pid = _pid(s)
        if submitted >= args.jobs and now >= next_count:  # a full count is a scan: not too often
            next_count = now + 2.0
            counts = store.counts(elements=True)
            done = sum(counts.get(k, 0) for k in ("succeeded", "failed", "cancelled", "timed_out"))
            if done >= args.jobs:
                break
        if now - t0 > args.limit_s:
            break
        time.sleep(0.25 if submitted >= args.jobs else 0.0)
    elapsed = time.monotonic() - t0
    daemon.stop(s)
    with store.engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar() or 0  # noqa: E731
        lost = q("SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled','timed_out')")
        failed = q("SELECT count(*) FROM jobs WHERE state <> 'succeeded'")
        no_result = q("SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = j.id)")
        dup = q("SELECT count(*) FROM (SELECT job_id FROM attempts WHERE state = 'succeeded' "
                "GROUP BY job_id HAVING count(*) > 1) x")
        mismatch = q("SELECT count(*) FROM results r JOIN attempts a ON a.id = r.attempt_id JOIN jobs j "
                     "ON j.id = r.job_id WHERE j.state = 'succeeded' AND a.state <> 'succeeded'")
        open_ = q("SELECT count(*) FROM attempts WHERE state IN ('starting','running')")
        requeued = q("SELECT count(*) FROM attempts WHERE reason IN ('worker_lost','controller_lost')")
        jobs_n = q("SELECT count(*) FROM jobs")
    left = []
    for _ in range(60):
        left = leaked(s)
        if not left:
            break
        time.sleep(0.5)
    report = {"jobs": jobs_n, "job_s": args.job_s, "elapsed_s": round(elapsed, 1), "jobs_per_s": round(jobs_n / elapsed, 1),
              "worker_kills": worker_kills, "controller_kills": controller_kills, "requeued_attempts": requeued,
              "lost": lost, "failed": failed, "without_result": no_result, "duplicated": dup,
              "result_from_unsucceeded_attempt": mismatch, "open_attempts": open_, "leaked_processes": len(left),
              "scope": procs.store_scope(s.db_url), "home": str(home), "cpus": detect(s).cpus,
              "load_avg": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(report, indent=1))
    store.close()
    ok = (jobs_n == args.jobs and lost == failed == no_result == dup == mismatch == open_ == 0 and not left
          and elapsed <= args.limit_s)
    print("SOAK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
