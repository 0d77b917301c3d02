"""The prices that stand for each device kind in benchmark reports (from the instance catalog)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tessera.cost.catalog import load as _load_catalog

logger = logging.getLogger(__name__)

_CATALOG = _load_catalog(None)  # the packaged catalog: reports stay comparable whatever was refreshed
PRICE_SOURCE = f"tessera's instance catalog, us-east-1 on-demand (recorded {_CATALOG.recorded}): {_CATALOG.source}"


@dataclass(frozen=True)
class Price:
    """The hourly price of the instance that stands for one device kind.

    Attributes:
        device_kind: ``cpu`` or ``cuda``.
        instance: the EC2 instance type of the seed benchmark.
        usd_per_hour: on-demand price.
        source: where and when the price was read.
    """

    device_kind: str
    instance: str
    usd_per_hour: float
    source: str = PRICE_SOURCE

    def cost_usd(self, seconds: float) -> float:
        """Dollars for ``seconds`` of this instance, billed per second."""
        return self.usd_per_hour * seconds / 3600.0


#: CPU work is priced as an r5.4xlarge, GPU work as a g5.8xlarge (the seed's two instances).
PRICES: dict[str, Price] = {
    kind: Price(kind, itype, _CATALOG.find(itype).rate())
    for kind, itype in (("cpu", "r5.4xlarge"), ("cuda", "g5.8xlarge"))
}


def price_for(device: str) -> Price:
    """The price that applies to a device (``cpu`` or ``cuda[:N]``)."""
    return PRICES["cpu" if device.startswith("cpu") else "cuda"]
