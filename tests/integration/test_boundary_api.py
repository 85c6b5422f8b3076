"""The boundary decisions over HTTP and on the command line, on SQLite and PostgreSQL:
`GET /api/v1/plant/boundary` for every signed-in role, orders and lots refused with a 422
problem naming the setting, and `shopfloor boundary`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner

from shopfloor.bootstrap import build_runtime
from shopfloor.cli.main import app
from shopfloor.identity.domain import ROLES
from shopfloor.platform.settings import load_settings
from tests.support.api import TEST_SECRET, ApiClient
from tests.support.plant import build_plant

V1 = "/api/v1"
ERP_FEED = {"name": "erp-feed", "transport": "erp", "adapter": "rest"}
ORDER = {"erp_version": 1, "item_code": "WS-100", "quantity": "5", "uom_code": "pcs",
         "due_date": "2026-03-06", "erp_status": "released"}  # fmt: skip


@pytest.fixture
def api_under(db_url: str) -> Iterator[Callable[..., ApiClient]]:
    """Start the API on the WS-100 plant with these settings (boundary decisions…)."""
    from fastapi.testclient import TestClient

    from shopfloor.api.app import create_app

    opened: list[tuple[object, object]] = []
    tokens: dict[str, str] = {}  # users are signed in once, whichever app serves them

    def start(**overrides: object) -> ApiClient:
        settings = load_settings(
            database_url=db_url, secret_key=TEST_SECRET, site="plant-1", **overrides
        )
        runtime = build_runtime(settings)
        with runtime.unit_of_work() as uow:
            if not opened:
                build_plant(uow.session)
            uow.commit()
        client = TestClient(create_app(runtime, background=False), raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, runtime))
        api = ApiClient(client, runtime)
        api._tokens = tokens
        return api

    yield start
    for client, runtime in opened:
        client.__exit__(None, None, None)  # type: ignore[attr-defined]
        runtime.close()  # type: ignore[attr-defined]


def refused_naming(response, setting: str, value: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/rule-violation")
    assert (problem["setting"], problem["value"]) == (setting, value)
    assert f"{setting}={value}" in problem["detail"]


def test_every_signed_in_role_reads_the_seven_decisions(api_under):
    api = api_under(
        order_origin="erp",
        lot_creation="both",
        erp_posting="operation",
        subscribers=json.dumps([ERP_FEED, {**ERP_FEED, "name": "erp-2", "aggregation": "event"}]),
    )
    assert api.client.get(f"{V1}/plant/boundary").status_code == 401
    for role in ROLES:
        response = api.get(f"{V1}/plant/boundary", role=role)
        assert response.status_code == 200, (role, response.text)
    body = response.json()
    values = {d["key"]: d["value"] for d in body["decisions"]}
    assert values == {
        "order_origin": "erp",
        "bom_owner": "erp",
        "lot_creation": "both",
        "erp_posting": "operation",
        "batch_record": "shopfloor",
        "deviations": "shopfloor",
        "finished_goods_cost": "erp",
    }
    lots = body["decisions"][2]
    assert lots["setting"] == "SHOPFLOOR_LOT_CREATION" and not lots["fixed"]
    assert "first use" in lots["meaning"]
    assert body["erp_postings"] == [
        {"subscriber": "erp-feed", "aggregation": "operation", "source": "SHOPFLOOR_ERP_POSTING"},
        {"subscriber": "erp-2", "aggregation": "event", "source": "subscriber"},
    ]


def test_orders_of_an_origin_the_plant_does_not_accept_are_a_422(api_under):
    erp_only = api_under(order_origin="erp")
    unplanned = {**ORDER, "erp_order_id": "MES-1", "origin": "mes"}
    refused = erp_only.post(f"{V1}/orders", role="planner", json=unplanned)
    refused_naming(refused, "SHOPFLOOR_ORDER_ORIGIN", "erp")
    from_erp = {**ORDER, "erp_order_id": "PO-1"}
    assert erp_only.post(f"{V1}/orders", role="integration", json=from_erp).status_code == 201

    floor_only = api_under(order_origin="mes")
    refused = floor_only.post(f"{V1}/orders", role="integration", json={**from_erp,
                              "erp_order_id": "PO-2"})  # fmt: skip
    refused_naming(refused, "SHOPFLOOR_ORDER_ORIGIN", "mes")
    made = floor_only.post(f"{V1}/orders", role="planner", json=unplanned)
    assert made.status_code == 201 and made.json()["origin"] == "mes"
    listed = {o["erp_order_id"] for o in floor_only.get(f"{V1}/orders").json()}
    assert listed == {"PO-1", "MES-1"}


def test_lots_are_refused_where_the_plant_does_not_create_them(api_under):
    erp_lots = api_under(lot_creation="erp")
    floor_cable = {"item_code": "CABLE", "lot_code": "C-1", "origin": "floor"}
    refused = erp_lots.post(f"{V1}/lots", role="supervisor", json=floor_cable)
    refused_naming(refused, "SHOPFLOOR_LOT_CREATION", "erp")
    erp_cable = {**floor_cable, "origin": "erp_receipt"}
    assert erp_lots.post(f"{V1}/lots", role="integration", json=erp_cable).status_code == 200

    floor_lots = api_under(lot_creation="mes")
    refused = floor_lots.post(f"{V1}/lots", role="integration", json={**erp_cable,
                              "lot_code": "C-2"})  # fmt: skip
    refused_naming(refused, "SHOPFLOOR_LOT_CREATION", "mes")
    made = floor_lots.post(f"{V1}/lots", role="supervisor", json={**floor_cable,
                           "lot_code": "C-3"})  # fmt: skip
    assert made.status_code == 200 and made.json()["origin"] == "floor"


def test_the_cli_prints_the_decisions_and_the_effective_erp_posting():
    env = {
        "COLUMNS": "200",
        "SHOPFLOOR_ERP_POSTING": "shift",
        "SHOPFLOOR_SUBSCRIBERS": json.dumps([{**ERP_FEED, "shift_starts": ["06:00", "18:00"]}]),
    }
    runner = CliRunner()
    shown = runner.invoke(app, ["boundary"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "SHOPFLOOR_LOT_CREATION" in shown.output
    assert "ERP subscriber erp-feed: aggregation shift (from SHOPFLOOR_ERP_POSTING)" in shown.output
    as_json = json.loads(runner.invoke(app, ["boundary", "--json"], env=env).output)
    assert [d["value"] for d in as_json["decisions"]] == [
        "both", "erp", "erp", "shift", "shopfloor", "shopfloor", "erp",
    ]  # fmt: skip
    refused = runner.invoke(app, ["boundary"], env={**env, "SHOPFLOOR_BOM_OWNER": "mes"})
    assert refused.exit_code == 1
    assert "SHOPFLOOR_BOM_OWNER is fixed at 'erp'" in refused.output
