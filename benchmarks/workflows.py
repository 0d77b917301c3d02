"""Workflow overhead: the same jobs run as a tessera workflow and submitted directly, side by side.

    .venv/bin/python benchmarks/workflows.py [--fan 200] [--chain 50] [--repeat 5]
    .venv/bin/python benchmarks/workflows.py rtm [--n 512 --shots 16 --steps 2000]   (benchmarks/_rtm.py)

Two shapes, each timed from submission until every job ended, in a fresh TESSERA_HOME with an
embedded controller (SQLite, two workers):

* fan:   N tiny Python jobs as one array, then one job after them; as a workflow, a step mapped
         over range(N) and a step that gathers its outputs (list[array]).
* chain: L tiny jobs, each after the previous (afterok); as a workflow, L steps each reading the
         previous step's output.

The workflow side also plans the DAG, computes cache keys, stores every output in the
content-addressed artifact store and writes a manifest per step element; the overhead per step
is (workflow time - direct time) / steps (array elements count as steps).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)

import _wf_components  # noqa: E402,F401 - registers bench.* components

from tessera.client import Client  # noqa: E402
from tessera.models.spec import ArraySpec, JobSpec, parse_dependency  # noqa: E402
from tessera.workflows.builder import Workflow  # noqa: E402

console = Console(width=140)
TIMEOUT = 600.0


def _direct(c: Client, specs: list[JobSpec]) -> float:
    start = time.perf_counter()
    handles = c._handles(specs)
    c.wait(handles, TIMEOUT)
    elapsed = time.perf_counter() - start
    bad = [h.ref for h in handles if h.state.value != "succeeded"]
    assert not bad, f"direct jobs failed: {bad}"
    return elapsed


def direct_fan(c: Client, n: int, tag: str) -> float:
    fan = JobSpec(name=f"fan{tag}", function="_wf_components:tiny", array=ArraySpec.of_size(n))
    gather = JobSpec(name=f"gather{tag}", function="_wf_components:tiny", dependencies=parse_dependency(f"afterok:fan{tag}"))
    return _direct(c, [fan, gather])


def direct_chain(c: Client, length: int, tag: str) -> float:
    specs = [JobSpec(name=f"c{tag}-0", function="_wf_components:tiny")]
    for i in range(1, length):
        specs.append(JobSpec(name=f"c{tag}-{i}", function="_wf_components:tiny",
                             dependencies=parse_dependency(f"afterok:c{tag}-{i - 1}")))
    return _direct(c, specs)


def _workflow(c: Client, wf: Workflow) -> float:
    start = time.perf_counter()
    run = wf.submit(c)
    state = run.wait(TIMEOUT, poll_s=0.01)
    elapsed = time.perf_counter() - start
    assert state == "succeeded", run.states()
    return elapsed


def workflow_fan(c: Client, n: int, tag: str) -> float:
    wf = Workflow(f"fan{tag}")
    fan = wf.step("fan", "bench.tiny", map=range(n), params={})
    wf.step("gather", "array.sum", inputs={"items": fan.out})
    return _workflow(c, wf)


def workflow_chain(c: Client, length: int, tag: str) -> float:
    wf = Workflow(f"chain{tag}")
    prev = wf.step("s0", "bench.tiny")
    for i in range(1, length):
        prev = wf.step(f"s{i}", "bench.next", inputs={"x": prev.out})
    return _workflow(c, wf)


def _paired(direct: Callable[[Client, int, str], float], flow: Callable[[Client, int, str], float], c: Client,
            size: int, repeat: int, name: str) -> tuple[list[float], list[float]]:
    """Direct and workflow runs taken in turns, so a change of load on the machine hits both alike."""
    d, w = [], []
    for r in range(repeat):
        d.append(direct(c, size, f"d{name}{r}"))
        w.append(flow(c, size, f"w{name}{r}"))
    return d, w


def main() -> None:
    if sys.argv[1:2] == ["rtm"]:  # the RTM part (issue 6's performance target): benchmarks/_rtm.py
        import _rtm

        _rtm.main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fan", type=int, default=200, help="elements of the fan-out")
    ap.add_argument("--chain", type=int, default=50, help="steps of the chain")
    ap.add_argument("--repeat", type=int, default=5, help="paired runs of each case (the median is shown)")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="tessera-bench-wf-")
    rows = []
    with Client(home=home, embedded=True, workers=2, cpus=2) as c:
        _direct(c, [JobSpec(function="_wf_components:tiny")])  # warm the workers up
        for shape, size, steps, direct, flow in (
            ("fan", args.fan, args.fan + 1, direct_fan, workflow_fan),
            ("chain", args.chain, args.chain, direct_chain, workflow_chain),
        ):
            d, w = _paired(direct, flow, c, size, args.repeat, shape)
            per = [(wi - di) / steps * 1e3 for di, wi in zip(d, w, strict=True)]
            rows.append((shape, size, steps, statistics.median(d), statistics.median(w), statistics.median(per),
                         min(per), max(per)))
    t = Table(title=f"workflow overhead, median of {args.repeat} paired runs "
                    f"({platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})")
    for col in ("shape", "size", "steps", "direct s", "workflow s", "overhead ms/step", "min..max", "target"):
        t.add_column(col, justify="right")
    for shape, size, steps, d_s, w_s, per_s, lo, hi in rows:
        t.add_row(shape, str(size), str(steps), f"{d_s:.3f}", f"{w_s:.3f}", f"{per_s:.2f}", f"{lo:.1f}..{hi:.1f}",
                  "≤ 20 ms " + ("ok" if per_s <= 20 else "MISSED"))
    console.print(t)


if __name__ == "__main__":
    main()
