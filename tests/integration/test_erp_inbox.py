"""The ERP inbox on SQLite and PostgreSQL: pushed over HTTP and received in the service.

Each document is filed once per (source, message id), applied through the same services as
`shopfloor import`, kept waiting while its item, BOM or routing version is missing, and
rejected alone when the plant's rules refuse it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from shopfloor.integration.erp.ports import InboundDocument
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.inbox.tables import InboxDocument
from shopfloor.kernel.context import CommandContext
from shopfloor.masterdata.tables import Bom, Item
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from tests.support.plant import NOW, build_plant

V1 = "/api/v1"
INBOX = f"{V1}/erp/inbox"


def order_doc(message_id: str = "PO-4711-v1", **changes: Any) -> dict[str, Any]:
    fields = {
        "erp_order_id": "PO-4711",
        "erp_version": 1,
        "item": "WS-100",
        "quantity": 20,
        "uom": "pcs",
        "due_date": "2026-03-06",
        "erp_status": "released",
        "bom_version": "B1",
        "routing_version": "R1",
    }
    return {"message_id": message_id, "kind": "order", "fields": {**fields, **changes}}


def bom_doc(version: str = "B2", message_id: str | None = None) -> dict[str, Any]:
    lines = [
        {"line_no": 10, "item": "HOUSING", "quantity": 1, "uom": "pcs", "operation_no": 10},
        {"line_no": 20, "item": "BOARD", "quantity": 1, "uom": "pcs", "operation_no": 10},
        {"line_no": 30, "item": "CABLE", "quantity": 2, "uom": "pcs", "operation_no": 10},
    ]
    return {
        "message_id": message_id or f"BOM-WS-100-{version}",
        "kind": "bom",
        "fields": {"item": "WS-100", "version": version, "effective_from": "2026-01-01",
                   "lines": lines},
    }  # fmt: skip


def item_doc(code: str, message_id: str | None = None, **changes: Any) -> dict[str, Any]:
    fields = {"code": code, "name": code.lower(), "uom": "pcs", **changes}
    return {"message_id": message_id or f"ITEM-{code}", "kind": "item", "fields": fields}


def docs(*entries: dict[str, Any]) -> list[InboundDocument]:
    return [InboundDocument(e["message_id"], e["kind"], e["fields"]) for e in entries]


def plant_in(runtime: Any) -> None:
    with runtime.unit_of_work() as uow:
        build_plant(uow.session)
        uow.commit()


def count(runtime: Any, table: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def push(api: Any, *entries: dict[str, Any], key: str | None = None, role: str = "integration"):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(INBOX, role=role, json={"documents": list(entries)}, headers=headers)


# --- over HTTP ----------------------------------------------------------------------------


def test_the_same_order_pushed_three_times_with_one_key_is_one_order(api):
    plant_in(api.runtime)
    first = push(api, order_doc(), key="push-1")
    assert first.status_code == 200, first.text
    assert first.json()["applied"] == 1
    assert first.json()["documents"][0] == {
        "message_id": "PO-4711-v1",
        "kind": "orders",
        "key": "PO-4711",
        "outcome": "applied",
        "status": "applied",
        "detail": None,
    }
    for _ in range(2):
        again = push(api, order_doc(), key="push-1")
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
    assert count(api.runtime, ProductionOrder) == 1
    assert count(api.runtime, Operation) == 3 and count(api.runtime, OrderComponent) == 5
    assert count(api.runtime, InboxDocument) == 1


def test_the_same_key_with_another_body_is_refused(api):
    plant_in(api.runtime)
    assert push(api, order_doc(), key="push-2").status_code == 200
    other = push(api, order_doc(quantity=25), key="push-2")
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    with api.runtime.sessions() as session:
        order = session.scalar(select(ProductionOrder))
        assert order is not None and order.quantity == 20


def test_two_keys_for_the_same_erp_order_and_version_still_make_one_order(api):
    plant_in(api.runtime)
    first = push(api, order_doc("msg-a"), key="key-a").json()
    repeat = push(api, order_doc("msg-a"), key="key-b").json()
    renamed = push(api, order_doc("msg-b"), key="key-c").json()
    assert first["documents"][0]["outcome"] == "applied"
    assert repeat["duplicate"] == 1 and repeat["documents"][0]["status"] == "applied"
    assert renamed["documents"][0]["outcome"] == "applied"
    assert renamed["documents"][0]["detail"] == "already up to date"
    assert count(api.runtime, ProductionOrder) == 1


def test_an_order_before_its_bom_waits_then_is_applied_when_the_bom_arrives(api):
    plant_in(api.runtime)
    early = push(api, order_doc(bom_version="B2")).json()
    assert early["waiting"] == 1
    assert "B2" in early["documents"][0]["detail"]
    assert count(api.runtime, ProductionOrder) == 0  # never half-imported
    assert count(api.runtime, Operation) == 0 and count(api.runtime, OrderComponent) == 0
    # ERP repeats the order while it waits: still one document, and later one order
    assert push(api, order_doc(bom_version="B2")).json()["duplicate"] == 1

    waiting = api.get(f"{INBOX}?status=waiting", role="planner").json()
    assert waiting["counts"] == {"applied": 0, "waiting": 1, "rejected": 0}
    assert [d["key"] for d in waiting["documents"]] == ["PO-4711"]

    bom = push(api, bom_doc("B2")).json()
    assert bom["applied"] == 1 and len(bom["documents"]) == 1
    assert count(api.runtime, ProductionOrder) == 1
    assert count(api.runtime, OrderComponent) == 3  # the lines of B2, not B1's five
    seen = api.get(INBOX, role="supervisor").json()
    assert seen["counts"] == {"applied": 2, "waiting": 0, "rejected": 0}
    order = next(d for d in seen["documents"] if d["kind"] == "orders")
    assert (order["status"], order["attempts"]) == ("applied", 3)  # filed, repeat, BOM


def test_a_rejected_document_does_not_undo_the_others(api):
    plant_in(api.runtime)
    answer = push(
        api,
        item_doc("SPRING"),
        order_doc(quantity=-5),
        item_doc("WASHER", lot_tracked="perhaps"),
        bom_doc("B3"),
    ).json()
    outcomes = [(d["key"], d["outcome"]) for d in answer["documents"]]
    assert outcomes == [
        ("SPRING", "applied"),
        ("PO-4711", "rejected"),
        ("WASHER", "rejected"),
        ("WS-100 B3", "applied"),
    ]
    assert "quantity must be positive" in answer["documents"][1]["detail"]
    assert "lot_tracked" in answer["documents"][2]["detail"]
    assert count(api.runtime, Item, Item.code == "SPRING") == 1
    assert count(api.runtime, Item, Item.code == "WASHER") == 0
    assert count(api.runtime, Bom) == 2 and count(api.runtime, ProductionOrder) == 0
    rejected = api.get(f"{INBOX}?status=rejected", role="integration").json()
    assert {d["key"] for d in rejected["documents"]} == {"PO-4711", "WASHER"}


def test_push_needs_the_integration_role_and_checks_the_body(api):
    assert push(api, order_doc(), role="planner").status_code == 403
    assert api.get(INBOX, role="operator").status_code == 403
    bad_kind = api.post(
        INBOX, role="integration",
        json={"documents": [{"message_id": "x", "kind": "user", "fields": {}}]},
    )  # fmt: skip
    assert bad_kind.status_code == 422
    assert api.post(INBOX, role="integration", json={"documents": []}).status_code == 422


# --- in the service -----------------------------------------------------------------------


def test_a_chain_of_missing_documents_is_applied_in_one_delivery(session):
    plant = build_plant(session)
    ctx = plant.ctx("admin")
    # the order needs BOM B4, which needs item GASKET: all three arrive backwards
    results = inbox.receive(
        session,
        ctx,
        "erp",
        docs(
            order_doc(bom_version="B4"),
            {**bom_doc("B4"), "fields": {**bom_doc("B4")["fields"], "lines": [
                {"line_no": 10, "item": "GASKET", "quantity": 4, "uom": "pcs"}]}},
            item_doc("GASKET"),
        ),
    )  # fmt: skip
    assert [r.outcome for r in results] == ["applied", "applied", "applied"]
    order = session.scalar(select(ProductionOrder))
    assert order is not None
    components = session.scalars(select(OrderComponent)).all()
    assert [(c.line_no, c.norm_quantity) for c in components] == [(10, 80)]


def test_documents_are_remembered_a_week_then_purged(session):
    plant = build_plant(session)
    ctx = plant.ctx("admin")
    early = docs(item_doc("SPRING"), order_doc(bom_version="B9"))
    first = inbox.receive(session, ctx, "erp", early)
    assert [r.outcome for r in first] == ["applied", "waiting"]

    def later(days: float) -> CommandContext:
        return CommandContext(ctx.actor, NOW + timedelta(days=days), ctx.site)

    assert inbox.purge(session, later(6.9)) == 0
    assert inbox.purge(session, later(7.1), keep_days=1) == 1  # never sooner than a week
    assert [r.status for r in session.scalars(select(InboxDocument))] == ["waiting"]
    # forgotten, a repeat is applied again and harmlessly changes nothing
    again = inbox.receive(session, later(8), "erp", docs(item_doc("SPRING")))
    assert (again[0].outcome, again[0].detail) == ("applied", "already up to date")
    assert inbox.receive(session, later(8), "erp", docs(item_doc("SPRING")))[0].outcome == (
        "duplicate"
    )
    assert session.scalar(select(func.count()).select_from(Item).where(Item.code == "SPRING")) == 1


def test_sources_keep_their_own_message_ids_and_bad_documents_are_filed(session):
    plant = build_plant(session)
    ctx = plant.ctx("admin")
    one = inbox.receive(session, ctx, "erp", docs(item_doc("SPRING", "m-1")))
    two = inbox.receive(session, ctx, "mdm", docs(item_doc("SPRING", "m-1")))
    assert (one[0].outcome, two[0].outcome) == ("applied", "applied")
    odd = inbox.receive(
        session,
        ctx,
        "erp",
        [
            InboundDocument("m-2", "user", {"code": "x"}),
            InboundDocument("m-3", "item", "not an object"),  # type: ignore[arg-type]
            InboundDocument("", "item", {}),
        ],
    )
    assert [r.outcome for r in odd] == ["rejected", "rejected", "rejected"]
    assert "not something ERP sends" in (odd[0].detail or "")
    assert (
        inbox.receive(session, ctx, "erp", docs({**item_doc("X"), "message_id": "m-2"}))[0].outcome
        == "duplicate"
    )


def test_odd_values_are_rejected_documents_never_a_server_error(api):
    plant_in(api.runtime)
    answer = push(
        api,
        item_doc("NUL\x00CODE", "nul"),
        order_doc("huge", quantity="1e30"),
        order_doc("nested", quantity={"a": [1, 2]}),
        {"message_id": "lines", "kind": "bom", "fields": {"item": "WS-100", "lines": "none"}},
        item_doc("GOOD"),
    )
    assert answer.status_code == 200, answer.text
    outcomes = [d["outcome"] for d in answer.json()["documents"]]
    assert outcomes == ["rejected", "rejected", "rejected", "rejected", "applied"]
    assert all("\x00" not in (d["detail"] or "") for d in answer.json()["documents"])
