"""Refresh catalog prices from AWS: the Price List API (on-demand) and EC2 spot price history.

Needs boto3 (``pip install 'tessera[aws]'``) and AWS credentials; endpoints follow boto3's own
settings (``AWS_ENDPOINT_URL_EC2`` and the like), which is how the tests point it at moto.
The parsing functions are pure and take the API's documents as they come.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tessera.cost.catalog import Catalog, Instance, RegionPrice
from tessera.errors import SpecError, TesseraError

PRICING_REGION = "us-east-1"  # the Price List API answers from a few regions only


def product_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """Filters that select one Linux, shared-tenancy, on-demand EC2 instance type in a region."""
    fields = {"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
              "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def on_demand_from_price_list(price_list: Iterable[str]) -> float | None:
    """The hourly USD price in ``GetProducts``' ``PriceList`` (JSON strings), or None."""
    for item in price_list:
        doc = json.loads(item)
        for term in doc.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = dim.get("pricePerUnit", {}).get("USD")
                if dim.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                    return float(usd)
    return None


def spot_from_history(history: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, str]]:
    """Per instance type: the median across availability zones of each zone's latest spot price,
    and the time of the newest price read."""
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    for h in history:
        ts = h["Timestamp"]
        when = ts.isoformat() if isinstance(ts, dt.datetime) else str(ts)
        key = (str(h["InstanceType"]), str(h.get("AvailabilityZone", "")))
        if key not in latest or when > latest[key][0]:
            latest[key] = (when, float(h["SpotPrice"]))
    by_type: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (itype, _az), v in latest.items():
        by_type[itype].append(v)
    return {t: (statistics.median(p for _, p in v), max(w for w, _ in v)) for t, v in by_type.items()}


def fetch_on_demand(pricing: Any, types: Sequence[str], region: str) -> dict[str, float]:
    out = {}
    for t in types:
        resp = pricing.get_products(ServiceCode="AmazonEC2", Filters=product_filters(t, region), MaxResults=10)
        price = on_demand_from_price_list(resp.get("PriceList", []))
        if price is not None:
            out[t] = price
    return out


def fetch_spot(ec2: Any, types: Sequence[str], now: dt.datetime) -> dict[str, tuple[float, str]]:
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=list(types), ProductDescriptions=["Linux/UNIX"], StartTime=now)
    return spot_from_history(h for page in pages for h in page.get("SpotPriceHistory", []))


def apply(catalog: Catalog, region: str, on_demand: Mapping[str, float], spot: Mapping[str, tuple[float, str]],
          fetched_at: str) -> Catalog:
    """A new catalog with the prices read, recording where and when they came from."""
    instances: dict[str, Instance] = {}
    for name, inst in catalog.instances.items():
        old = inst.regions.get(region)
        od = on_demand.get(name, old.on_demand if old else None)
        if od is None:
            instances[name] = inst
            continue
        price = RegionPrice(on_demand=od, spot_discount=old.spot_discount if old else None)
        if name in spot:
            price = replace(price, spot=spot[name][0], spot_at=spot[name][1])
        instances[name] = replace(inst, regions={**inst.regions, region: price})
    what = []
    if on_demand:
        what.append(f"on-demand prices of {len(on_demand)} types from the AWS Price List API")
    if spot:
        what.append(f"spot prices of {len(spot)} types from EC2 DescribeSpotPriceHistory")
    source = f"{'; '.join(what) or 'nothing new'} ({region}, fetched {fetched_at}); the rest: {catalog.source}"
    return Catalog(recorded=fetched_at[:10], source=source[:2000], instances=instances)


def refresh(catalog: Catalog, region: str, types: Sequence[str] | None = None, spot_only: bool = False,
            session: Any = None) -> Catalog:
    """Read current prices for ``types`` (default: every type in the catalog) in ``region``."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:
        raise TesseraError("refreshing prices needs boto3", "pip install 'tessera[aws]'") from None
    unknown = [t for t in types or [] if t not in catalog.instances]
    if unknown:
        raise SpecError(f"unknown instance types: {', '.join(unknown)}", "name types `tessera catalog ls` lists")
    types = list(types or catalog.instances)
    session = session or boto3.session.Session()
    now = dt.datetime.now(dt.UTC)
    try:
        on_demand = {} if spot_only else fetch_on_demand(session.client("pricing", region_name=PRICING_REGION),
                                                         types, region)
        spot = fetch_spot(session.client("ec2", region_name=region), types, now)
    except NoCredentialsError:
        raise TesseraError("no AWS credentials found",
                           "configure them (`aws configure`, AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET)") from None
    except (BotoCoreError, ClientError) as exc:
        raise TesseraError(f"AWS refused the price request: {exc}",
                           "check the region and that the credentials may call pricing:GetProducts and "
                           "ec2:DescribeSpotPriceHistory") from None
    return apply(catalog, region, on_demand, spot, now.isoformat(timespec="seconds"))
