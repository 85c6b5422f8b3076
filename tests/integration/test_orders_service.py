"""Order use cases on SQLite and PostgreSQL: receipt from ERP (idempotent on version), plan
changes, release to the floor, abort, and the read side (dispatch list, summaries)."""

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from shopfloor.audit.tables import AuditEntry
from shopfloor.kernel.errors import Conflict, InvalidTransition, NotFound, RuleViolation
from shopfloor.masterdata import service as md
from shopfloor.masterdata.domain import BomLineSpec, OperationSpec
from shopfloor.orders import queries, service
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from shopfloor.platform.outbox import OutboxEvent

COMPONENTS = (("HOUSING", 1), ("BOARD", 1), ("CABLE", 2), ("FASTENER", 8), ("PACKAGING", 1))


@pytest.fixture
def plant(session, ctx):
    """WS-100 of the acceptance scenario: BOM 1 (from January), BOM 2 (from April, 3 cables),
    routing 10 assembly → 20 test → 30 pack."""
    md.upsert_uom(session, ctx, code="pcs", name="piece", dimension="count")
    md.upsert_uom(session, ctx, code="box", name="box of 10", dimension="count")
    md.upsert_uom_conversion(session, ctx, from_uom_code="box", to_uom_code="pcs", factor=D(10))
    md.upsert_item(session, ctx, code="WS-100", name="Workstation", uom_code="pcs")
    md.upsert_item(session, ctx, code="WS-200", name="Workstation XL", uom_code="pcs")
    for code, _ in COMPONENTS:
        md.upsert_item(session, ctx, code=code, name=code.title(), uom_code="pcs")
    md.upsert_equipment(session, ctx, code="ACME", name="Acme", level="enterprise")
    md.upsert_equipment(session, ctx, code="P1", name="Plant", level="site", parent_code="ACME")
    md.upsert_equipment(session, ctx, code="A1", name="Area", level="area", parent_code="P1")
    md.upsert_equipment(session, ctx, code="L1", name="Line", level="line", parent_code="A1")
    for code in ("ASSY", "TEST", "PACK"):
        md.upsert_equipment(
            session, ctx, code=code, name=code.title(), level="work_center", parent_code="L1"
        )
    md.upsert_skill(session, ctx, code="SOLDER", name="Soldering")
    for item in ("WS-100", "WS-200"):
        lines = [
            BomLineSpec(no, code, D(per_unit), "pcs", D(5), 10)
            for no, (code, per_unit) in enumerate(COMPONENTS, start=1)
        ]
        md.upsert_bom_version(
            session,
            ctx,
            item_code=item,
            version="1",
            quantity=D(1),
            effective_from=date(2026, 1, 1),
            lines=lines,
        )
        md.upsert_routing_version(
            session,
            ctx,
            item_code=item,
            version="1",
            effective_from=date(2026, 1, 1),
            operations=[
                OperationSpec(10, "assembly", "ASSY", D(15), D(60), "SOLDER"),
                OperationSpec(20, "test", "TEST", D(5), D(30)),
                OperationSpec(30, "pack", "PACK", D(0), D(20)),
            ],
        )
    v2 = [BomLineSpec(3, "CABLE", D(3), "pcs"), BomLineSpec(1, "HOUSING", D(1), "pcs")]
    md.upsert_bom_version(
        session,
        ctx,
        item_code="WS-100",
        version="2",
        quantity=D(1),
        effective_from=date(2026, 4, 1),
        lines=v2,
    )
    session.commit()


def receive(session, ctx, erp_order_id="4711", version=1, **plan):
    fields = {
        "item_code": "WS-100",
        "quantity": D(20),
        "uom_code": "pcs",
        "due_date": date(2026, 3, 6),
        "priority": 5,
        "erp_status": "released",
    }
    fields.update(plan)
    return service.upsert_order(
        session, ctx, erp_order_id=erp_order_id, erp_version=version, **fields
    )


def order_audit(session, order_id, action=None):
    stmt = select(AuditEntry).where(
        AuditEntry.entity_type == "production_order", AuditEntry.entity_id == str(order_id)
    )
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


def events(session, event_type=None):
    stmt = select(OutboxEvent).order_by(OutboxEvent.position)
    if event_type:
        stmt = stmt.where(OutboxEvent.type == event_type)
    return list(session.scalars(stmt))


def count(session, table):
    return session.scalar(select(func.count()).select_from(table))


# --- receiving an order ------------------------------------------------------------------------


def test_new_order_is_expanded_from_the_versions_effective_today(session, ctx, plant):
    order = receive(session, ctx)
    session.commit()
    assert (order.execution_status, order.erp_status, order.origin) == ("queued", "released", "erp")
    summary = queries.order_summary(session, order.id)
    assert (summary.item_code, summary.bom_version, summary.routing_version) == ("WS-100", "1", "1")
    operations = queries.order_operations(session, order.id)
    assert [(op.operation_no, op.work_center_code, op.status) for op in operations] == [
        (10, "ASSY", "queued"),
        (20, "TEST", "queued"),
        (30, "PACK", "queued"),
    ]
    assert operations[0].required_skill_code == "SOLDER"
    components = queries.order_components(session, order.id)
    assert [(c.item_code, c.norm_quantity, c.uom_code) for c in components] == [
        ("HOUSING", D(20), "pcs"),
        ("BOARD", D(20), "pcs"),
        ("CABLE", D(40), "pcs"),
        ("FASTENER", D(160), "pcs"),
        ("PACKAGING", D(20), "pcs"),
    ]
    (entry,) = order_audit(session, order.id)
    assert entry.action == "order.received"
    assert entry.new_value["quantity"] == "20.000000"
    (event,) = events(session)
    assert event.type == "work_order.received"
    assert event.glue == {"erp_order_id": "4711", "item": "WS-100"}
    assert (event.bom_version, event.routing_version) == ("1", "1")
    assert event.payload["order_id"] == order.id
    assert event.payload["due_date"] == "2026-03-06"
    assert [c["norm_quantity"] for c in event.payload["components"]][2] == "40.000000"


def test_explicit_versions_and_order_unit_converted_for_the_norm(session, ctx, plant):
    order = receive(session, ctx, quantity=D(2), uom_code="box", bom_version="2")
    components = queries.order_components(session, order.id)
    assert [(c.line_no, c.item_code, c.norm_quantity) for c in components] == [
        (1, "HOUSING", D(20)),
        (3, "CABLE", D(60)),
    ]
    assert queries.order_summary(session, order.id).uom_code == "box"
    with pytest.raises(NotFound, match="no BOM version 7 of item WS-100"):
        receive(session, ctx, erp_order_id="4712", bom_version="7")


def test_same_version_again_changes_nothing(session, ctx, plant):
    order = receive(session, ctx)
    session.commit()
    again = receive(session, ctx, quantity=D(99))  # same version: ERP's copy is already ours
    session.commit()
    assert again.id == order.id
    assert queries.order_summary(session, order.id).quantity == D(20)
    assert len(order_audit(session, order.id)) == 1
    assert len(events(session)) == 1
    assert count(session, ProductionOrder) == 1


def test_stale_version_is_refused_and_leaves_nothing(session, ctx, plant):
    receive(session, ctx, version=3)
    session.commit()
    audit_before = count(session, AuditEntry)
    with pytest.raises(Conflict, match="stale version: ERP order 4711 is at version 3; version 2"):
        receive(session, ctx, version=2, quantity=D(5))
    session.rollback()
    order = session.scalar(select(ProductionOrder))
    assert (order.erp_version, order.quantity) == (3, D(20))
    assert count(session, AuditEntry) == audit_before
    assert len(events(session)) == 1


def test_newer_version_while_queued_re_expands_the_order(session, ctx, plant):
    order = receive(session, ctx)
    first_ops = {op.operation_no: op.id for op in queries.order_operations(session, order.id)}
    revised = receive(session, ctx, version=2, quantity=D(25), priority=2, bom_version="2")
    session.commit()
    assert revised.id == order.id
    summary = queries.order_summary(session, order.id)
    assert (summary.erp_version, summary.quantity, summary.priority) == (2, D(25), 2)
    assert summary.bom_version == "2"
    components = queries.order_components(session, order.id)
    assert [(c.item_code, c.norm_quantity) for c in components] == [
        ("HOUSING", D(25)),
        ("CABLE", D(75)),
    ]
    assert count(session, OrderComponent) == 2
    ops = {op.operation_no: op.id for op in queries.order_operations(session, order.id)}
    assert ops == first_ops  # the same operation rows, brought up to date
    (revision,) = order_audit(session, order.id, "order.revised")
    assert revision.old_value == {
        "erp_version": 1,
        "quantity": "20.000000",
        "priority": 5,
        "bom_version": "1",
    }
    assert revision.new_value["quantity"] == "25.000000"
    assert revision.reason == "ERP version 2"
    assert [e.type for e in events(session)] == ["work_order.received"]


def test_after_release_plan_changes_are_refused_but_erp_status_applies(session, ctx, plant):
    order = receive(session, ctx)
    service.release_to_floor(session, ctx, order.id)
    session.commit()
    with pytest.raises(
        Conflict, match="already dispatched on the floor: version 2 changes its quantity"
    ):
        receive(session, ctx, version=2, quantity=D(25), erp_status="closed")
    session.rollback()
    assert queries.order_summary(session, order.id).erp_status == "released"

    receive(session, ctx, version=3, erp_status="closed", due_date=date(2026, 3, 9))
    session.commit()
    summary = queries.order_summary(session, order.id)
    assert (summary.erp_status, summary.execution_status) == ("closed", "dispatched")
    assert (summary.erp_version, summary.due_date) == (3, date(2026, 3, 9))
    with pytest.raises(RuleViolation, match="cannot go back from closed to released"):
        receive(session, ctx, version=4, erp_status="released")


def test_item_of_an_order_never_changes(session, ctx, plant):
    receive(session, ctx)
    with pytest.raises(Conflict, match="is for item WS-100; version 2 names WS-200"):
        receive(session, ctx, version=2, item_code="WS-200")


@pytest.mark.parametrize(
    ("plan", "error", "message"),
    [
        ({"quantity": D(0)}, RuleViolation, "order 4711: quantity must be positive, not 0"),
        ({"priority": 10}, RuleViolation, "priority must be 1 \\(most urgent\\) to 9, not 10"),
        ({"due_date": None}, RuleViolation, "order 4711 needs a due date"),
        ({"origin": "plm"}, RuleViolation, "'plm' is not an order origin"),
        ({"erp_status": "open"}, RuleViolation, "'open' is not an ERP status"),
        ({"item_code": "NOPE"}, NotFound, "no item with code 'NOPE'"),
        ({"routing_version": "9"}, NotFound, "no routing version 9 of item WS-100"),
    ],
)
def test_refused_order_leaves_nothing_behind(session, ctx, plant, plan, error, message):
    audit_before = count(session, AuditEntry)
    with pytest.raises(error, match=message):
        receive(session, ctx, **plan)
    session.rollback()
    assert count(session, ProductionOrder) == 0
    assert count(session, Operation) == 0
    assert count(session, OrderComponent) == 0
    assert count(session, AuditEntry) == audit_before
    assert events(session) == []


def test_shopfloor_origin_order_for_unplanned_work(session, ctx, plant):
    order = receive(session, ctx, erp_order_id="MES-0001", origin="mes", erp_status="released")
    service.release_to_floor(session, ctx, order.id)
    session.commit()
    summary = queries.order_summary(session, order.id)
    assert (summary.origin, summary.execution_status) == ("mes", "dispatched")
    assert events(session, "work_order.released_to_floor")[0].payload["discrepancy"] is None


# --- release to the floor and abort --------------------------------------------------------------


def test_release_dispatches_the_order_and_every_operation(session, ctx, plant):
    order = receive(session, ctx)
    service.release_to_floor(session, ctx, order.id)
    session.commit()
    summary = queries.order_summary(session, order.id)
    assert summary.execution_status == "dispatched"
    assert summary.released_at == ctx.now
    assert {op.status for op in queries.order_operations(session, order.id)} == {"dispatched"}
    (released,) = events(session, "work_order.released_to_floor")
    assert released.glue == {"erp_order_id": "4711", "item": "WS-100"}
    assert (released.bom_version, released.routing_version) == ("1", "1")
    assert released.payload["discrepancy"] is None
    assert [op["work_center"] for op in released.payload["operations"]] == ["ASSY", "TEST", "PACK"]
    assert len(order_audit(session, order.id, "order.release_to_floor")) == 1
    dispatched = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "operation.dispatch")
    ).all()
    assert len(dispatched) == 3
    with pytest.raises(InvalidTransition, match="production order that is dispatched"):
        service.release_to_floor(session, ctx, order.id)


def test_release_before_erp_releases_needs_a_reason_and_is_flagged(session, ctx, plant):
    order = receive(session, ctx, erp_status="created")
    session.commit()
    with pytest.raises(RuleViolation, match="ERP has not released order 4711 yet"):
        service.release_to_floor(session, ctx, order.id, reason="  ")
    session.rollback()
    assert queries.order_summary(session, order.id).execution_status == "queued"
    assert events(session, "work_order.released_to_floor") == []
    assert order_audit(session, order.id, "order.release_to_floor") == []

    service.release_to_floor(session, ctx, order.id, reason="customer line stop, ERP down")
    session.commit()
    (released,) = events(session, "work_order.released_to_floor")
    assert released.payload["discrepancy"] == "erp_not_released"
    assert released.payload["reason"] == "customer line stop, ERP down"
    (entry,) = order_audit(session, order.id, "order.release_to_floor")
    assert entry.reason == "customer line stop, ERP down"


def test_release_of_an_order_erp_closed_is_refused(session, ctx, plant):
    order = receive(session, ctx, erp_status="closed")
    with pytest.raises(RuleViolation, match="ERP has closed order 4711"):
        service.release_to_floor(session, ctx, order.id, reason="anyway")
    with pytest.raises(NotFound, match="no production order with id 999"):
        service.release_to_floor(session, ctx, 999)


def test_abort_needs_a_reason_and_aborts_open_operations(session, ctx, plant):
    order = receive(session, ctx)
    service.release_to_floor(session, ctx, order.id)
    with pytest.raises(RuleViolation, match="aborting an order needs a reason"):
        service.abort_order(session, ctx, order.id, "")
    service.abort_order(session, ctx, order.id, "customer cancelled")
    session.commit()
    assert queries.order_summary(session, order.id).execution_status == "aborted"
    assert {op.status for op in queries.order_operations(session, order.id)} == {"aborted"}
    (entry,) = order_audit(session, order.id, "order.abort")
    assert (entry.old_value, entry.new_value, entry.reason) == (
        {"execution_status": "dispatched"},
        {"execution_status": "aborted"},
        "customer cancelled",
    )
    with pytest.raises(InvalidTransition):
        service.abort_order(session, ctx, order.id, "again")


# --- read side -----------------------------------------------------------------------------------


def test_dispatch_list_orders_by_priority_due_date_and_order(session, ctx, plant):
    urgent = receive(session, ctx, "A-late-urgent", priority=1, due_date=date(2026, 3, 20))
    early = receive(session, ctx, "B-early", priority=5, due_date=date(2026, 3, 3))
    later = receive(session, ctx, "C-later", priority=5, due_date=date(2026, 3, 10))
    same = receive(session, ctx, "D-same-as-C", priority=5, due_date=date(2026, 3, 10))
    queued = receive(session, ctx, "E-not-released", priority=1)
    aborted = receive(session, ctx, "F-aborted", priority=1)
    for order in (later, same, urgent, early, aborted):
        service.release_to_floor(session, ctx, order.id)
    service.abort_order(session, ctx, aborted.id, "cancelled")
    session.commit()

    assembly = queries.dispatch_list(session, "ASSY")
    assert [entry.erp_order_id for entry in assembly] == [
        "A-late-urgent",
        "B-early",
        "C-later",
        "D-same-as-C",
    ]
    assert later.id < same.id
    first = assembly[0]
    assert (first.item_code, first.item_name, first.operation_no, first.operation_name) == (
        "WS-100",
        "Workstation",
        10,
        "assembly",
    )
    assert (first.status, first.quantity, first.priority, first.required_skill_code) == (
        "dispatched",
        D(20),
        1,
        "SOLDER",
    )
    assert queued.id not in {entry.order_id for entry in assembly}
    assert [e.operation_no for e in queries.dispatch_list(session, "PACK")] == [30, 30, 30, 30]
    with pytest.raises(NotFound, match="no equipment or work center with code 'NOWHERE'"):
        queries.dispatch_list(session, "NOWHERE")


def test_list_orders_with_filters_and_paging(session, ctx, plant):
    first = receive(session, ctx, "1", due_date=date(2026, 3, 4))
    receive(session, ctx, "2", due_date=date(2026, 3, 5), erp_status="created")
    receive(session, ctx, "3", due_date=date(2026, 3, 3), priority=1)
    service.release_to_floor(session, ctx, first.id)
    session.commit()
    assert [o.erp_order_id for o in queries.list_orders(session)] == ["3", "1", "2"]
    assert [o.erp_order_id for o in queries.list_orders(session, limit=2, offset=1)] == ["1", "2"]
    assert [
        o.erp_order_id for o in queries.list_orders(session, execution_status="dispatched")
    ] == ["1"]
    assert [o.erp_order_id for o in queries.list_orders(session, erp_status="created")] == ["2"]
    with pytest.raises(NotFound, match="no production order with id 404"):
        queries.order_summary(session, 404)
    with pytest.raises(NotFound):
        queries.order_components(session, 404)
