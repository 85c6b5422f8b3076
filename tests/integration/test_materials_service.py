"""Lots, serial numbers, the move ledger and genealogy on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry
from shopfloor.kernel.errors import InvalidTransition, NotFound, RuleViolation
from shopfloor.materials import queries
from shopfloor.materials import service as materials
from shopfloor.materials.domain import OrderKeys
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.platform.outbox import OutboxEvent
from tests.support.plant import build_plant, make_order

D = Decimal


@pytest.fixture
def plant(session):
    built = build_plant(session)
    session.commit()
    return built


@pytest.fixture
def sam(plant):
    return plant.ctx("sam")


def count(session, table):
    return session.scalar(select(func.count()).select_from(table))


def outbox(session):
    return session.scalars(select(OutboxEvent).order_by(OutboxEvent.position)).all()


def lot(session, ctx, item, code, **kwargs):
    return materials.register_lot(
        session,
        ctx,
        item_code=item,
        lot_code=code,
        origin=kwargs.pop("origin", "erp_receipt"),
        **kwargs,
    )


def test_register_lot_is_idempotent_and_announced_once(session, sam):
    first = lot(session, sam, "CABLE", "C-1", expires_on=date(2026, 12, 31))
    again = lot(session, sam, "CABLE", "C-1")
    session.commit()
    assert first.id == again.id and first.status == "released"
    [event] = outbox(session)
    assert event.type == "lot.created"
    assert event.glue == {"item": "CABLE", "lot": "C-1"}
    assert event.payload["origin"] == "erp_receipt" and event.payload["expires_on"] == "2026-12-31"
    assert [e.action for e in audit.trail(session, "lot", first.id)] == ["lot.created"]
    # the same code for another item is another lot
    assert lot(session, sam, "BOARD", "C-1").id != first.id


def test_register_lot_refuses_bad_origin_status_and_unknown_item(session, sam):
    with pytest.raises(RuleViolation):
        lot(session, sam, "CABLE", "C-2", origin="supplier")
    with pytest.raises(RuleViolation):
        lot(session, sam, "CABLE", "C-2", status="consumed")
    with pytest.raises(NotFound):
        lot(session, sam, "NO-SUCH", "C-2")
    session.rollback()
    assert count(session, Lot) == 0 and count(session, OutboxEvent) == 0


def test_floor_lot_carries_the_order_glue(session, plant, sam):
    order = make_order(session, plant)
    keys = OrderKeys("PO-4711", None, None, "B1", "R1", "erp_not_released")
    made = lot(session, sam, "WS-100", "FG-1", origin="floor", order_id=order.id, keys=keys)
    event = outbox(session)[-1]
    assert made.order_id == order.id
    assert event.glue == {"erp_order_id": "PO-4711", "item": "WS-100", "lot": "FG-1"}
    assert (event.bom_version, event.routing_version) == ("B1", "R1")
    assert event.payload["discrepancy"] == "erp_not_released"


def test_lot_status_changes_follow_the_machine_with_a_reason(session, sam):
    cable = lot(session, sam, "CABLE", "C-1")
    with pytest.raises(RuleViolation, match="needs a reason"):
        materials.set_lot_status(session, sam, cable.id, "on_hold", "")
    materials.set_lot_status(session, sam, cable.id, "on_hold", "supplier recall")
    materials.set_lot_status(session, sam, cable.id, "quarantined", "lab check")
    materials.set_lot_status(session, sam, cable.id, "released", "lab passed")
    with pytest.raises(InvalidTransition):
        materials.set_lot_status(session, sam, cable.id, "released", "again")
    with pytest.raises(NotFound):
        materials.set_lot_status(session, sam, 999, "on_hold", "x")
    session.commit()
    trail = [
        (e.action, e.old_value, e.new_value, e.reason)
        for e in audit.trail(session, "lot", cable.id)
    ][1:]
    assert trail == [
        ("lot.status_changed", {"status": "released"}, {"status": "on_hold"}, "supplier recall"),
        ("lot.status_changed", {"status": "on_hold"}, {"status": "quarantined"}, "lab check"),
        ("lot.status_changed", {"status": "quarantined"}, {"status": "released"}, "lab passed"),
    ]
    assert [r.code for r in queries.lots(session, status="released")] == ["C-1"]
    assert queries.lots(session, item_code="BOARD") == []


def test_register_serial_is_idempotent(session, sam):
    first = materials.register_serial(session, sam, item_code="WS-100", serial="SN-1")
    again = materials.register_serial(session, sam, item_code="WS-100", serial="SN-1")
    assert first.id == again.id and count(session, SerialNumber) == 1
    assert materials.find_serial(session, "WS-100", "SN-1").id == first.id
    with pytest.raises(NotFound):
        materials.find_serial(session, "WS-100", "SN-2")


def test_record_move_checks_kind_sign_and_lot(session, plant, sam):
    cable = lot(session, sam, "CABLE", "C-1")
    board = lot(session, sam, "BOARD", "B-1")
    item, pcs = plant.items["CABLE"].id, plant.uom["pcs"].id
    move = materials.record_move(
        session, sam, kind="consume", item_id=item, quantity=D(3), uom_id=pcs, lot_id=cable.id
    )
    assert (move.quantity, move.user_id, move.recorded_at) == (D(3), sam.actor.user_id, sam.now)
    assert [e.action for e in audit.trail(session, "material_move", move.id)] == [
        "material_move.consume"
    ]
    for kwargs in (
        {"kind": "consume", "quantity": D(-1)},
        {"kind": "transfer", "quantity": D(1)},
        {"kind": "consume", "quantity": D(1), "lot_id": board.id},
    ):
        with pytest.raises(RuleViolation):
            materials.record_move(
                session, sam, item_id=item, uom_id=pcs, **{"lot_id": cable.id, **kwargs}
            )
    materials.set_lot_status(session, sam, cable.id, "quarantined", "lab")
    with pytest.raises(RuleViolation, match="quarantined"):
        materials.record_move(
            session, sam, kind="consume", item_id=item, quantity=D(1), uom_id=pcs, lot_id=cable.id
        )
    # a return to a quarantined lot is fine
    materials.record_move(
        session, sam, kind="return", item_id=item, quantity=D(1), uom_id=pcs, lot_id=cable.id
    )


def test_reverse_move_once_with_reason(session, plant, sam):
    cable = lot(session, sam, "CABLE", "C-1")
    move = materials.record_move(
        session,
        sam,
        kind="consume",
        item_id=plant.items["CABLE"].id,
        quantity=D(5),
        uom_id=plant.uom["pcs"].id,
        lot_id=cable.id,
    )
    session.commit()
    events_before = count(session, OutboxEvent)
    reversal = materials.reverse_move(session, sam, move.id, "wrong lot")
    session.commit()
    assert (reversal.quantity, reversal.reverses_id, reversal.lot_id) == (D(-5), move.id, cable.id)
    assert session.get(MaterialMove, move.id).quantity == D(5)
    [event] = outbox(session)[events_before:]
    assert event.type == "fact.reversed" and event.payload["original_type"] == "material.consumed"
    assert event.glue == {"item": "CABLE", "lot": "C-1"}
    for move_id, match in ((move.id, "already been reversed"), (reversal.id, "itself a reversal")):
        with pytest.raises(RuleViolation, match=match):
            materials.reverse_move(session, sam, move_id, "again")
    with pytest.raises(NotFound):
        materials.reverse_move(session, sam, 999, "x")
    session.rollback()
    assert count(session, MaterialMove) == 2


def test_queries_by_lot_and_order_and_totals(session, plant, sam):
    order = make_order(session, plant)
    cable = lot(session, sam, "CABLE", "C-1")
    fg = lot(session, sam, "WS-100", "FG-1", origin="floor")
    pcs, cable_id = plant.uom["pcs"].id, plant.items["CABLE"].id
    materials.record_move(
        session,
        sam,
        kind="consume",
        item_id=cable_id,
        quantity=D(10),
        uom_id=pcs,
        lot_id=cable.id,
        order_id=order.id,
        into_lot_id=fg.id,
    )
    materials.record_move(
        session,
        sam,
        kind="return",
        item_id=cable_id,
        quantity=D(3),
        uom_id=pcs,
        lot_id=cable.id,
        order_id=order.id,
    )
    materials.record_move(
        session,
        sam,
        kind="produce",
        item_id=plant.items["WS-100"].id,
        quantity=D(4),
        uom_id=pcs,
        lot_id=fg.id,
        order_id=order.id,
    )
    assert [m.kind for m in queries.moves_of_order(session, order.id)] == [
        "consume",
        "return",
        "produce",
    ]
    assert [m.kind for m in queries.moves_of_order(session, order.id, kind="return")] == ["return"]
    assert [m.kind for m in queries.moves_of_lot(session, fg.id)] == ["consume", "produce"]
    assert queries.consumed_totals(session, order.id) == {cable_id: D(7)}


def test_genealogy_backward_forward_and_reversed_links(session, plant, sam):
    pcs = plant.uom["pcs"].id
    board = lot(session, sam, "BOARD", "B-1")
    cable = lot(session, sam, "CABLE", "C-1")
    fg = lot(session, sam, "WS-100", "FG-1", origin="floor")
    unit = materials.register_serial(session, sam, item_code="WS-100", serial="SN-1")

    def consume(source, item, into_lot=None, into_serial=None):
        return materials.record_move(
            session,
            sam,
            kind="consume",
            item_id=plant.items[item].id,
            quantity=D(1),
            uom_id=pcs,
            lot_id=source.id,
            into_lot_id=into_lot,
            into_serial_id=into_serial,
        )

    consume(board, "BOARD", into_lot=fg.id)
    wrong = consume(cable, "CABLE", into_lot=fg.id)
    consume(cable, "CABLE", into_serial=unit.id)
    backward = queries.genealogy(session, lot_id=fg.id)
    assert {(g.kind, g.item, g.code, g.depth) for g in backward} == {
        ("lot", "BOARD", "B-1", 1),
        ("lot", "CABLE", "C-1", 1),
    }
    forward = queries.genealogy(session, lot_id=cable.id, direction="forward")
    assert {(g.kind, g.code) for g in forward} == {("lot", "FG-1"), ("serial", "SN-1")}
    assert [(g.item, g.code) for g in queries.genealogy(session, serial_id=unit.id)] == [
        ("CABLE", "C-1")
    ]

    materials.reverse_move(session, sam, wrong.id, "scanned the wrong lot")
    assert [g.code for g in queries.genealogy(session, lot_id=fg.id)] == ["B-1"]
    with pytest.raises(RuleViolation):
        queries.genealogy(session, lot_id=fg.id, serial_id=unit.id)
    with pytest.raises(RuleViolation):
        queries.genealogy(session, lot_id=fg.id, direction="up")


def test_audit_rows_per_change(session, plant, sam):
    before = count(session, AuditEntry)
    cable = lot(session, sam, "CABLE", "C-1")
    materials.set_lot_status(session, sam, cable.id, "on_hold", "recall")
    materials.register_serial(session, sam, item_code="WS-100", serial="SN-1")
    move = materials.record_move(
        session,
        sam,
        kind="issue",
        item_id=plant.items["CABLE"].id,
        quantity=D(1),
        uom_id=plant.uom["pcs"].id,
    )
    materials.reverse_move(session, sam, move.id, "not issued")
    assert count(session, AuditEntry) - before == 5
