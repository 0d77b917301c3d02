"""A built-in instance price table (until the cost catalog exists) and cost per run."""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PRICE_SOURCE = "AWS EC2 On-Demand pricing page, region us-east-1, Linux (recorded 2026-11-21)"


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
    "cpu": Price("cpu", "r5.4xlarge", 1.008),
    "cuda": Price("cuda", "g5.8xlarge", 2.448),
}


def price_for(device: str) -> Price:
    """The price that applies to a device (``cpu`` or ``cuda[:N]``)."""
    return PRICES["cpu" if device.startswith("cpu") else "cuda"]
