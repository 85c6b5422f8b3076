"""The floor through the HTTP API: a qualified operator starts, reports, consumes (overuse
needs a reason), records downtime and labour; progress shows plan against actual;
corrections reverse; Idempotency-Key replays; lots are held and traced; bad input changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopfloor.audit.tables import AuditEntry
from shopfloor.execution.tables import Downtime, LaborRecord, OperationEvent, ProductionReport
from shopfloor.materials.tables import Lot, MaterialMove
from tests.integration.test_api_masterdata import V1, build_plant, count, ok, user_headers
from tests.integration.test_api_orders import receive_order


class Floor:
    """A released order of 20 WS-100 with component lots, and Olga and Nina on shift."""

    def __init__(self, api: Any, erp_status: str = "released") -> None:
        self.api = api
        build_plant(api)
        self.order_id = receive_order(api, erp_status=erp_status)["id"]
        reason = {} if erp_status == "released" else {"reason": "ERP is down, customer waits"}
        ok(api.post(f"{V1}/orders/{self.order_id}/release", role="supervisor", json=reason))
        operations = ok(api.get(f"{V1}/orders/{self.order_id}/operations"))
        self.ops = {op["operation_no"]: op["id"] for op in operations}
        self.lots = {
            item: ok(
                api.post(
                    f"{V1}/lots", role="integration", json={"item_code": item, "lot_code": code}
                )
            )["id"]
            for item, code in (("BOARD", "BRD-1"), ("CABLE", "CBL-1"))
        }
        self.olga = user_headers(api, "olga", ["operator"])
        self.nina = user_headers(api, "nina", ["operator"])

    def post(self, path: str, body: Any = None, who: str = "olga", **kw: Any) -> Any:
        headers = {**getattr(self, who), **kw.pop("headers", {})}
        return self.api.client.post(V1 + path, json=body, headers=headers, **kw)

    def start(self, no: int) -> Any:
        return ok(self.post(f"/operations/{self.ops[no]}/start"))

    def report(self, no: int, **body: Any) -> Any:
        return self.post(f"/operations/{self.ops[no]}/production", body)

    def consume(self, **body: Any) -> Any:
        return self.post(f"/orders/{self.order_id}/consumption", body)

    def progress(self) -> Any:
        return ok(self.api.get(f"{V1}/orders/{self.order_id}", role="operator"))


@pytest.fixture
def floor(api):
    return Floor(api)


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


def test_only_a_qualified_operator_starts(floor):
    refused = floor.post(f"/operations/{floor.ops[10]}/start", who="nina")
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"].endswith("/not-qualified") and "assembly" in problem["detail"]
    assert count(floor.api, OperationEvent) == 0
    assert floor.progress()["operations"][0]["status"] == "dispatched"

    started = floor.start(10)
    assert (started["from_status"], started["to_status"]) == ("dispatched", "running")
    assert floor.progress()["execution_status"] == "running"
    out_of_order = floor.post(f"/operations/{floor.ops[30]}/start")
    assert (
        out_of_order.status_code == 422 and "before operation 20" in out_of_order.json()["detail"]
    )


def test_a_production_report_is_recorded_once_per_idempotency_key(floor):
    floor.start(10)
    body = {"kind": "good", "quantity": "5"}
    key = {"Idempotency-Key": "terminal-7-report-1"}
    first = floor.post(f"/operations/{floor.ops[10]}/production", body, headers=key)
    again = floor.post(f"/operations/{floor.ops[10]}/production", body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = floor.post(
        f"/operations/{floor.ops[10]}/production", {"kind": "good", "quantity": "6"}, headers=key
    )
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert count(floor.api, ProductionReport) == 1
    assert floor.progress()["operations"][0]["good"] == "5"


def test_a_retry_whose_rules_now_fail_gets_the_first_answer(floor):
    """The retried start runs into 'already running' (the first start committed): the
    stored answer is given, and nothing of the retry is kept."""
    key = {"Idempotency-Key": "terminal-7-start-10"}
    first = floor.post(f"/operations/{floor.ops[10]}/start", headers=key)
    audit_entries, events = count(floor.api, AuditEntry), count(floor.api, OperationEvent)
    again = floor.post(f"/operations/{floor.ops[10]}/start", headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert count(floor.api, AuditEntry) == audit_entries
    assert count(floor.api, OperationEvent) == events
    unkeyed = floor.post(f"/operations/{floor.ops[10]}/start")
    assert unkeyed.status_code == 422 and "running" in unkeyed.json()["detail"]


def test_overuse_needs_a_reason_naming_the_norm(floor):
    floor.start(10)
    assert (
        ok(floor.consume(item_code="CABLE", quantity="40", lot_code="CBL-1"), 201)["lot_code"]
        == "CBL-1"
    )
    moves = count(floor.api, MaterialMove)
    over = floor.consume(item_code="CABLE", quantity="2", lot_code="CBL-1")
    assert over.status_code == 422
    assert over.headers["content-type"] == "application/problem+json"
    assert "norm of 40" in over.json()["detail"]
    assert count(floor.api, MaterialMove) == moves
    no_lot = floor.consume(item_code="CABLE", quantity="2")
    assert no_lot.status_code == 422 and "lot-tracked" in no_lot.json()["detail"]

    repair = ok(
        floor.consume(item_code="CABLE", quantity="2", lot_code="CBL-1", overuse_reason="repair"),
        201,
    )
    assert (repair["quantity"], repair["overuse_reason"]) == ("2", "repair")
    cables = next(c for c in floor.progress()["components"] if c["item"] == "CABLE")
    assert (cables["norm"], cables["consumed"], cables["overuse_reasons"]) == (
        "40",
        "42",
        ["repair"],
    )

    returned = ok(
        floor.post(
            f"/orders/{floor.order_id}/returns",
            {"item_code": "CABLE", "quantity": "1", "lot_code": "CBL-1"},
        ),
        201,
    )
    assert returned["kind"] == "return"
    moves = ok(floor.api.get(f"{V1}/orders/{floor.order_id}/moves"))
    assert [m["kind"] for m in moves] == ["consume", "consume", "return"]


def test_the_acceptance_run_shows_plan_against_actual(floor):
    floor.start(10)
    ok(floor.consume(item_code="BOARD", quantity="20", lot_code="BRD-1", into_lot="WS-LOT-1"), 201)
    ok(floor.report(10, kind="good", quantity="20"), 201)
    start = hours_ago(3)
    downtime = ok(
        floor.post(
            "/downtimes",
            {
                "work_center_code": "WC-ASSY",
                "reason_code": "waiting-for-material",
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=40)).isoformat(),
                "order_id": floor.order_id,
                "note": "cable",
            },
        ),
        201,
    )
    assert downtime["minutes"] == "40"
    labor = ok(
        floor.post(
            f"/operations/{floor.ops[10]}/labor",
            {"started_at": hours_ago(2).isoformat(), "ended_at": hours_ago(1).isoformat()},
        ),
        201,
    )
    assert labor["minutes"] == "60"
    ok(floor.post(f"/operations/{floor.ops[10]}/complete"))
    floor.start(20)
    ok(floor.report(20, kind="good", quantity="18"), 201)
    scrap = ok(floor.report(20, kind="scrap", quantity="2", quality_code="defective-board"), 201)
    assert scrap["quality_code_id"] is not None
    ok(floor.post(f"/operations/{floor.ops[20]}/complete"))
    floor.start(30)
    ok(floor.report(30, kind="good", quantity="18", lot_code="WS-LOT-1"), 201)
    ok(floor.post(f"/operations/{floor.ops[30]}/complete"))
    done = ok(floor.api.post(f"{V1}/orders/{floor.order_id}/complete", role="supervisor"))
    assert done["execution_status"] == "completed"

    progress = floor.progress()
    assert (progress["good"], progress["scrap"]) == ("18", "2")
    assert [
        (op["operation_no"], op["good"], op["scrap"], op["status"]) for op in progress["operations"]
    ] == [(10, "20", "0", "completed"), (20, "18", "2", "completed"), (30, "18", "0", "completed")]
    assert progress["downtime_minutes"] == {"waiting-for-material": "40"}
    assert progress["labor_minutes"] == "60"

    forward = ok(floor.api.get(f"{V1}/lots/{floor.lots['BOARD']}/genealogy?direction=forward"))
    assert [(e["item"], e["code"]) for e in forward["entries"]] == [("WS-100", "WS-LOT-1")]
    product = next(lot for lot in ok(floor.api.get(f"{V1}/lots?item_code=WS-100")))
    backward = ok(floor.api.get(f"{V1}/lots/{product['id']}/genealogy"))
    assert [(e["item"], e["code"]) for e in backward["entries"]] == [("BOARD", "BRD-1")]


def test_a_correction_reverses_once_with_a_reason(floor):
    floor.start(10)
    report = ok(floor.report(10, kind="good", quantity="7"), 201)
    body = {"fact": "production", "fact_id": report["id"], "reason": "counted twice"}
    assert floor.api.post(f"{V1}/corrections", role="operator", json=body).status_code == 403
    no_reason = floor.api.post(f"{V1}/corrections", role="supervisor", json={**body, "reason": ""})
    assert no_reason.status_code == 422
    reversal = ok(floor.api.post(f"{V1}/corrections", role="quality", json=body), 201)
    assert (reversal["fact_id"], reversal["quantity"]) == (report["id"], "-7")
    twice = floor.api.post(f"{V1}/corrections", role="supervisor", json=body)
    assert twice.status_code == 422 and "already been reversed" in twice.json()["detail"]
    missing = floor.api.post(
        f"{V1}/corrections", role="supervisor", json={**body, "fact_id": 999999}
    )
    assert missing.status_code == 404
    assert floor.progress()["operations"][0]["good"] == "0"


def test_facts_on_an_order_erp_has_not_released_land_in_the_exceptions_inbox(api):
    floor = Floor(api, erp_status="created")
    floor.start(10)
    ok(floor.report(10, kind="good", quantity="3"), 201)
    inbox = ok(api.get(f"{V1}/exceptions", role="supervisor"))
    assert {(f["fact"], f["discrepancy"]) for f in inbox} == {
        ("operation_event", "erp_not_released"),
        ("production_report", "erp_not_released"),
    }
    assert api.get(f"{V1}/exceptions", role="operator").status_code == 403


def test_lots_are_held_by_quality_and_then_refused(floor):
    cable = floor.lots["CABLE"]
    hold = {"status": "on_hold", "reason": "supplier recall"}
    assert (
        floor.api.post(f"{V1}/lots/{cable}/status", role="supervisor", json=hold).status_code == 403
    )
    held = ok(floor.api.post(f"{V1}/lots/{cable}/status", role="quality", json=hold))
    assert (held["code"], held["status"]) == ("CBL-1", "on_hold")
    assert [lot["code"] for lot in ok(floor.api.get(f"{V1}/lots?status=on_hold"))] == ["CBL-1"]
    floor.start(10)
    refused = floor.consume(item_code="CABLE", quantity="1", lot_code="CBL-1")
    assert refused.status_code == 422 and "on hold" in refused.json()["detail"]
    released = {"status": "released", "reason": "recall does not concern this lot"}
    ok(floor.api.post(f"{V1}/lots/{cable}/status", role="quality", json=released))
    ok(floor.consume(item_code="CABLE", quantity="1", lot_code="CBL-1"), 201)
    detail = ok(floor.api.get(f"{V1}/lots/{cable}", role="operator"))
    assert [(m["kind"], m["quantity"]) for m in detail["moves"]] == [("consume", "1")]
    serial = ok(
        floor.post(
            "/serials", {"item_code": "WS-100", "serial": "SN-0001", "order_id": floor.order_id}
        )
    )
    assert serial["serial"] == "SN-0001"
    assert (
        floor.post(
            "/serials", {"item_code": "WS-100", "serial": "SN-2", "lot_id": 999999}
        ).status_code
        == 404
    )
    assert floor.api.get(f"{V1}/lots/999999").status_code == 404
    assert floor.api.get(f"{V1}/lots/{cable}/genealogy?direction=sideways").status_code == 422


def test_bad_input_is_a_problem_and_changes_nothing(floor):
    floor.start(10)
    tables = (
        ProductionReport,
        MaterialMove,
        LaborRecord,
        Downtime,
        OperationEvent,
        Lot,
        AuditEntry,
    )
    before = {t: count(floor.api, t) for t in tables}
    op = floor.ops[10]
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    for path, body, status in (
        (f"/operations/{op}/production", {"kind": "good", "quantity": "-1"}, 422),
        (f"/operations/{op}/production", {"kind": "good", "quantity": "abc"}, 422),
        (f"/operations/{op}/production", {"kind": "bogus", "quantity": "1"}, 422),
        (f"/operations/{op}/production", {"kind": "good", "quantity": "0.0000001"}, 422),
        (f"/operations/{op}/production", {"kind": "good", "quantity": "21"}, 422),
        (f"/operations/{op}/production", {"kind": "scrap", "quantity": "1"}, 422),
        (
            f"/operations/{op}/production",
            {"kind": "good", "quantity": "1", "occurred_at": "2026-03-02T06:00:00"},
            422,
        ),
        (
            f"/operations/{op}/production",
            {"kind": "good", "quantity": "1", "occurred_at": future},
            422,
        ),
        (
            f"/operations/{op}/production",
            {"kind": "good", "quantity": "1", "quality_code": "nope"},
            422,
        ),
        ("/operations/999999/production", {"kind": "good", "quantity": "1"}, 404),
        (
            f"/operations/{op}/labor",
            {"started_at": hours_ago(1).isoformat(), "ended_at": hours_ago(2).isoformat()},
            422,
        ),
        (
            "/downtimes",
            {
                "work_center_code": "NOPE",
                "reason_code": "material",
                "started_at": hours_ago(2).isoformat(),
                "ended_at": hours_ago(1).isoformat(),
            },
            404,
        ),
        (f"/orders/{floor.order_id}/consumption", {"item_code": "CABLE-X", "quantity": "1"}, 422),
        (f"/orders/{floor.order_id}/returns", {"item_code": "HOUSING", "quantity": "1"}, 422),
        (f"/operations/{op}/pause", {}, 422),
        (f"/operations/{op}/start", {"operator_id": 0}, 422),
    ):
        response = floor.post(path, body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert {t: count(floor.api, t) for t in tables} == before


def test_equipment_under_maintenance_is_out_of_dispatch(floor):
    def dispatch_list(center: str) -> list[Any]:
        return ok(floor.api.get(f"{V1}/work-centers/{center}/dispatch-list", role="operator"))

    assert [e["operation_no"] for e in dispatch_list("WC-ASSY")] == [10]
    maintenance = {"note": "bearing change"}
    started = floor.api.post(f"{V1}/equipment/WC-ASSY/maintenance", role="supervisor",
                             json=maintenance)  # fmt: skip
    ok(started, 201)
    assert dispatch_list("WC-ASSY") == []
    refused = floor.post(f"/operations/{floor.ops[10]}/start")
    assert refused.status_code == 422 and "under maintenance" in refused.json()["detail"]
    assert count(floor.api, OperationEvent) == 0

    ok(floor.api.post(f"{V1}/equipment/WC-ASSY/maintenance/end", role="supervisor", json={}))
    assert [e["operation_no"] for e in dispatch_list("WC-ASSY")] == [10]
    floor.start(10)

    # A line under maintenance stops every work center on it.
    ok(floor.api.post(f"{V1}/equipment/LINE-1/maintenance", role="supervisor", json=maintenance),
       201)  # fmt: skip
    assert dispatch_list("WC-ASSY") == []
