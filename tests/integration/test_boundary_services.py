"""The boundary decisions applied by the services, on SQLite and PostgreSQL: where orders
originate (service and ERP inbox), where lots are created (registration and first use),
and how inventory movements reach ERP (the relay holding an ERP subscriber's events)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopfloor.execution import service as execution
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.erp.ports import InboundDocument
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.tables import IntDelivery
from shopfloor.kernel.boundary import Boundary
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.materials import service as materials
from shopfloor.materials.tables import Lot, MaterialMove
from shopfloor.orders import service as orders
from shopfloor.orders.tables import ProductionOrder
from shopfloor.platform import outbox
from shopfloor.platform.outbox import OutboxEvent
from shopfloor.platform.settings import load_settings
from shopfloor.workers.relay import RelayWorker
from tests.support.api import TEST_SECRET
from tests.support.plant import build_plant, make_order, receive_lot
from tests.support.transports import FakeTransport


@pytest.fixture
def plant(session):
    built = build_plant(session)
    session.commit()
    return built


def under(plant, username="sam", **decisions):
    """A command context of `username` in a plant with these boundary decisions."""
    return replace(plant.ctx(username), boundary=Boundary(**decisions))


def count(session, table, *where):
    return session.scalar(select(func.count()).select_from(table).where(*where))


def new_order(session, ctx, origin, erp_order_id="PO-1", version=1, erp_status="released"):
    return orders.upsert_order(
        session,
        ctx,
        erp_order_id=erp_order_id,
        erp_version=version,
        item_code="WS-100",
        quantity=Decimal(10),
        uom_code="pcs",
        due_date=date(2026, 3, 6),
        priority=5,
        erp_status=erp_status,
        origin=origin,
    )


# --- 1. where orders originate ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "accepted", "refused"),
    [("erp", "erp", "mes"), ("mes", "mes", "erp"), ("both", "erp", None)],
)
def test_new_orders_only_from_the_origins_the_plant_accepts(
    session, plant, setting, accepted, refused
):
    ctx = under(plant, order_origin=setting)
    made = new_order(session, ctx, accepted, erp_order_id="OK-1")
    session.commit()
    assert made.origin == accepted
    if refused is None:  # both: the floor's unplanned work as well as ERP's orders
        assert new_order(session, ctx, "mes", erp_order_id="MES-1").origin == "mes"
        session.commit()
        return
    events_before = count(session, OutboxEvent)
    with pytest.raises(RuleViolation, match=f"SHOPFLOOR_ORDER_ORIGIN={setting}") as raised:
        new_order(session, ctx, refused, erp_order_id="NO-1")
    session.rollback()
    assert raised.value.extra == {"setting": "SHOPFLOOR_ORDER_ORIGIN", "value": setting}
    assert count(session, ProductionOrder, ProductionOrder.erp_order_id == "NO-1") == 0
    assert count(session, OutboxEvent) == events_before


def test_an_order_received_before_a_switch_still_takes_erp_s_versions(session, plant):
    new_order(session, under(plant), "erp", erp_status="created")
    session.commit()
    floor_only = under(plant, order_origin="mes")
    closed = new_order(session, floor_only, "erp", version=2, erp_status="closed")
    session.commit()
    assert (closed.erp_version, closed.erp_status) == (2, "closed")


def test_the_erp_inbox_rejects_an_order_where_orders_originate_on_the_floor(session, plant):
    fields = {"erp_order_id": "PO-9", "erp_version": 1, "item": "WS-100", "quantity": 5,
              "uom": "pcs", "due_date": "2026-03-06", "erp_status": "released"}  # fmt: skip
    document = InboundDocument("PO-9-v1", "order", fields)
    [received] = inbox.receive(session, under(plant, order_origin="mes"), "erp", [document])
    session.commit()
    assert received.outcome == "rejected"
    assert "SHOPFLOOR_ORDER_ORIGIN=mes" in (received.detail or "")
    assert count(session, ProductionOrder) == 0
    [applied] = inbox.receive(
        session, under(plant), "erp", [InboundDocument("PO-9-v1b", "order", fields)]
    )
    assert applied.outcome == "applied"


# --- 3. where lots are created ------------------------------------------------------------


def register(session, ctx, item, code, origin, **kwargs):
    return materials.register_lot(
        session, ctx, item_code=item, lot_code=code, origin=origin, **kwargs
    )


def test_lots_from_erp_only(session, plant):
    ctx = under(plant, lot_creation="erp")
    assert register(session, ctx, "CABLE", "C-1", "erp_receipt").origin == "erp_receipt"
    # the floor still makes the lots of what it makes: an item with a BOM, an order's lot
    assert register(session, ctx, "WS-100", "FG-1", "floor").origin == "floor"
    session.commit()
    with pytest.raises(RuleViolation, match="SHOPFLOOR_LOT_CREATION=erp"):
        register(session, ctx, "CABLE", "C-2", "floor")
    session.rollback()
    # a known lot is returned as it is, whichever origin is named
    assert register(session, ctx, "CABLE", "C-1", "floor").origin == "erp_receipt"
    order = make_order(session, plant)
    session.commit()
    with pytest.raises(NotFound, match=r"C-404.*SHOPFLOOR_LOT_CREATION=erp") as raised:
        execution.consume_material(
            session, under(plant, "olga"), order.id, item_code="CABLE", quantity=1,
            lot_code="C-404",
        )  # fmt: skip
    session.rollback()
    assert raised.value.extra["setting"] == "SHOPFLOOR_LOT_CREATION"
    assert count(session, Lot, Lot.code == "C-404") == 0


def test_lots_on_the_floor_only_registered_at_first_use_erp_lots_refused(session, plant):
    ctx = under(plant, lot_creation="mes")
    with pytest.raises(RuleViolation, match="SHOPFLOOR_LOT_CREATION=mes"):
        register(session, ctx, "CABLE", "C-1", "erp_receipt")
    session.rollback()
    assert count(session, Lot) == 0
    order = make_order(session, plant)
    session.commit()
    olga = under(plant, "olga", lot_creation="mes")
    move = execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=2, lot_code="C-NEW", into_lot="FG-1"
    )
    again = execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=2, lot_code="C-NEW", into_lot="FG-1"
    )
    session.commit()
    lot = session.scalar(select(Lot).where(Lot.code == "C-NEW"))
    assert lot is not None
    assert (lot.origin, lot.status, lot.order_id) == ("floor", "released", None)
    assert move.lot_id == again.lot_id == lot.id
    created = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "lot.created")).all()
    assert sorted(e.payload["lot"] for e in created) == ["C-NEW", "FG-1"]
    assert count(session, Lot) == 2 and count(session, MaterialMove) == 2


def test_lots_from_both_erp_and_the_floor(session, plant):
    ctx = under(plant, lot_creation="both")
    assert register(session, ctx, "BOARD", "B-1", "erp_receipt").origin == "erp_receipt"
    assert register(session, ctx, "BOARD", "B-2", "floor").origin == "floor"
    order = make_order(session, plant)
    receive_lot(session, plant, "CABLE", "C-ERP")
    session.commit()
    olga = under(plant, "olga", lot_creation="both")
    for code in ("C-ERP", "C-FLOOR"):
        execution.consume_material(
            session, olga, order.id, item_code="CABLE", quantity=1, lot_code=code
        )
    session.commit()
    cable = plant.items["CABLE"].id
    origins = session.execute(select(Lot.code, Lot.origin).where(Lot.item_id == cable)).all()
    assert sorted(origins) == [("C-ERP", "erp_receipt"), ("C-FLOOR", "floor")]


# --- 4. how inventory movements reach ERP -------------------------------------------------


ERP_FEED = {"name": "erp-feed", "transport": "erp", "adapter": "rest",
            "shift_starts": ["06:00", "14:00", "22:00"]}  # fmt: skip


def erp_subscribers(db_url, posting, **subscriber):
    settings = load_settings(
        database_url=db_url,
        secret_key=TEST_SECRET,
        site="plant-1",
        erp_posting=posting,
        subscribers=json.dumps([{**ERP_FEED, **subscriber}]),
    )
    return load_subscribers(settings)


@pytest.mark.parametrize(
    ("posting", "override", "held"),
    [
        ("realtime", {}, False),
        ("operation", {}, True),
        ("shift", {}, True),
        ("operation", {"aggregation": "event"}, False),  # the subscriber's own setting wins
    ],
)
def test_the_relay_holds_an_erp_subscriber_s_events_as_the_posting_says(
    runtime, ctx, db_url, posting, override, held
):
    subscribers = erp_subscribers(db_url, posting, **override)
    [feed] = subscribers
    expected = override.get("aggregation") or Boundary(erp_posting=posting).erp_aggregation
    assert feed.aggregation == expected
    with runtime.unit_of_work() as uow:
        outbox.emit(uow.session, ctx, "material.consumed", {"n": 1},
                    glue={"erp_order_id": "PO-1", "operation_no": 10})  # fmt: skip
        uow.commit()
    fake = FakeTransport(feed)
    worker = RelayWorker(runtime, subscribers, clock=lambda: ctx.now,
                         transports={feed.name: fake})  # fmt: skip
    try:
        worker.run_once()
    finally:
        worker.close()
    with runtime.sessions() as session:
        statuses = list(session.scalars(select(IntDelivery.status)))
    assert (statuses == ["held"]) is held
    assert (not fake.received) is held
