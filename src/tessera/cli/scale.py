"""Scale-out commands: ``tessera up --executor``, ``tessera autoscale …`` and ``tessera cluster config``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tessera.cli import render
from tessera.config import Settings
from tessera.controller import daemon
from tessera.errors import ControllerError, SpecError

autoscale_app = typer.Typer(no_args_is_help=True, help="Scale the worker pool or the Ray cluster on queue demand.")
cluster_app = typer.Typer(no_args_is_help=True, help="Ray cluster-launcher configuration for the cloud.")


def choose_executor(executor: str | None, ray_address: str | None, queue_executors: list[str] | None = None) -> Settings:
    """The settings ``tessera up`` starts a controller with: ``--executor``/``--ray-address``/
    ``--queue-executor`` (passed on to the controller's environment) over ``TESSERA_*``/config.yaml.
    Refuses an unknown executor, a route it cannot read, and other executors than the ones a
    running controller already drives; nothing is changed when it refuses."""
    from tessera.executors.factory import EXECUTORS, check

    if executor is not None and executor not in EXECUTORS:
        raise SpecError(f"unknown executor {executor!r}", f"use --executor {' or '.join(EXECUTORS)}")
    env = {"TESSERA_EXECUTOR": executor, "TESSERA_RAY_ADDRESS": ray_address,
           "TESSERA_QUEUE_EXECUTORS": ",".join(queue_executors) if queue_executors is not None else None}
    s = Settings.load(**{k.removeprefix("TESSERA_").lower(): v for k, v in env.items() if v is not None})
    routes = check(s)
    if ray_address is not None and "ray" not in {s.executor, *routes.values()}:
        raise SpecError("--ray-address is for the ray executor", "add --executor ray or --queue-executor QUEUE=ray")
    pid = daemon.running_pid(s)
    if pid and (executor is not None or queue_executors is not None):
        from tessera.store import Store

        ctl = Store(s.db_url).latest_controller()
        names = [e.get("name") for e in ((ctl or {}).get("status") or {}).get("executors", [])]
        wanted = sorted({s.executor, *routes.values()})
        if names and sorted(names) != wanted:
            raise ControllerError(f"the controller (pid {pid}) already runs with the {', '.join(map(str, names))} "
                                  "executor", "stop it with `tessera down`, then `tessera up` with the executors you want")
    for k, v in env.items():
        if v is not None:
            os.environ[k] = v
    return s


@autoscale_app.command("enable")
def enable(
    queue_depth: Annotated[int, typer.Option(help="Scale out when more jobs than this wait.")] = 5,
    idle_utilisation: Annotated[float, typer.Option(help="Scale in under this utilisation (0-1)...")] = 0.20,
    idle_minutes: Annotated[float, typer.Option(help="...held this many minutes.")] = 10.0,
    min_workers: Annotated[int, typer.Option(help="Fewest warm workers of the local pool.")] = 1,
    max_workers: Annotated[int | None, typer.Option(help="Most warm workers (default: the CPUs).")] = None,
) -> None:
    """Turn autoscaling on for this home (read when the controller starts: `tessera down; tessera up`)."""
    from pydantic import ValidationError

    from tessera.autoscale.policy import AutoscaleConfig

    try:
        cfg = AutoscaleConfig(scale_out_queue_depth=queue_depth, scale_in_utilisation=idle_utilisation,
                              scale_in_after_s=idle_minutes * 60, min_workers=min_workers, max_workers=max_workers)
    except ValidationError as e:
        first = e.errors()[0]
        raise SpecError(f"autoscaling option {'.'.join(map(str, first['loc'])) or ''}: {first['msg']}",
                        "see `tessera autoscale enable --help` for the ranges") from None
    path = cfg.save(Settings.load().home)
    render.console.print(f"autoscaling enabled ({path}); restart the controller to apply: tessera down; tessera up")


@autoscale_app.command("disable")
def disable() -> None:
    """Turn autoscaling off for this home (the controller keeps its pool as it is until restarted)."""
    from tessera.autoscale.policy import AutoscaleConfig

    s = Settings.load()
    cfg = AutoscaleConfig.load(s.home)
    if cfg is None:
        render.console.print("autoscaling was not enabled")
        return
    cfg.model_copy(update={"enabled": False}).save(s.home)
    render.console.print("autoscaling disabled; restart the controller to apply")


@autoscale_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The thresholds, the controller's last decision and why it was taken."""
    from tessera.autoscale.policy import AutoscaleConfig
    from tessera.store import Store

    s = Settings.load()
    cfg = AutoscaleConfig.load(s.home)
    info: dict[str, Any] = {"config": cfg.model_dump() if cfg else None, "decision": None}
    pid = daemon.running_pid(s)
    if pid:
        ctl = Store(s.db_url).latest_controller()
        if ctl and not ctl.get("stopped_at"):
            info["decision"] = (ctl.get("status") or {}).get("autoscale")
            info["executor"] = [e.get("name") for e in (ctl.get("status") or {}).get("executors", [])]
    if as_json:
        print(render.dumps(info))
        return
    if cfg is None or not cfg.enabled:
        render.console.print("autoscaling is off for this home. To turn it on: tessera autoscale enable")
        return
    render.console.print(
        f"thresholds: scale out when more than {cfg.scale_out_queue_depth} jobs wait or any job waits for a GPU; "
        f"scale in when utilisation stays under {cfg.scale_in_utilisation:.0%} for {cfg.scale_in_after_s / 60:g} min; "
        f"local pool between {cfg.min_workers} and {cfg.max_workers or 'the CPU count'} workers")
    d = info["decision"]
    if not pid:
        render.console.print("controller: not running, so no decision yet (start it with `tessera up`)")
    elif d is None:
        render.console.print("controller: running, no decision yet (it decides at each heartbeat; was it "
                             "started before `tessera autoscale enable`? then `tessera down; tessera up`)")
    else:
        render.console.print(f"last decision: {d['action']} (utilisation {d['utilisation']:.0%}, "
                             f"{d['inputs'].get('waiting', 0)} waiting) -> {d['applied']}")
        for r in d["reasons"]:
            render.console.print(f"  because {r}")


@cluster_app.command("config")
def cluster_config(
    provider: Annotated[str, typer.Option(help="Cloud provider.")] = "aws",
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the YAML.")] = Path("cluster.yaml"),
    region: Annotated[str, typer.Option()] = "us-east-1",
    name: Annotated[str, typer.Option(help="Cluster name.")] = "tessera",
    head_type: Annotated[str, typer.Option()] = "m6i.large",
    cpu_type: Annotated[str, typer.Option()] = "c6i.4xlarge",
    gpu_type: Annotated[str, typer.Option()] = "g5.xlarge",
    spot_type: Annotated[str, typer.Option()] = "c6i.4xlarge",
    max_cpu_workers: Annotated[int, typer.Option()] = 10,
    max_gpu_workers: Annotated[int, typer.Option()] = 4,
    max_spot_workers: Annotated[int, typer.Option()] = 10,
    idle_timeout_minutes: Annotated[float, typer.Option()] = 5.0,
    image_id: Annotated[str | None, typer.Option(help="AMI id (default: Ray's for the region).")] = None,
) -> None:
    """Write a Ray cluster-launcher YAML (head, CPU, GPU and spot workers), checked against Ray's
    schema; then `ray up cluster.yaml` starts the cluster."""
    from tessera.cluster.launcher import ClusterPlan, build, catalog, validate

    plan = ClusterPlan(name=name, region=region, head=head_type, cpu=cpu_type, gpu=gpu_type, spot=spot_type,
                       max_cpu_workers=max_cpu_workers, max_gpu_workers=max_gpu_workers,
                       max_spot_workers=max_spot_workers, idle_timeout_minutes=idle_timeout_minutes,
                       image_id=image_id)
    config = build(plan, provider, catalog(Settings.load().home))
    validate(config)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    render.console.print(f"wrote {out} ({plan.max_workers} workers at most); start it with: ray up {out}")
