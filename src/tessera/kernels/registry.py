"""The kernel registry: every built-in kernel by name."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from tessera.errors import SpecError
from tessera.kernels import blur, image, matmul, mc_option, pressure, wave
from tessera.kernels._base import Kernel

logger = logging.getLogger(__name__)

#: Read-only mapping of kernel name to ``Kernel``.
REGISTRY: Mapping[str, Kernel] = MappingProxyType(
    {
        k.name: k
        for k in (
            matmul.KERNEL,
            image.KERNEL,
            blur.KERNEL,
            wave.KERNEL,
            mc_option.KERNEL,
            pressure.KERNEL,
        )
    }
)


def names() -> list[str]:
    """Every registered kernel name, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> Kernel:
    """The kernel called ``name``.

    Raises:
        SpecError: no kernel has that name; the message lists every valid one.
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise SpecError(
            f"unknown kernel {name!r}; the kernels are: {', '.join(names())}",
            f"use one of: {', '.join(names())}",
            kernel=name,
        ) from None
