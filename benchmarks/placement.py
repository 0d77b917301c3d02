"""Placement on the seed suite, over recorded profiles (no GPU here): tessera's automatic choice
against all-CPU, all-GPU, the per-case oracle and the cheapest single-device policy.

    python benchmarks/placement.py [--json FILE]

Profiles: the seed's figures (r5.4xlarge CPU, g5.8xlarge A10G GPU; benchmarks/profiles/
seed_a10g_r5.json) and this machine's CPU (benchmarks/profiles/cpu_epyc_2core.json, for the
model-error table). Every runtime below is a recorded figure, none is measured by this script.

Two prediction modes:
  recorded  the model is fitted on all recorded profiles (what tessera knows after `tessera bench`);
  held-out  each case is predicted with its own measurement removed (leave-one-out): what tessera
            predicts for a size it never measured.
Dollars are whole-instance on-demand prices from the packaged catalog. The queue run submits the
nine cases at once to one CPU and one GPU instance; tessera places each job in turn counting the
predicted wait on each device (submit order), against the optimal makespan found by brute force.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tessera.cost import catalog as cat  # noqa: E402
from tessera.models.placement import Variant  # noqa: E402
from tessera.placement.decide import choose  # noqa: E402
from tessera.placement.model import RuntimeModel, model_key  # noqa: E402

PROFILES = ROOT / "benchmarks" / "profiles"
VARIANTS = [Variant(name="cpu", cpus=1), Variant(name="gpu", gpus=1)]


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads((PROFILES / name).read_text())["profiles"])


def cases(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The seed's nine rows: key, size, and the recorded time on each device."""
    out: dict[tuple[str, float], dict[str, Any]] = {}
    for r in rows:
        key = model_key(r["kernel"], r["params"])
        c = out.setdefault((key, float(r["size"])), {"key": key, "size": float(r["size"])})
        c["cpu" if r["device"] == "cpu" else "gpu"] = float(r["warm_s"])
    return list(out.values())


def predict(rows: list[dict[str, Any]], case: dict[str, Any], held_out: bool) -> dict[str, float | None]:
    if held_out:
        rows = [r for r in rows if not (model_key(r["kernel"], r["params"]) == case["key"]
                                        and float(r["size"]) == case["size"])]
    m = RuntimeModel.from_rows(rows)
    return {"cpu": m.predict(case["key"], "cpu", case["size"]), "gpu": m.predict(case["key"], "gpu", case["size"])}


def policies(rows: list[dict[str, Any]], rates: dict[str, float], held_out: bool) -> dict[str, Any]:
    cs = cases(rows)
    picks: dict[str, list[str]] = {"all-CPU": ["cpu"] * len(cs), "all-GPU": ["gpu"] * len(cs),
                                   "oracle (time)": [min(("cpu", "gpu"), key=lambda d: c[d]) for c in cs],
                                   "oracle (cost)": [min(("cpu", "gpu"), key=lambda d: c[d] * rates[d]) for c in cs]}
    for goal in ("time", "cost"):
        chosen = []
        for c in cs:
            pred = predict(rows, c, held_out)
            chosen.append(choose(VARIANTS, pred, {}, rates, goal, size_label=f"{c['size']:g}").variant)
        picks[f"tessera --optimize {goal}"] = chosen
    out = {}
    for name, devs in picks.items():
        secs = sum(c[d] for c, d in zip(cs, devs, strict=True))
        usd = sum(c[d] * rates[d] / 3600 for c, d in zip(cs, devs, strict=True))
        out[name] = {"seconds": secs, "usd": usd, "devices": devs}
    return out


def queue_run(rows: list[dict[str, Any]], rates: dict[str, float]) -> dict[str, float]:
    """Makespan with one CPU and one GPU instance, all nine cases submitted at once."""
    cs = cases(rows)
    m = RuntimeModel.from_rows(rows)
    free = {"cpu": 0.0, "gpu": 0.0}  # predicted backlog per device, as tessera's submit hook sees it
    actual = {"cpu": 0.0, "gpu": 0.0}
    for c in cs:
        pred = {"cpu": m.predict(c["key"], "cpu", c["size"]), "gpu": m.predict(c["key"], "gpu", c["size"])}
        d = choose(VARIANTS, pred, free, rates, "time").variant
        free[d] += pred[d] or 0.0
        actual[d] += c[d]
    best = min(max(sum(c["cpu"] for c, d in zip(cs, a, strict=True) if d == "cpu"),
                   sum(c["gpu"] for c, d in zip(cs, a, strict=True) if d == "gpu"))
               for a in itertools.product(("cpu", "gpu"), repeat=len(cs)))
    return {"tessera (queue-aware)": max(actual.values()), "optimal makespan": best,
            "all-CPU": sum(c["cpu"] for c in cs), "all-GPU": sum(c["gpu"] for c in cs)}


def through_submit(rows_file: Path) -> list[str]:
    """The same decisions through tessera's real submit path (dry run: logical GPU, no controller)."""
    import os

    with tempfile.TemporaryDirectory() as home:
        os.environ.update({"TESSERA_HOME": home, "TESSERA_GPUS": "1", "TESSERA_PROFILES": str(rows_file)})
        from tessera.config import Settings
        from tessera.executors.hardware import detect
        from tessera.models.placement import PlacementSpec
        from tessera.models.spec import JobSpec
        from tessera.store import Store
        from tessera.submit import submit

        s = Settings.load()
        store = Store(s.db_url)
        specs = []
        for r in [r for r in json.loads(rows_file.read_text())["profiles"] if r["device"] == "cpu"]:
            key = "n" if r["kernel"] == "matmul" else "size"
            specs.append(JobSpec(kernel=r["kernel"], params={**r["params"], key: r["size"]},
                                 placement=PlacementSpec(variants=tuple(VARIANTS), size={key: r["size"]})))
        ids = submit(store, specs, detect(s))
        out = []
        for i in ids:
            p = store.job(i).spec.placement
            out.append(str(p.chosen["variant"]) if p is not None and p.chosen else "?")
        store.close()
        return out


def model_errors() -> list[dict[str, Any]]:
    out = []
    for label, name in (("seed r5/A10G", "seed_a10g_r5.json"), ("this CPU (2-core EPYC)", "cpu_epyc_2core.json")):
        errs = RuntimeModel.from_rows(load(name)).loo_errors()
        for dev in sorted({e["device"] for e in errs}):
            e = [x["error"] for x in errs if x["device"] == dev]
            out.append({"profiles": label, "device": dev, "points": len(e), "median_error": statistics.median(e),
                        "max_error": max(e)})
    return out


def right_sizing() -> list[dict[str, Any]]:
    """One 2-thread job or two 1-thread jobs on this 2-core machine, from its recorded thread scaling."""
    from tessera.placement.apply import slots
    from tessera.scheduler.decide import Capacity

    rows = load("cpu_threads_epyc_2core.json")
    m = RuntimeModel.from_rows(rows)
    t1, t2 = Variant(name="one-thread", cpus=1), Variant(name="two-threads", cpus=2)
    sl = slots([t1, t2], Capacity(2, 8000))
    out = []
    for kernel, size in sorted({(model_key(r["kernel"], r["params"]), float(r["size"])) for r in rows}):
        pred = {"one-thread": m.predict(kernel, "cpu", size, threads=1), "two-threads": m.predict(kernel, "cpu", size, threads=2)}
        for count in (1, 2, 8):
            c = choose([t1, t2], pred, {}, {"one-thread": 0.5, "two-threads": 1.0}, "time", count=count, slots=sl)
            out.append({"kernel": kernel, "size": size, "jobs": count, "t1_s": pred["one-thread"],
                        "t2_s": pred["two-threads"], "choice": c.variant,
                        "finish_s": {o.variant: o.finish_s for o in c.options}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--profiles", type=Path, default=PROFILES / "seed_a10g_r5.json",
                    help="profiles with cpu and cuda rows for the seed cases ({'profiles': [...]}, e.g. from a GPU "
                         "machine's `tessera bench --suite seed --devices cpu,cuda:0 --json`); default: the seed's")
    args = ap.parse_args()
    c = cat.load(None)
    rates = {"cpu": c.find("r5.4xlarge").rate(), "gpu": c.find("g5.8xlarge").rate()}
    rows = list(json.loads(args.profiles.read_text())["profiles"])
    doc: dict[str, Any] = {"rates_usd_per_hour": rates, "modes": {}}
    print("Placement on the seed suite over RECORDED profiles (seed figures: r5.4xlarge CPU, g5.8xlarge A10G GPU);")
    print(f"prices: r5.4xlarge ${rates['cpu']}/h, g5.8xlarge ${rates['gpu']}/h (catalog, on-demand us-east-1)\n")
    for mode, held in (("recorded", False), ("held-out", True)):
        res = policies(rows, rates, held)
        doc["modes"][mode] = res
        print(f"{mode} predictions")
        print(f"  {'policy':28} {'total s':>8} {'total $':>10}  devices")
        for name, r in res.items():
            print(f"  {name:28} {r['seconds']:8.2f} {r['usd']:10.6f}  {''.join(d[0] for d in r['devices'])}")
        auto, best1 = res["tessera --optimize time"]["seconds"], min(res["all-CPU"]["seconds"], res["all-GPU"]["seconds"])
        oracle = res["oracle (time)"]["seconds"]
        cheap1 = min(res["all-CPU"]["usd"], res["all-GPU"]["usd"])
        checks = {
            "time <= 0.95 x better single device": auto <= 0.95 * best1,
            "time within 5% of oracle": auto <= 1.05 * oracle,
            "cost <= cheapest single device": res["tessera --optimize cost"]["usd"] <= cheap1,
        }
        doc["modes"][mode]["targets"] = checks
        print(f"  auto/best-single = {auto / best1:.3f}, auto/oracle = {auto / oracle:.3f}, "
              f"cost-auto/cheapest-single = {res['tessera --optimize cost']['usd'] / cheap1:.3f}")
        for k, v in checks.items():
            print(f"  target {k}: {'met' if v else 'NOT met'}")
        print()
    q = queue_run(rows, rates)
    doc["queue"] = q
    print("queue run (all nine at once; one CPU and one GPU instance; makespan s, recorded predictions)")
    for k, v in q.items():
        print(f"  {k:28} {v:8.2f}")
    sub = through_submit(args.profiles)
    doc["through_submit"] = sub
    same = sub == doc["modes"]["recorded"]["tessera --optimize time"]["devices"]
    print(f"\nthrough tessera's submit path (dry run): {''.join(d[0] for d in sub)} "
          f"({'same as' if same else 'DIFFERENT from'} the pure decision above)")
    errs = model_errors()
    doc["model_errors"] = errs
    print("\nruntime model error, leave-one-out (each point predicted from the others of its curve)")
    for e in errs:
        print(f"  {e['profiles']:24} {e['device']:4} points {e['points']:3}  median {100 * e['median_error']:6.1f}%  "
              f"max {100 * e['max_error']:7.1f}%")
    rs = right_sizing()
    doc["right_sizing"] = rs
    print("\nright-sizing on this 2-core CPU (recorded thread scaling, under load): threads per job")
    print(f"  {'model':16} {'size':>6} {'1 thr s':>8} {'2 thr s':>8}  jobs=1      jobs=2      jobs=8")
    for k in sorted({(r["kernel"], r["size"]) for r in rs}):
        mine = [r for r in rs if (r["kernel"], r["size"]) == k]
        print(f"  {k[0]:16} {k[1]:6g} {mine[0]['t1_s']:8.4f} {mine[0]['t2_s']:8.4f}  "
              + "  ".join(f"{r['choice']:10}" for r in mine))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
