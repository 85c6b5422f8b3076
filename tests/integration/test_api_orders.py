"""Production orders through the HTTP API: received from ERP (idempotent on ERP version),
listed, released, aborted; the dispatch list of a work center."""

from __future__ import annotations

from typing import Any

from shopfloor.audit.tables import AuditEntry
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from tests.integration.test_api_masterdata import V1, build_plant, count, ok

ORDER = {
    "erp_order_id": "PO-4711",
    "erp_version": 1,
    "item_code": "WS-100",
    "quantity": "20",
    "uom_code": "pcs",
    "due_date": "2026-03-06",
    "priority": 5,
    "erp_status": "released",
}


def receive_order(api: Any, **changes: Any) -> dict[str, Any]:
    """ERP pushes an order (created: 201)."""
    return ok(api.post(f"{V1}/orders", role="integration", json={**ORDER, **changes}), 201)


def test_erp_order_is_received_once_per_version(api):
    build_plant(api)
    order = receive_order(api)
    assert (order["erp_order_id"], order["execution_status"], order["erp_status"]) == (
        "PO-4711",
        "queued",
        "released",
    )
    assert (order["bom_version"], order["routing_version"], order["quantity"]) == ("B1", "R1", "20")

    same = api.post(f"{V1}/orders", role="integration", json=ORDER)
    assert same.status_code == 200 and same.json() == order
    newer = ok(
        api.post(
            f"{V1}/orders",
            role="planner",
            json={**ORDER, "erp_version": 2, "priority": 1, "quantity": "25"},
        )
    )
    assert (newer["id"], newer["priority"], newer["quantity"]) == (order["id"], 1, "25")
    stale = api.post(
        f"{V1}/orders", role="integration", json={**ORDER, "erp_version": 1, "priority": 9}
    )
    assert stale.status_code == 409 and "stale" in stale.json()["detail"]
    assert count(api, ProductionOrder) == 1
    assert count(api, Operation) == 3 and count(api, OrderComponent) == 5

    detail = ok(api.get(f"{V1}/orders/{order['id']}", role="operator"))
    cables = next(c for c in detail["components"] if c["item"] == "CABLE")
    assert (cables["norm"], cables["consumed"]) == ("50", "0")
    assert [op["planned"] for op in detail["operations"]] == ["25"] * 3


def test_listing_filters_and_pages(api):
    build_plant(api)
    for n in range(3):
        receive_order(
            api,
            erp_order_id=f"PO-{n}",
            due_date=f"2026-03-0{n + 1}",
            erp_status="created" if n else "released",
        )
    everyone = ok(api.get(f"{V1}/orders", role="operator"))
    assert [o["erp_order_id"] for o in everyone] == ["PO-0", "PO-1", "PO-2"]
    created = ok(api.get(f"{V1}/orders?erp_status=created"))
    assert [o["erp_order_id"] for o in created] == ["PO-1", "PO-2"]
    page = ok(api.get(f"{V1}/orders?limit=1&offset=1"))
    assert [o["erp_order_id"] for o in page] == ["PO-1"]
    assert ok(api.get(f"{V1}/orders?execution_status=running")) == []
    for bad in ("limit=501", "limit=0", "offset=-1", "execution_status=done", "erp_status=x"):
        response = api.get(f"{V1}/orders?{bad}")
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"


def test_release_dispatches_and_abort_needs_a_reason(api):
    build_plant(api)
    order = receive_order(api)
    order_id = order["id"]
    assert ok(api.get(f"{V1}/work-centers/WC-ASSY/dispatch-list")) == []
    assert api.post(f"{V1}/orders/{order_id}/release", role="operator").status_code == 403

    released = ok(api.post(f"{V1}/orders/{order_id}/release", role="supervisor"))
    assert released["execution_status"] == "dispatched" and released["released_at"]
    operations = ok(api.get(f"{V1}/orders/{order_id}/operations", role="operator"))
    assert [(op["operation_no"], op["status"]) for op in operations] == [
        (10, "dispatched"),
        (20, "dispatched"),
        (30, "dispatched"),
    ]
    dispatch = ok(api.get(f"{V1}/work-centers/WC-ASSY/dispatch-list", role="operator"))
    assert [(d["erp_order_id"], d["operation_no"], d["required_skill_code"]) for d in dispatch] == [
        ("PO-4711", 10, "assembly")
    ]
    twice = api.post(f"{V1}/orders/{order_id}/release", role="planner")
    assert twice.status_code == 422 and twice.json()["type"].endswith("/invalid-transition")

    audit_before = count(api, AuditEntry)
    no_reason = api.post(f"{V1}/orders/{order_id}/abort", role="planner", json={})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    assert count(api, AuditEntry) == audit_before
    aborted = ok(
        api.post(
            f"{V1}/orders/{order_id}/abort", role="planner", json={"reason": "customer cancelled"}
        )
    )
    assert aborted["execution_status"] == "aborted"
    assert ok(api.get(f"{V1}/work-centers/WC-ASSY/dispatch-list")) == []
    assert {op["status"] for op in ok(api.get(f"{V1}/orders/{order_id}/operations"))} == {"aborted"}


def test_an_order_erp_has_not_released_goes_to_the_floor_only_with_a_reason(api):
    build_plant(api)
    order = receive_order(api, erp_status="created")
    refused = api.post(f"{V1}/orders/{order['id']}/release", role="supervisor")
    assert refused.status_code == 422 and "needs a reason" in refused.json()["detail"]
    released = ok(
        api.post(
            f"{V1}/orders/{order['id']}/release",
            role="supervisor",
            json={"reason": "ERP is down; customer is waiting"},
        )
    )
    assert released["execution_status"] == "dispatched"


def test_bad_orders_are_refused_and_nothing_is_recorded(api):
    build_plant(api)
    for changes, status in (
        ({"item_code": "NOPE"}, 404),
        ({"quantity": "0"}, 422),
        ({"quantity": "1e40"}, 422),
        ({"priority": 10}, 422),
        ({"erp_status": "archived"}, 422),
        ({"due_date": "20260306"}, 422),
        ({"erp_order_id": "PO\x00"}, 422),
        ({"uom_code": "m"}, 422),
    ):
        response = api.post(f"{V1}/orders", role="integration", json={**ORDER, **changes})
        assert response.status_code == status, (changes, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert api.post(f"{V1}/orders", role="operator", json=ORDER).status_code == 403
    assert count(api, ProductionOrder) == 0
    for path in ("/orders/999999", "/orders/999999/operations", "/orders/999999/moves"):
        assert api.get(V1 + path).status_code == 404
    assert api.get(f"{V1}/orders/0").status_code == 422
    assert api.get(f"{V1}/orders/{2**40}").status_code == 422
    assert api.get(f"{V1}/work-centers/NOPE/dispatch-list").status_code == 404
    assert api.post(f"{V1}/orders/999999/release", role="planner").status_code == 404
