"""`--live-prices` against a local fake of the AWS Price List API.

moto has no Price List API, so a small HTTP server on 127.0.0.1 answers
`AWSPriceListService.GetProducts` in the real JSON protocol and a real boto3
client talks to it; the server records what was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from bot.cost.estimate import StackInput, price_stacks
from bot.cost.live import LivePriceError, live_table, needed_products, on_demand_usd
from bot.cost.prices import load_embedded
from bot.cost.usage import UsageValues
from bot.repo.templates import Template

FAKE_PRICES = {"t3a.xlarge": "0.1600000000", "z9.mega": "1.2345000000"}


def product(itype: str, usd: str) -> str:
    return json.dumps({
        "product": {"attributes": {"instanceType": itype, "regionCode": "us-east-1"}},
        "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {
            "SKU.TERM.RATE": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}},
    })  # fmt: skip


class FakePricing(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []
    deny = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        target = self.headers.get("X-Amz-Target")
        type(self).calls.append({"target": target, **body})
        if type(self).deny:
            self._send(400, {"__type": "AccessDeniedException", "message": "denied"})
            return
        filters = {f["Field"]: f["Value"] for f in body["Filters"]}
        itype = filters["instanceType"]
        items = [product(itype, FAKE_PRICES[itype])] if itype in FAKE_PRICES else []
        self._send(200, {"FormatVersion": "aws_v1", "PriceList": items})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    FakePricing.calls = []
    FakePricing.deny = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePricing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(endpoint: str) -> Any:
    return boto3.client(
        "pricing", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def nodes(itype: str) -> Any:
    body = {"Resources": {"Ng": {"Type": "AWS::EKS::Nodegroup", "Properties": {
        "InstanceTypes": [itype], "DiskSize": 20, "ScalingConfig": {"DesiredSize": 2}}}}}  # fmt: skip
    return [StackInput("s", Template(Path("t.yaml"), body), "t.yaml")]


def price(itype: str, table: Any) -> Any:
    (est,) = price_stacks(nodes(itype), UsageValues(), table, date(2026, 11, 23))
    return est.items[0]


def test_live_prices_overlay_and_cache(client: Any, tmp_path: Path) -> None:
    embedded = load_embedded()
    cache = tmp_path / "prices.json"
    first = [price("t3a.xlarge", embedded), price("z9.mega", embedded)]
    assert first[1].monthly == 0 and first[1].wanted == ("ec2:z9.mega",)
    wanted = needed_products(first)
    assert wanted == {"ec2:t3a.xlarge", "ec2:z9.mega"}
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    table = live_table(embedded, wanted, client, cache, now)
    assert [c["target"] for c in FakePricing.calls] == ["AWSPriceListService.GetProducts"] * 2
    asked = {f["Field"]: f["Value"] for f in FakePricing.calls[0]["Filters"]}
    assert asked["operatingSystem"] == "Linux" and asked["regionCode"] == "us-east-1"
    # 2 nodes x 730 h x $0.16 (live) + 2 x 20 GB x $0.08
    assert price("t3a.xlarge", table).monthly == pytest.approx(2 * 730 * 0.16 + 3.2)
    assert price("z9.mega", table).monthly == pytest.approx(2 * 730 * 1.2345 + 3.2)
    assert "AWS Price List API" in table.overlays[0]
    assert json.loads(cache.read_text())["ec2"]["z9.mega"]["usd"] == 1.2345
    # a second run within a week is served from the cache
    again = live_table(embedded, wanted, client, cache, now + timedelta(days=1))
    assert len(FakePricing.calls) == 2 and again.ec2["t3a.xlarge"] == 0.16
    # after a week the cache is stale and asked again
    live_table(embedded, wanted, client, cache, now + timedelta(days=8))
    assert len(FakePricing.calls) == 4


def test_unknown_product_keeps_the_embedded_table(client: Any, tmp_path: Path) -> None:
    table = live_table(load_embedded(), {"ec2:q1.none"}, client, tmp_path / "c.json")
    assert table.overlays == () and "q1.none" not in table.ec2


def test_denied_is_a_clear_error(client: Any, tmp_path: Path) -> None:
    FakePricing.deny = True
    with pytest.raises(LivePriceError, match="AccessDenied"):
        live_table(load_embedded(), {"ec2:m5.large"}, client, tmp_path / "c.json")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (product("m5.large", "0.0960000000"), 0.096),
        ("not json", None),
        (json.dumps({"terms": {}}), None),
    ],
)
def test_on_demand_usd(item: str, expected: float | None) -> None:
    assert on_demand_usd(item) == expected


def test_cli_live_prices(
    endpoint: str, make_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    root = make_repo({
        "stacks/box.yaml": "Resources:\n  Box:\n    Type: AWS::EC2::Instance\n"
                           "    Properties:\n      InstanceType: z9.mega\n",
    })  # fmt: skip
    home = tmp_path / "home"
    for key, value in {"AWS_ENDPOINT_URL_PRICING": endpoint, "HOME": str(home),
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"
                       }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    args = ["cost", str(root / "stacks/box.yaml"), "--format", "json", "--date", "2026-11-23"]
    offline = CliRunner().invoke(app, args)
    assert json.loads(offline.stdout)["environments"][0]["monthly_after"] == 0
    result = CliRunner().invoke(app, [*args, "--live-prices"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # 730 h x $1.2345 (live) + the AMI's 8 GB gp3 root x $0.08
    assert doc["environments"][0]["monthly_after"] == pytest.approx(730 * 1.2345 + 0.64, abs=0.01)
    assert doc["price_table"]["live_overlays"][0].startswith("AWS Price List API (1 fetched")
    assert (home / ".cache/infra-bot/prices.json").is_file()
