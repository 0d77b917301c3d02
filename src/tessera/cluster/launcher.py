"""``tessera cluster config --provider aws``: a Ray cluster-launcher YAML from the instance catalog.

Ray's cluster launcher provisions the machines (EC2 here, spot included) and its autoscaler adds
and removes them; tessera only writes the configuration: a head node that runs the controller,
and CPU, GPU and spot worker node types sized from catalog instances. Spot workers advertise the
``tessera-spot`` resource and a ``tessera.io/capacity: spot`` label, which ``RayExecutor`` reads to
send their lost attempts down the preemption path. The result is checked against the JSON schema
Ray ships (``ray/autoscaler/ray-schema.json``) before it is written.

Instance types and sizes come from tessera's instance catalog (``tessera.cost.catalog``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.errors import NotFoundError, SpecError

PROVIDERS = ("aws",)
SPOT_RESOURCE = "tessera-spot"
SPOT_LABEL = {"tessera.io/capacity": "spot"}


@dataclass(frozen=True, slots=True)
class InstanceType:
    """What the launcher needs of an instance type: its name and its size."""

    type: str
    vcpus: int
    memory_gib: float
    gpus: int = 0


@dataclass(frozen=True)
class ClusterPlan:
    """The choices behind one cluster YAML."""

    name: str = "tessera"
    region: str = "us-east-1"
    head: str = "m6i.large"
    cpu: str = "c6i.4xlarge"
    gpu: str = "g5.xlarge"
    spot: str = "c6i.4xlarge"
    max_cpu_workers: int = 10
    max_gpu_workers: int = 4
    max_spot_workers: int = 10
    idle_timeout_minutes: float = 5.0
    tessera_spec: str = "tessera[ray]"  # what `pip install` puts on every node
    ssh_user: str = "ubuntu"
    image_id: str | None = None  # None: leave the AMI to Ray's default for the region

    @property
    def max_workers(self) -> int:
        return self.max_cpu_workers + self.max_gpu_workers + self.max_spot_workers


def catalog(home: Path | None = None) -> dict[str, InstanceType]:
    """Instance types from tessera's instance catalog (``tessera catalog ls``; a refreshed copy in
    ``home`` takes precedence over the packaged one)."""
    from tessera.cost import catalog as cost_catalog

    cat = cost_catalog.load(home)
    return {t: InstanceType(i.type, int(i.vcpus), float(i.memory_gib), int(i.gpus)) for t, i in cat.instances.items()}


def build(plan: ClusterPlan, provider: str = "aws", types: dict[str, InstanceType] | None = None) -> dict[str, Any]:
    """The cluster configuration as a dict (pure). Raises ``SpecError`` for an unknown provider or an
    instance type that is missing or the wrong kind (a GPU node type without GPUs)."""
    if provider not in PROVIDERS:
        raise SpecError(f"provider {provider!r} is not supported", f"use --provider {' or '.join(PROVIDERS)}")
    types = types if types is not None else catalog()
    head, cpu, gpu, spot = (_find(types, t, role) for t, role in
                            ((plan.head, "head"), (plan.cpu, "cpu"), (plan.gpu, "gpu"), (plan.spot, "spot")))
    if not gpu.gpus:
        raise SpecError(f"instance type {gpu.type} has no GPU, so it cannot be the GPU worker type",
                        "pass --gpu-type with a GPU instance, e.g. g5.xlarge")
    for n, what in ((plan.max_cpu_workers, "max CPU workers"), (plan.max_gpu_workers, "max GPU workers"),
                    (plan.max_spot_workers, "max spot workers")):
        if n < 0:
            raise SpecError(f"{what} is {n}", f"give {what} a value of zero or more")
    if plan.idle_timeout_minutes <= 0:
        raise SpecError(f"idle timeout {plan.idle_timeout_minutes:g} minutes is not positive",
                        "give --idle-timeout-minutes a positive number")

    def node(it: InstanceType, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg: dict[str, Any] = {"InstanceType": it.type, **(extra or {})}
        if plan.image_id:
            cfg["ImageId"] = plan.image_id
        return cfg

    def resources(it: InstanceType, **more: int) -> dict[str, int]:
        out = {"CPU": it.vcpus, **more}
        if it.gpus:
            out["GPU"] = it.gpus
        return out

    return {
        "cluster_name": plan.name,
        "max_workers": plan.max_workers,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": plan.idle_timeout_minutes,
        "provider": {"type": provider, "region": plan.region, "cache_stopped_nodes": False},
        "auth": {"ssh_user": plan.ssh_user},
        "head_node_type": "head",
        "available_node_types": {
            # The head runs the tessera controller and Ray's GCS, and takes no jobs itself.
            "head": {"node_config": node(head), "resources": {"CPU": 0}, "min_workers": 0, "max_workers": 0},
            "cpu": {"node_config": node(cpu), "resources": resources(cpu), "min_workers": 0,
                    "max_workers": plan.max_cpu_workers},
            "gpu": {"node_config": node(gpu), "resources": resources(gpu), "min_workers": 0,
                    "max_workers": plan.max_gpu_workers},
            "cpu_spot": {"node_config": node(spot, {"InstanceMarketOptions": {"MarketType": "spot"}}),
                         "resources": resources(spot, **{SPOT_RESOURCE: 1}), "labels": dict(SPOT_LABEL),
                         "min_workers": 0, "max_workers": plan.max_spot_workers},
        },
        "setup_commands": [f"pip install -q '{plan.tessera_spec}'"],
        "head_start_ray_commands": [
            "ray stop",
            "ray start --head --port=6379 --object-manager-port=8076 --autoscaling-config=~/ray_bootstrap_config.yaml",
        ],
        "worker_start_ray_commands": ["ray stop", "ray start --address=$RAY_HEAD_IP:6379 --object-manager-port=8076"],
    }


def schema() -> dict[str, Any]:
    """The JSON schema of Ray's cluster configuration, as shipped with the installed Ray."""
    import importlib.util

    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("Ray is not installed, so the cluster configuration cannot be checked against its schema",
                        "install it: pip install 'tessera[ray]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "autoscaler" / "ray-schema.json"
    return dict(json.loads(path.read_text()))


def validate(config: dict[str, Any]) -> None:
    """Check a configuration against Ray's schema, then with Ray's own validation of the completed
    configuration (offline); raises ``SpecError`` naming the first problem."""
    import jsonschema

    errors = sorted(jsonschema.Draft7Validator(schema()).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "(top level)"
        raise SpecError(f"the cluster configuration does not match Ray's schema at {where}: {e.message}",
                        "fix the option that produced it (see `tessera cluster config --help`)")
    # Then Ray's own checks, on the configuration as `ray up` completes it with the provider's defaults.
    from ray.autoscaler._private.util import prepare_config, validate_config

    try:
        validate_config(prepare_config(config))
    except (ValueError, RuntimeError, KeyError) as e:
        raise SpecError(f"Ray refuses the cluster configuration: {e}",
                        "fix the option that produced it (see `tessera cluster config --help`)") from None


def _find(types: dict[str, InstanceType], name: str, role: str) -> InstanceType:
    if name not in types:
        raise NotFoundError(f"instance type {name!r} (for the {role} node) is not in the catalog",
                            f"use one of {', '.join(sorted(types))}")
    return types[name]
