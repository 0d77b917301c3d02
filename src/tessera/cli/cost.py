"""``tessera hw``, ``tessera catalog …``, ``tessera cost …`` and ``tessera budget …``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tessera.cli import render
from tessera.config import Settings
from tessera.cost import catalog as cat

catalog_app = typer.Typer(no_args_is_help=True, help="AWS instance types and their prices.")
cost_app = typer.Typer(help="What jobs cost: roll-ups, prices, machines, TCO.")
machine_app = typer.Typer(no_args_is_help=True, help="Your own machines and their all-in $/hour.")
budget_app = typer.Typer(no_args_is_help=True, help="Budgets per project and what happens past them.")
cost_app.add_typer(machine_app, name="machine")


def _home() -> Any:
    return Settings.load().home


def hw(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False) -> None:
    """This machine's CPUs, memory and GPUs (NVML), and its hardware fingerprint."""
    from tessera.cost.inventory import detect_inventory

    inv = detect_inventory()
    if as_json:
        print(render.dumps(inv.as_dict()))
        return
    render.console.print(f"cpu:         {inv.cpu_model}")
    cores = f", {inv.physical_cores} physical cores" if inv.physical_cores else ""
    render.console.print(f"cpus:        {inv.logical_cpus} logical{cores}")
    render.console.print(f"memory:      {inv.memory_mb} MB")
    if not inv.gpus:
        render.console.print("gpus:        none (NVML found no GPU)")
    for g in inv.gpus:
        render.console.print(f"gpu {g.index}:       {g.name}, {g.memory_mb} MB")
    render.console.print(f"machine:     {inv.machine}, {inv.system}")
    render.console.print(f"fingerprint: {inv.fingerprint}")


@catalog_app.command("ls")
def catalog_ls(
    family: Annotated[str | None, typer.Option(help="Only this family, e.g. g5.")] = None,
    region: Annotated[str, typer.Option(help="Region whose prices to show.")] = cat.DEFAULT_REGION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Instance types with vCPUs, memory, GPUs, on-demand and spot prices."""
    from rich.table import Table

    c = cat.load(_home())
    rows = [i for i in c.instances.values() if family is None or i.family == family]
    if family is not None and not rows:
        from tessera.errors import NotFoundError

        fams = sorted({i.family for i in c.instances.values()})
        raise NotFoundError(f"no instance family {family!r} in the catalog", f"use one of {', '.join(fams)}")
    if as_json:
        print(render.dumps({"recorded": c.recorded, "source": c.source, "path": c.path,
                            "instances": [i.as_dict() for i in rows]}))
        return
    t = Table(title=f"instance catalog, {region} (recorded {c.recorded})", header_style="bold")
    for col in ("TYPE", "VCPUS", "MEMORY GIB", "GPUS", "ON-DEMAND $/H", "SPOT $/H"):
        t.add_column(col, justify="left" if col in ("TYPE", "GPUS") else "right")
    for i in rows:
        if region not in i.regions:
            continue
        p = i.regions[region]
        spot = f"{p.spot_rate:.4f}" + ("" if p.spot is not None else " (typ.)")
        gpus = f"{i.gpus}x {i.gpu_model}" if i.gpus else "-"
        t.add_row(i.type, str(i.vcpus), f"{i.memory_gib:g}", gpus, f"{p.on_demand:.4f}", spot)
    render.console.print(t)
    render.console.print(f"source: {c.source}", soft_wrap=True)


@catalog_app.command("show")
def catalog_show(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="Instance type, e.g. g5.8xlarge.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One instance type with its prices in every region of the catalog."""
    c = cat.load(_home())
    i = c.find(type_)
    if as_json:
        print(render.dumps({**i.as_dict(), "recorded": c.recorded, "source": c.source}))
        return
    render.console.print(f"{i.type}: {i.vcpus} vCPUs, {i.memory_gib:g} GiB"
                         + (f", {i.gpus}x {i.gpu_model} ({i.gpu_memory_gib:g} GiB each)" if i.gpus else ""))
    for r, p in sorted(i.regions.items()):
        spot = f"spot ${p.spot_rate:.4f}/h" + (f" (read {p.spot_at})" if p.spot is not None else
                                                f" (typical {100 * (p.spot_discount or 0):.0f}% off)")
        render.console.print(f"  {r}: on-demand ${p.on_demand:.4f}/h, {spot}")
    render.console.print(f"recorded {c.recorded}; source: {c.source}", soft_wrap=True)


@catalog_app.command("refresh")
def catalog_refresh(
    region: Annotated[str, typer.Option(help="Region whose prices to read.")] = cat.DEFAULT_REGION,
    type_: Annotated[list[str] | None, typer.Option("--type", help="Only these types (repeatable).")] = None,
    spot_only: Annotated[bool, typer.Option(help="Read spot prices only (no Price List API call).")] = False,
) -> None:
    """Read current on-demand (AWS Price List API) and spot prices (EC2 spot price history) with
    your AWS credentials; writes $TESSERA_HOME/catalog.json, which then replaces the packaged one."""
    from tessera.cost.refresh import refresh

    home = _home()
    new = refresh(cat.load(home), region, type_, spot_only)
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / "catalog.json.tmp"
    tmp.write_text(json.dumps(new.as_dict(), indent=1))
    tmp.replace(home / "catalog.json")
    render.console.print(f"catalog refreshed: {new.source}", soft_wrap=True)




def placement_fields(variants: list[str] | None, size: str | None, optimize: str, deadline: float | None,
                     max_cost: float | None, coalesce: str | None = None) -> dict[str, Any]:
    """``--variant``/``--size``/``--optimize``/``--deadline``/``--max-cost``/``--coalesce`` as a placement mapping."""
    from tessera.errors import SpecError
    from tessera.models.placement import parse_size, parse_variant

    if optimize not in ("time", "cost"):
        raise SpecError(f"--optimize {optimize!r} is neither time nor cost", "use --optimize time or --optimize cost")
    out: dict[str, Any] = {"variants": [parse_variant(v) for v in variants or []], "optimize": optimize}
    if size:
        out["size"] = parse_size(size)
    if deadline is not None:
        out["deadline_s"] = deadline
    if max_cost is not None:
        out["max_cost_usd"] = max_cost
    if coalesce is not None:
        from tessera.placement.coalesce import parse_mode

        out["coalesce"] = parse_mode(coalesce)
    return out


# ---------------------------------------------------------------- ledger


def _ctx() -> tuple[Any, Any, Any]:
    from tessera.executors.hardware import detect
    from tessera.store import Store

    s = Settings.load()
    return s, Store(s.db_url), detect(s)


def _costs(store: Any, total: Any, **kw: Any) -> list[Any]:
    import time

    from tessera.cost import db
    from tessera.cost.ledger import attempt_cost

    rates = db.ensure_rates(store, total, cat.load(Settings.load().home))
    now = time.time()
    return [c for r in db.attempt_rows(store, **kw) if (c := attempt_cost(r, rates, now)) is not None]


def job_costs(store: Any, jobs: list[Any]) -> dict[int, dict[str, Any]]:
    """Per job: dollars so far (arrays: their elements), waste, and a forecast while it waits."""
    from tessera.cost import db
    from tessera.cost.guard import forecast_usd, predicted_seconds
    from tessera.executors.hardware import detect
    from tessera.models.states import WAITING

    if not jobs:
        return {}
    from tessera.remote import RemoteStore

    if isinstance(store, RemoteStore):  # TESSERA_URL: the server prices them
        return store.job_costs(jobs)
    total = detect(Settings.load())
    costs = _costs(store, total, job_ids=[j.id for j in jobs])
    rate = db.rates(store)[-1]
    out: dict[int, dict[str, Any]] = {}
    for j in jobs:
        mine = [c for c in costs if c.job_id == j.id or c.array_id == j.id]
        usd = sum(c.usd for c in mine)
        waste = sum(c.usd for c in mine if c.waste)
        d: dict[str, Any] = {"cost_usd": usd, "waste_usd": waste, "forecast_usd": None}
        text = f"${usd:.4f}" if mine else "-"
        detail = f"${usd:.6f} over {len(mine)} attempt(s)" + (f", ${waste:.6f} of it waste" if waste else "")
        if j.state in WAITING or (j.is_array and j.counts and j.counts.get("done", 0) < j.counts.get("size", 0)):
            f = forecast_usd(j.spec, rate, predicted_seconds(j.spec))
            if f is not None:
                d["forecast_usd"] = f
                text = f"~${f:.4f}" if not mine else f"{text} (~${f:.4f})"
                detail += f"; forecast ${f:.6f} for the whole job"
        out[j.id] = {**d, "cost": text, "detail": detail + f" at {rate.name} ${rate.on_demand_usd_h:g}/h"}
    return out


def explain_placement(job: Any) -> list[str]:
    """The placement decision stored with the job, in words and figures."""
    p = job.spec.placement
    if p is None or not (p.chosen or p.coalesced):
        return []
    lines = [f"Coalescing: {p.coalesced.get('reason')}."] if p.coalesced else []
    if not p.chosen:
        return lines
    c = p.chosen
    lines.append(f"Placement: {c.get('reason')}.")
    for o in c.get("options", []):
        pred = "no measurement" if o.get("predicted_s") is None else f"predicted {o['predicted_s']:.4g} s"
        usd = "" if o.get("usd") is None else f", ${o['usd']:.6f}"
        mark = "*" if o["variant"] == c.get("variant") else " "
        lines.append(f" {mark} {o['variant']} ({o['device']}): {pred}, wait {o['wait_s']:.3g} s{usd} "
                     f"at ${o['usd_per_hour']:.4f}/h")
    if c.get("dropped"):
        lines.append(f"   not offered here: {', '.join(c['dropped']['variants'])} ({c['dropped']['why']})")
    return lines


@cost_app.callback(invoke_without_command=True)
def cost(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="Group by project, queue, job, array or workflow.")] = "project",
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dollars spent, per project (or queue, job, array, workflow), with the waste of failed attempts."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from tessera.cost.ledger import BY, roll_up
    from tessera.errors import SpecError

    if by not in BY:
        raise SpecError(f"--by {by!r} is not a grouping", f"use one of {', '.join(BY)}")
    _s, store, total = _ctx()
    costs = _costs(store, total, project=project)
    rows = roll_up(costs, by)
    tot = {"usd": sum(c.usd for c in costs), "waste_usd": sum(c.usd for c in costs if c.waste),
           "attempts": len(costs)}
    if as_json:
        from tessera.cli.spot import cost_summary

        print(render.dumps({"by": by, "groups": rows, "total": tot, "spot": cost_summary(store)}))
        return
    t = Table(title=f"cost by {by}", header_style="bold")
    for col in (by.upper(), "USD", "WASTE USD", "ATTEMPTS", "SECONDS"):
        t.add_column(col, justify="left" if col == by.upper() else "right")
    for r in rows:
        t.add_row(str(r[by]), f"{r['usd']:.6f}", f"{r['waste_usd']:.6f}", str(r["attempts"]), f"{r['seconds']:.1f}")
    t.add_row("[bold]total[/]", f"{tot['usd']:.6f}", f"{tot['waste_usd']:.6f}", str(tot["attempts"]), "")
    render.console.print(t)
    from tessera.cli.spot import cost_lines

    for line in cost_lines(store):
        render.console.print(line)


@cost_app.command("price")
def price(
    name: Annotated[str | None, typer.Argument(help="A catalog instance type or one of your machines.")] = None,
    usd_per_hour: Annotated[float | None, typer.Option(help="A price of your own for this machine.")] = None,
    spot_usd_per_hour: Annotated[float | None, typer.Option(help="Its spot price, with --usd-per-hour.")] = None,
    region: Annotated[str, typer.Option(help="Catalog region.")] = cat.DEFAULT_REGION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Price this machine from now on (earlier attempts keep the rate of their time); no
    argument shows the rates in force over time."""
    import time
    from dataclasses import asdict

    from tessera.cost import db
    from tessera.errors import SpecError

    s, store, total = _ctx()
    if name is None and usd_per_hour is None:
        rates = db.ensure_rates(store, total, cat.load(s.home))
        if as_json:
            print(render.dumps([asdict(r) for r in rates]))
            return
        for r in rates:
            spot = f", spot ${r.spot_usd_h:.4f}/h" if r.spot_usd_h is not None else ""
            since = "the beginning" if r.at == 0 else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.at))
            render.console.print(f"from {since}: {r.name} ({r.source}) ${r.on_demand_usd_h:.4f}/h{spot}, "
                                 f"{r.cpus:g} CPUs, {r.memory_mb} MB, {r.gpus} GPUs")
        return
    if spot_usd_per_hour is not None and usd_per_hour is None:
        raise SpecError("--spot-usd-per-hour needs --usd-per-hour", "give both, or name a catalog instance")
    rate = db.rate_for(name or "", store, cat.load(s.home), total, region, spot_usd_per_hour, usd_per_hour,
                       time.time())
    db.add_rate(store, rate, region)
    render.console.print(f"this machine is priced as {rate.name}: ${rate.on_demand_usd_h:.4f}/h from now on")


@machine_app.command("add")
def machine_add(
    name: Annotated[str, typer.Argument(help="A name for the machine.")],
    cpus: Annotated[float, typer.Option(help="Its CPUs.")],
    memory_mb: Annotated[int, typer.Option(help="Its memory in MB.")],
    gpus: Annotated[int, typer.Option(help="Its GPUs.")] = 0,
    gpu_model: Annotated[str | None, typer.Option(help="Its GPU model.")] = None,
    usd_per_hour: Annotated[float | None, typer.Option(help="All-in $/hour; or give the parts below.")] = None,
    capex_usd: Annotated[float, typer.Option(help="Purchase price.")] = 0.0,
    years: Annotated[float, typer.Option(help="Amortisation period.")] = 3.0,
    watts: Annotated[float, typer.Option(help="Average power draw.")] = 0.0,
    usd_per_kwh: Annotated[float, typer.Option(help="Electricity price.")] = 0.15,
    pue: Annotated[float, typer.Option(help="Power usage effectiveness (cooling overhead).")] = 1.5,
    ops_usd_per_month: Annotated[float, typer.Option(help="Operations and maintenance.")] = 0.0,
) -> None:
    """Add (or replace) one of your own machines with its all-in hourly cost."""
    from tessera.cost import db
    from tessera.cost.tco import owned_usd_per_hour
    from tessera.errors import SpecError

    if usd_per_hour is None:
        if capex_usd <= 0 and watts <= 0 and ops_usd_per_month <= 0:
            raise SpecError(f"machine {name} has no cost", "give --usd-per-hour, or --capex-usd with --watts")
        if years <= 0 or pue < 1:
            raise SpecError(f"--years {years} or --pue {pue} out of range", "years > 0 and pue >= 1 (typically 1.2-2)")
        usd_per_hour = owned_usd_per_hour(capex_usd, years, watts, usd_per_kwh, pue, ops_usd_per_month)
    _s, store, _total = _ctx()
    note = None if capex_usd <= 0 else f"capex ${capex_usd:g}/{years:g}y, {watts:g} W at ${usd_per_kwh:g}/kWh, PUE {pue:g}"
    db.add_machine(store, name, usd_per_hour, cpus, memory_mb, gpus, gpu_model, note)
    render.console.print(f"machine {name}: ${usd_per_hour:.4f}/h all-in")


@machine_app.command("ls")
def machine_ls(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Your machines."""
    from tessera.cost import db

    _s, store, _t = _ctx()
    ms = db.machines(store)
    if as_json:
        print(render.dumps(ms))
        return
    for m in ms:
        render.console.print(f"{m['name']}: ${m['usd_per_hour']:.4f}/h, {m['cpus']:g} CPUs, {m['memory_mb']} MB, "
                             f"{m['gpus']} GPUs{' ' + m['gpu_model'] if m['gpu_model'] else ''}"
                             f"{'  (' + m['note'] + ')' if m['note'] else ''}")
    if not ms:
        render.console.print("no machines yet: `tessera cost machine add NAME --usd-per-hour X --cpus N --memory-mb M`")


@cost_app.command("tco")
def tco(
    hours_per_month: Annotated[float, typer.Option(help="Machine-hours of work per month.")],
    instance: Annotated[list[str] | None, typer.Option(help="Cloud instance type (repeatable).")] = None,
    machine: Annotated[list[str] | None, typer.Option(help="One of your machines (repeatable; default: all).")] = None,
    region: Annotated[str, typer.Option(help="Catalog region.")] = cat.DEFAULT_REGION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cloud (on-demand, spot) versus your machines for a monthly workload, with break-even use."""
    from rich.table import Table

    from tessera.cost import db
    from tessera.cost.tco import compare
    from tessera.errors import NotFoundError, SpecError

    if not hours_per_month > 0:
        raise SpecError(f"--hours-per-month {hours_per_month} is not positive", "give the hours of work, e.g. 200")
    s, store, _t = _ctx()
    c = cat.load(s.home)
    cloud = {i: (c.find(i).rate(region), c.find(i).rate(region, spot=True)) for i in (instance or ["g5.8xlarge"])}
    mine = {m["name"]: m["usd_per_hour"] for m in db.machines(store) if not machine or m["name"] in machine}
    missing = set(machine or []) - set(mine)
    if missing:
        raise NotFoundError(f"no machine named {', '.join(sorted(missing))}", "add it with `tessera cost machine add`")
    doc = compare(hours_per_month, cloud, mine)
    if as_json:
        print(render.dumps(doc))
        return
    t = Table(title=f"{hours_per_month:g} machine-hours a month", header_style="bold")
    for col in ("OPTION", "PRICING", "$/HOUR", "$/MONTH"):
        t.add_column(col, justify="left" if col in ("OPTION", "PRICING") else "right")
    for o in sorted(doc["options"], key=lambda o: o["usd_per_month"]):
        t.add_row(o["name"], o["kind"], f"{o['usd_per_hour']:.4f}", f"{o['usd_per_month']:.2f}")
    render.console.print(t)
    best = doc["cheapest"]
    render.console.print(f"cheapest: {best['name']} ({best['kind']}), ${best['usd_per_month']:.2f}/month")
    for k, v in doc["breakeven_utilisation"].items():
        render.console.print(f"break-even {k}: owning pays off above {100 * v:.0f}% utilisation")
    if not mine:
        render.console.print("(no machines of your own: `tessera cost machine add` to compare them)")


# ---------------------------------------------------------------- budgets


@budget_app.command("set")
def budget_set(
    project: Annotated[str, typer.Argument(help="The project.")],
    limit_usd: Annotated[float, typer.Option(help="Dollars the project may spend.")],
    action: Annotated[str, typer.Option(help="Past the limit: warn, hold, downgrade or reject.")] = "warn",
    warn_at: Annotated[float, typer.Option(help="Warn from this fraction of the limit.")] = 0.8,
) -> None:
    """Set (or replace) a project's budget."""
    from tessera.cost import db

    _s, store, _t = _ctx()
    db.set_budget(store, project, limit_usd, warn_at, action)
    render.console.print(f"budget {project}: ${limit_usd:g}, warn at {100 * warn_at:.0f}%, then {action}")


@budget_app.command("ls")
def budget_ls(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Budgets with what each project has spent."""
    import time

    from tessera.cost import db
    from tessera.cost.guard import spent_usd

    _s, store, total = _ctx()
    db.ensure_rates(store, total, cat.load(_s.home))
    rows = [{**b, "spent_usd": spent_usd(store, p, time.time())} for p, b in sorted(db.budgets(store).items())]
    if as_json:
        print(render.dumps(rows))
        return
    for b in rows:
        render.console.print(f"{b['project']}: ${b['spent_usd']:.4f} of ${b['limit_usd']:g} "
                             f"({b['action']} past it, warn at {100 * b['warn_at']:.0f}%)")
    if not rows:
        render.console.print("no budgets: `tessera budget set PROJECT --limit-usd N --action hold`")


@budget_app.command("rm")
def budget_rm(project: str) -> None:
    """Remove a project's budget (its held jobs stay held until released)."""
    from tessera.cost import db

    _s, store, _t = _ctx()
    db.remove_budget(store, project)
    render.console.print(f"budget {project} removed")


@budget_app.command("release")
def budget_release(project: str) -> None:
    """Let a project's held jobs run."""
    from tessera.controller import daemon
    from tessera.cost.hold import release

    s, store, _t = _ctx()
    n = release(store, project)
    if n and daemon.running_pid(s):
        daemon.poke(s)
    render.console.print(f"released {n} held job(s) of project {project}")


def install(app: typer.Typer) -> None:
    """Mount these commands on the main app."""
    app.command("hw")(hw)
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(cost_app, name="cost")
    app.add_typer(budget_app, name="budget")
