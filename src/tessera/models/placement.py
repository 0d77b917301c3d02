"""What a job offers the placer: variants (``cpu:cpus=2``, ``gpu:gpus=1``), a size feature, a goal.

Pure data, validated strictly. ``chosen`` and ``coalesced`` are written by tessera at submit (the
decisions and their figures, for ``tessera explain``); whatever a user puts there is replaced.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tessera.errors import SpecError

_VARIANT_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,31}\Z")
_FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}\Z")
VARIANT_FIX = "write a variant as NAME[:KEY=VALUE,...] with keys cpus, gpus, memory_mb, e.g. --variant gpu:gpus=1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """One way to run the job: its resources. A variant with GPUs runs on the GPU device."""

    name: str
    cpus: Annotated[float, Field(gt=0, le=4096)] = 1.0
    gpus: Annotated[int, Field(ge=0, le=256)] = 0
    memory_mb: Annotated[int, Field(gt=0, le=1 << 26)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _VARIANT_NAME.match(v):
            raise ValueError("a variant name is 1-32 lower-case letters, digits, '_' or '-', starting with a letter")
        return v

    @property
    def device(self) -> str:
        """``gpu`` when the variant holds a GPU, else ``cpu``."""
        return "gpu" if self.gpus > 0 else "cpu"


class PlacementSpec(_Strict):
    """Variants to choose from and how to choose."""

    variants: tuple[Variant, ...] = ()
    size: dict[str, float] = Field(default_factory=dict)
    model: str | None = None  # what runtime history is keyed by; defaults to the kernel or job name
    optimize: Literal["time", "cost"] = "time"
    deadline_s: Annotated[float, Field(gt=0)] | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None
    chosen: dict[str, Any] | None = None
    coalesce: str | None = None  # for arrays: auto, off or N elements per round trip (placement.coalesce)
    coalesced: dict[str, Any] | None = None  # the coalescing decision, written at submit like ``chosen``

    @field_validator("coalesce", mode="before")
    @classmethod
    def _coalesce(cls, v: object) -> str | None:
        from tessera.placement.coalesce import parse_mode

        return None if v is None else parse_mode(v)

    @field_validator("size")
    @classmethod
    def _size(cls, v: dict[str, float]) -> dict[str, float]:
        if len(v) > 1:
            raise ValueError("give one size feature, e.g. n=8000")
        for k, x in v.items():
            if not _FEATURE.match(k) or not (isinstance(x, int | float) and math.isfinite(x) and x > 0):
                raise ValueError(f"size {k}={x!r} must be NAME=positive number")
        return v

    @model_validator(mode="after")
    def _unique(self) -> PlacementSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        return self

    @property
    def size_value(self) -> float | None:
        return next(iter(self.size.values()), None)


def parse_variant(text: str) -> dict[str, Any]:
    """``gpu:gpus=1,cpus=4`` → ``{"name": "gpu", "gpus": 1, "cpus": 4}``. Raises ``SpecError``."""
    name, _, rest = str(text).strip().partition(":")
    out: dict[str, Any] = {"name": name}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        k, sep, v = part.partition("=")
        if not sep or k not in ("cpus", "gpus", "memory_mb"):
            raise SpecError(f"variant {text!r}: {part!r} is not cpus=, gpus= or memory_mb=", VARIANT_FIX)
        try:
            out[k] = float(v) if k == "cpus" else int(v)
        except ValueError:
            raise SpecError(f"variant {text!r}: {k}={v!r} is not a number", VARIANT_FIX) from None
    return out


def parse_size(text: str) -> dict[str, float]:
    """``n=8000`` → ``{"n": 8000.0}``. Raises ``SpecError``."""
    k, sep, v = str(text).partition("=")
    try:
        value = float(v)
    except ValueError:
        value = math.nan
    if not sep or not _FEATURE.match(k) or not (math.isfinite(value) and value > 0):
        raise SpecError(f"size {text!r} is not NAME=positive number", "write the size as e.g. --size n=8000")
    return {k: value}
