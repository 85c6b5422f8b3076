"""The acceptance scenario of the design, played through the HTTP API end to end.

ERP (here: API calls of an integration client) sends an order for 20 WS-100 with BOM B1
(1 housing, 1 board, 2 cables, 8 fasteners, 1 packaging per unit) and routing R1
(10 assembly → 20 test → 30 pack). On the floor operation 10 stops 40 minutes for want of
cable, the test fails 2 units with "defective board" and both are scrapped after a repair
attempt that used 2 extra cables, and 18 good units are packed.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select

from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry
from shopfloor.execution.tables import ProductionReport
from shopfloor.masterdata.tables import QualityCode
from shopfloor.platform.outbox import OutboxEvent

V1 = "/api/v1"
T0 = "2026-03-02T06:{:02d}:00Z"


def ok(response, status=(200, 201)):
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), (
        response.text
    )
    return response.json()


def set_up_plant(api) -> None:
    post = lambda path, body, role="planner": ok(api.post(V1 + path, role=role, json=body))  # noqa: E731
    post("/uoms", {"code": "pcs", "name": "pieces", "dimension": "count"})
    for code, level, parent in (
        ("ACME", "enterprise", None),
        ("SITE-1", "site", "ACME"),
        ("AREA-1", "area", "SITE-1"),
        ("LINE-1", "line", "AREA-1"),
        ("WC-ASSY", "work_center", "LINE-1"),
        ("WC-TEST", "work_center", "LINE-1"),
        ("WC-PACK", "work_center", "LINE-1"),
    ):
        post(
            "/equipment",
            {"code": code, "name": code.lower(), "level": level, "parent_code": parent},
        )
    for skill in ("assembly", "testing", "packing"):
        post("/skills", {"code": skill, "name": skill})
    for code, lot_tracked in (
        ("WS-100", True),
        ("HOUSING", False),
        ("BOARD", True),
        ("CABLE", True),
        ("FASTENER", False),
        ("PACKAGING", False),
    ):
        post(
            "/items",
            {"code": code, "name": code.lower(), "uom_code": "pcs", "lot_tracked": lot_tracked},
        )
    lines = [
        ("HOUSING", 1, 10),
        ("BOARD", 1, 10),
        ("CABLE", 2, 10),
        ("FASTENER", 8, 10),
        ("PACKAGING", 1, 30),
    ]
    post(
        "/items/WS-100/boms",
        {
            "version": "B1",
            "effective_from": "2026-01-01",
            "lines": [
                {
                    "line_no": n * 10,
                    "item_code": c,
                    "quantity": str(q),
                    "uom_code": "pcs",
                    "operation_no": op,
                }
                for n, (c, q, op) in enumerate(lines, start=1)
            ],
        },
    )
    post(
        "/items/WS-100/routings",
        {
            "version": "R1",
            "effective_from": "2026-01-01",
            "operations": [
                {
                    "operation_no": 10,
                    "name": "assembly",
                    "work_center_code": "WC-ASSY",
                    "ideal_cycle_seconds": "120",
                    "required_skill_code": "assembly",
                },
                {
                    "operation_no": 20,
                    "name": "test",
                    "work_center_code": "WC-TEST",
                    "ideal_cycle_seconds": "60",
                    "required_skill_code": "testing",
                },
                {
                    "operation_no": 30,
                    "name": "pack",
                    "work_center_code": "WC-PACK",
                    "ideal_cycle_seconds": "30",
                    "required_skill_code": "packing",
                },
            ],
        },
    )
    post("/downtime-reasons", {"code": "material", "name": "material", "level": "category"})
    post(
        "/downtime-reasons",
        {
            "code": "waiting-for-material",
            "name": "waiting for material",
            "level": "reason",
            "parent_code": "material",
            "planned": False,
        },
    )
    post("/quality-codes", {"code": "defective-board", "name": "defective board", "kind": "defect"})
    api.add_user("olga", ["operator"], "Olga Operator")
    for skill in ("assembly", "testing", "packing"):
        post(
            "/certifications", {"username": "olga", "skill_code": skill, "valid_from": "2025-01-01"}
        )
    for item, lot in (("BOARD", "BRD-0301"), ("CABLE", "CBL-0217"), ("CABLE", "CBL-0218")):
        post("/lots", {"item_code": item, "lot_code": lot}, role="integration")


def test_ws100_order_from_erp_to_18_good(api):
    set_up_plant(api)
    olga = {"Authorization": f"Bearer {api.token('olga')}"}

    def floor(path, body, key=None):
        headers = {**olga, **({"Idempotency-Key": key} if key else {})}
        return ok(api.client.post(V1 + path, json=body, headers=headers))

    order = ok(
        api.post(
            V1 + "/orders",
            role="integration",
            json={
                "erp_order_id": "PO-1001",
                "erp_version": 1,
                "item_code": "WS-100",
                "quantity": "20",
                "uom_code": "pcs",
                "due_date": "2026-03-06",
                "priority": 2,
                "erp_status": "released",
                "bom_version": "B1",
                "routing_version": "R1",
            },
        )
    )
    order_id = order["id"]
    ok(api.post(f"{V1}/orders/{order_id}/release", role="supervisor", json={}))
    ops = {op["operation_no"]: op["id"] for op in ok(api.get(f"{V1}/orders/{order_id}/operations"))}

    # Operation 10: assembly, 40 minutes waiting for cable, 20 assembled.
    floor(f"/operations/{ops[10]}/start", {"at": T0.format(0)})
    for item, qty, lot in (
        ("HOUSING", 20, None),
        ("BOARD", 20, "BRD-0301"),
        ("CABLE", 24, "CBL-0217"),
        ("FASTENER", 160, None),
    ):
        floor(
            f"/orders/{order_id}/consumption",
            {"item_code": item, "quantity": str(qty), "lot_code": lot, "into_lot": "WS-L1"},
        )
    floor(
        "/downtimes",
        {
            "work_center_code": "WC-ASSY",
            "reason_code": "waiting-for-material",
            "started_at": T0.format(10),
            "ended_at": T0.format(50),
            "order_id": order_id,
            "operation_id": ops[10],
            "note": "cable lot CBL-0218 late from stores",
        },
    )
    floor(
        f"/orders/{order_id}/consumption",
        {"item_code": "CABLE", "quantity": "16", "lot_code": "CBL-0218", "into_lot": "WS-L1"},
    )
    report = {"kind": "good", "quantity": "20"}
    first = floor(f"/operations/{ops[10]}/production", report, key="op10-good-20")
    again = floor(f"/operations/{ops[10]}/production", report, key="op10-good-20")  # a retry
    assert first == again
    floor(f"/operations/{ops[10]}/complete", {})

    # Operation 20: test; 2 fail on the board, a repair attempt uses 2 more cables, scrapped.
    floor(f"/operations/{ops[20]}/start", {})
    refused = api.client.post(
        f"{V1}/orders/{order_id}/consumption",
        headers=olga,
        json={"item_code": "CABLE", "quantity": "2", "lot_code": "CBL-0218"},
    )
    assert refused.status_code == 422 and "norm" in refused.json()["detail"]
    floor(
        f"/orders/{order_id}/consumption",
        {"item_code": "CABLE", "quantity": "2", "lot_code": "CBL-0218", "overuse_reason": "repair"},
    )
    floor(
        f"/operations/{ops[20]}/production",
        {
            "kind": "scrap",
            "quantity": "2",
            "quality_code": "defective-board",
            "reason": "repair failed",
        },
    )
    floor(f"/operations/{ops[20]}/production", {"kind": "good", "quantity": "18"})
    floor(f"/operations/{ops[20]}/complete", {})

    # Operation 30: pack 18 into product lot WS-L1.
    floor(f"/operations/{ops[30]}/start", {})
    floor(f"/orders/{order_id}/consumption", {"item_code": "PACKAGING", "quantity": "18"})
    floor(
        f"/operations/{ops[30]}/production", {"kind": "good", "quantity": "18", "lot_code": "WS-L1"}
    )
    floor(f"/operations/{ops[30]}/complete", {})
    ok(api.post(f"{V1}/orders/{order_id}/complete", role="supervisor", json={}))

    detail = ok(api.get(f"{V1}/orders/{order_id}"))
    assert detail["execution_status"] == "completed"
    assert Decimal(detail["good"]) == 18 and Decimal(detail["scrap"]) == 2
    cable = next(c for c in detail["components"] if c["item"] == "CABLE")
    assert (Decimal(cable["norm"]), Decimal(cable["consumed"])) == (40, 42)
    assert cable["overuse_reasons"] == ["repair"]
    assert {k: Decimal(v) for k, v in detail["downtime_minutes"].items()} == {
        "waiting-for-material": 40
    }

    with api.runtime.sessions() as session:
        scrap = session.execute(
            select(ProductionReport.quantity, QualityCode.name)
            .join(QualityCode, QualityCode.id == ProductionReport.quality_code_id)
            .where(ProductionReport.kind == "scrap")
        ).all()
        assert scrap == [(Decimal(2), "defective board")]
        events = session.scalars(select(OutboxEvent)).all()
        kinds = Counter(e.type for e in events)
        assert len({e.event_id for e in events}) == len(events)
        assert kinds["production.reported"] == 4  # the retried report is not there twice
        assert kinds["material.consumed"] == 7
        assert kinds["downtime.recorded"] == 1
        assert kinds["operation.started"] == kinds["operation.completed"] == 3
        assert kinds["work_order.completed"] == kinds["work_order.released_to_floor"] == 1
        assert all(
            e.glue.get("erp_order_id") == "PO-1001" for e in events if e.type != "lot.created"
        )
        reports = session.scalars(select(ProductionReport.id)).all()
        for report_id in reports:
            trail = audit.trail(session, "production_report", report_id)
            assert [e.action for e in trail] == ["production.reported"]
        assert all(e.actor_name == "Olga Operator" for e in trail)
    with api.runtime.unit_of_work() as uow:
        audit.seal(uow.session)
        uow.commit()
    with api.runtime.sessions() as session:
        count, breaks = audit.verify(session)
        assert breaks == [] and count == session.query(AuditEntry).count()

    lots = {lot["code"]: lot["id"] for lot in ok(api.get(f"{V1}/lots"))}
    genealogy = ok(
        api.get(f"{V1}/lots/{lots['WS-L1']}/genealogy", params={"direction": "backward"})
    )
    named = str(genealogy)
    for lot in ("BRD-0301", "CBL-0217", "CBL-0218"):
        assert lot in named
