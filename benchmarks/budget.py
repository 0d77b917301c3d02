"""Submit cost in a project with a budget, against the size of the project's history.

    .venv/bin/python benchmarks/budget.py [--history 100,20000] [--submits 50]

A budget makes every submit to its project read what the project has spent (``cost.guard``).
For each history size: an embedded client runs that many no-op jobs in project ``p`` (one map),
a budget is set on ``p``, then ``--submits`` jobs are submitted one at a time, each waited for;
printed: milliseconds per submit and result, with and without the budget. No peer has budgets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]
from _jobs import noop  # noqa: E402


def per_submit_ms(history: int, submits: int, budget: bool) -> float:
    from tessera.client import Client
    from tessera.cost import db

    with Client(home=tempfile.mkdtemp(prefix="tessera-bench-"), embedded=True, workers=2, cpus=2) as c:
        c.map(noop, range(history), project="p")
        if budget:
            db.set_budget(c.store, "p", 1_000_000.0, 0.8, "reject")
        c.submit(noop, project="p").result(timeout=60)  # the first read of the ledger is a full one
        t = time.perf_counter()
        for _ in range(submits):
            c.submit(noop, project="p").result(timeout=60)
        return (time.perf_counter() - t) / submits * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", default="100,20000")
    ap.add_argument("--submits", type=int, default=50)
    args = ap.parse_args()
    table = Table(title="submit + result in project p (ms, mean)")
    for col in ("attempts in p", "no budget", "with a budget"):
        table.add_column(col, justify="right")
    for n in (int(x) for x in args.history.split(",")):
        table.add_row(f"{n:,}", f"{per_submit_ms(n, args.submits, False):.2f}",
                      f"{per_submit_ms(n, args.submits, True):.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
