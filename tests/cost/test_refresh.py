"""`tessera catalog refresh`: requests and responses against moto's EC2 server (spot price
history) and botocore's Stubber for the Price List API, which moto does not serve."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from botocore.stub import Stubber  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tessera.cost import catalog as cat  # noqa: E402
from tessera.cost import refresh as rf  # noqa: E402
from tests.cost.conftest import cost_cli  # noqa: E402

# One product as GetProducts returns it (its documented shape, trimmed to the fields read).
PRODUCT = {
    "product": {"productFamily": "Compute Instance", "attributes": {"instanceType": "g5.8xlarge",
                                                                    "regionCode": "us-east-1"}},
    "terms": {"OnDemand": {"X.JRTCKXETXF": {"priceDimensions": {"X.JRTCKXETXF.6YS6EN2CT7": {
        "unit": "Hrs", "pricePerUnit": {"USD": "2.4480000000"}, "description": "$2.448 per On Demand Linux"}}}}},
}


@pytest.fixture
def moto_ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_ENDPOINT_URL_EC2": url, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    yield url
    server.stop()


def test_spot_history_from_moto_server(moto_ec2: str) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    spot = rf.fetch_spot(ec2, ["g5.8xlarge", "c5.large"], dt.datetime.now(dt.UTC))
    assert set(spot) == {"g5.8xlarge", "c5.large"}  # moto answers one price per availability zone
    assert all(price > 0 and when for price, when in spot.values())


def test_on_demand_request_and_response_with_the_real_api_model() -> None:
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(pricing) as stub:  # validates our request against botocore's model of the Price List API
        stub.add_response("get_products", {"PriceList": [json.dumps(PRODUCT)], "FormatVersion": "aws_v1"},
                          {"ServiceCode": "AmazonEC2", "Filters": rf.product_filters("g5.8xlarge", "us-east-1"),
                           "MaxResults": 10})
        assert rf.fetch_on_demand(pricing, ["g5.8xlarge"], "us-east-1") == {"g5.8xlarge": 2.448}


def test_parsers_take_the_latest_price_per_zone_and_the_median_across_zones() -> None:
    hist = [{"InstanceType": "m5.large", "AvailabilityZone": "a", "SpotPrice": "0.05", "Timestamp": "2026-01-01"},
            {"InstanceType": "m5.large", "AvailabilityZone": "a", "SpotPrice": "0.03", "Timestamp": "2026-01-02"},
            {"InstanceType": "m5.large", "AvailabilityZone": "b", "SpotPrice": "0.04", "Timestamp": "2026-01-01"},
            {"InstanceType": "m5.large", "AvailabilityZone": "c", "SpotPrice": "0.09", "Timestamp": "2026-01-01"}]
    assert rf.spot_from_history(hist) == {"m5.large": (0.04, "2026-01-02")}
    assert rf.on_demand_from_price_list([]) is None
    new = rf.apply(cat.load(None), "us-east-1", {"m5.large": 0.1}, {"m5.large": (0.04, "2026-01-02")}, "2026-01-03T00")
    p = new.find("m5.large").price("us-east-1")
    assert (p.on_demand, p.spot_rate, new.recorded) == (0.1, 0.04, "2026-01-03") and "Price List" in new.source


def test_cli_refresh_spot_only_writes_the_home_catalog(moto_ec2: str, home: Path) -> None:
    r = CliRunner().invoke(cost_cli(), ["catalog", "refresh", "--spot-only", "--type", "g5.8xlarge"])
    assert r.exit_code == 0, r.output
    refreshed = cat.load(home)
    assert refreshed.path == str(home / "catalog.json") and "DescribeSpotPriceHistory" in refreshed.source
    assert refreshed.find("g5.8xlarge").price("us-east-1").spot is not None
    assert refreshed.find("c5.large").price("us-east-1").spot is None  # not asked for


def test_refresh_errors_say_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tessera.errors import SpecError, TesseraError

    with pytest.raises(SpecError):
        rf.refresh(cat.load(None), "us-east-1", ["nope.large"])
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(TesseraError) as e:
        rf.refresh(cat.load(None), "us-east-1", ["c5.large"], spot_only=True)
    assert "credentials" in e.value.message and "To fix:" in e.value.message
