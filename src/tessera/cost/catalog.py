"""The instance catalog: AWS instance types with vCPUs, memory, GPUs and prices per region.

The packaged ``catalog.json`` records the date and source of its prices. ``tessera catalog
refresh`` writes a refreshed copy to ``$TESSERA_HOME/catalog.json``, which then takes precedence.
Lookups here are pure functions of a loaded ``Catalog``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tessera.errors import NotFoundError, SpecError

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class RegionPrice:
    """Prices of one instance type in one region, in USD per hour."""

    on_demand: float
    spot_discount: float | None = None  # typical fraction off on-demand, when no spot price is known
    spot: float | None = None  # a spot price read from AWS (refresh), when known
    spot_at: str | None = None

    @property
    def spot_rate(self) -> float:
        """The spot price if one was read, else on-demand less the typical discount."""
        if self.spot is not None:
            return self.spot
        return self.on_demand * (1.0 - (self.spot_discount or 0.0))


@dataclass(frozen=True)
class Instance:
    type: str
    family: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu_model: str | None = None
    gpu_memory_gib: float = 0
    regions: dict[str, RegionPrice] = field(default_factory=dict)

    def price(self, region: str = DEFAULT_REGION) -> RegionPrice:
        if region not in self.regions:
            raise NotFoundError(
                f"no price for {self.type} in region {region}",
                f"use one of {', '.join(sorted(self.regions))}, or run `tessera catalog refresh --region {region}`",
            )
        return self.regions[region]

    def rate(self, region: str = DEFAULT_REGION, spot: bool = False) -> float:
        p = self.price(region)
        return p.spot_rate if spot else p.on_demand

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "family": self.family, "vcpus": self.vcpus, "memory_gib": self.memory_gib,
            "gpus": self.gpus, "gpu_model": self.gpu_model, "gpu_memory_gib": self.gpu_memory_gib,
            "regions": {r: {k: v for k, v in vars(p).items() if v is not None} for r, p in self.regions.items()},
        }


@dataclass(frozen=True)
class Catalog:
    recorded: str
    source: str
    instances: dict[str, Instance]
    path: str = ""

    def find(self, type_: str) -> Instance:
        if type_ not in self.instances:
            near = [t for t in self.instances if t.split(".")[0] == type_.split(".")[0]]
            raise NotFoundError(
                f"instance type {type_!r} is not in the catalog",
                f"use one of {', '.join(near[:8]) if near else 'the types `tessera catalog ls` lists'}",
            )
        return self.instances[type_]

    def cheapest_covering(self, cpus: float, memory_mb: int, gpus: int, region: str = DEFAULT_REGION) -> Instance:
        """The cheapest on-demand instance with at least these vCPUs, memory and GPUs."""
        fits = [i for i in self.instances.values()
                if i.vcpus >= cpus and i.memory_gib * 1024 >= memory_mb and i.gpus >= gpus and region in i.regions]
        if not fits:
            raise NotFoundError(f"no catalog instance has {cpus:g} vCPUs, {memory_mb} MB and {gpus} GPUs",
                                "price this machine explicitly with `tessera cost price --usd-per-hour X`")
        return min(fits, key=lambda i: (i.regions[region].on_demand, i.type))

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "source": self.source, "currency": "USD",
                "instances": [i.as_dict() for i in self.instances.values()]}


def parse(doc: dict[str, Any], path: str = "") -> Catalog:
    """Build a catalog from its JSON document; refuses one without date, source or instances."""
    try:
        instances = {}
        for row in doc["instances"]:
            regions = {r: RegionPrice(**p) for r, p in row["regions"].items()}
            inst = Instance(type=row["type"], family=row["family"], vcpus=int(row["vcpus"]),
                            memory_gib=float(row["memory_gib"]), gpus=int(row.get("gpus") or 0),
                            gpu_model=row.get("gpu_model"), gpu_memory_gib=float(row.get("gpu_memory_gib") or 0),
                            regions=regions)
            instances[inst.type] = inst
        return Catalog(recorded=str(doc["recorded"]), source=str(doc["source"]), instances=instances, path=path)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"catalog {path or '(document)'} is malformed: {exc!r}",
                        "delete the file to fall back to the packaged catalog, or run `tessera catalog refresh`") from None


def packaged_path() -> Path:
    return Path(str(resources.files("tessera.cost") / "catalog.json"))


def load(home: Path | None = None) -> Catalog:
    """The refreshed catalog in ``home`` if there is one, else the packaged one; parsed once per
    version of the file (budgets load it at every submit to their project)."""
    path = home / "catalog.json" if home is not None else None
    if path is None or not path.exists():
        path = packaged_path()
    st = path.stat()
    version = (st.st_mtime_ns, st.st_size)
    hit = _loaded.get(str(path))
    if hit is not None and hit[0] == version:
        return hit[1]
    got = parse(json.loads(path.read_text()), str(path))
    _loaded[str(path)] = (version, got)
    return got


_loaded: dict[str, tuple[tuple[int, int], Catalog]] = {}
