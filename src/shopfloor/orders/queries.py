"""Read side of orders: the dispatch list of a work center, order summaries and listings,
the operations and the execution BOM of one order. Plain frozen dataclasses, no rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Bom, Equipment, Item, Routing, Skill, UnitOfMeasure
from shopfloor.orders import ports
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder

ON_THE_FLOOR = ("dispatched", "running", "paused")
FINISHED = ("completed", "aborted")


@dataclass(frozen=True)
class DispatchEntry:
    """One operation waiting at or running on a work center."""

    order_id: int
    erp_order_id: str
    item_code: str
    item_name: str
    operation_id: int
    operation_no: int
    operation_name: str
    status: str
    quantity: Decimal
    uom_code: str
    due_date: date
    priority: int
    required_skill_code: str | None


def dispatch_list(
    session: Session, work_center_code: str, at: datetime | None = None
) -> list[DispatchEntry]:
    """What a work center should work on: its dispatched, running and paused operations of
    orders still open, most urgent priority first, then earliest due date, then order and
    operation number. Nothing while it is under maintenance (`at`: now unless given)."""
    work_center = md.equipment_by_code(session, work_center_code)
    if work_center.id in ports.out_of_dispatch(session, at or utc_now()):
        return []
    rows = session.execute(
        select(Operation, ProductionOrder, Item.code, Item.name, UnitOfMeasure.code, Skill.code)
        .join(ProductionOrder, ProductionOrder.id == Operation.order_id)
        .join(Item, Item.id == ProductionOrder.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == ProductionOrder.uom_id)
        .outerjoin(Skill, Skill.id == Operation.required_skill_id)
        .where(
            Operation.work_center_id == work_center.id,
            Operation.status.in_(ON_THE_FLOOR),
            ProductionOrder.execution_status.not_in(FINISHED),
        )
        .order_by(
            ProductionOrder.priority,
            ProductionOrder.due_date,
            ProductionOrder.id,
            Operation.operation_no,
        )
    ).all()
    return [
        DispatchEntry(
            order_id=order.id,
            erp_order_id=order.erp_order_id,
            item_code=item_code,
            item_name=item_name,
            operation_id=op.id,
            operation_no=op.operation_no,
            operation_name=op.name,
            status=op.status,
            quantity=order.quantity,
            uom_code=uom_code,
            due_date=order.due_date,
            priority=order.priority,
            required_skill_code=skill_code,
        )
        for op, order, item_code, item_name, uom_code, skill_code in rows
    ]


@dataclass(frozen=True)
class OrderSummary:
    """An order with both statuses side by side: ERP's business status and the floor's."""

    id: int
    erp_order_id: str
    erp_version: int
    origin: str
    item_code: str
    item_name: str
    quantity: Decimal
    uom_code: str
    due_date: date
    priority: int
    erp_status: str
    execution_status: str
    bom_version: str
    routing_version: str
    received_at: datetime
    released_at: datetime | None
    completed_at: datetime | None


def _summaries() -> Select[Any]:
    return (
        select(ProductionOrder, Item.code, Item.name, UnitOfMeasure.code, Bom.version)
        .add_columns(Routing.version)
        .join(Item, Item.id == ProductionOrder.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == ProductionOrder.uom_id)
        .join(Bom, Bom.id == ProductionOrder.bom_id)
        .join(Routing, Routing.id == ProductionOrder.routing_id)
    )


def _summary(row: Any) -> OrderSummary:
    order, item_code, item_name, uom_code, bom_version, routing_version = row
    return OrderSummary(
        id=order.id,
        erp_order_id=order.erp_order_id,
        erp_version=order.erp_version,
        origin=order.origin,
        item_code=item_code,
        item_name=item_name,
        quantity=order.quantity,
        uom_code=uom_code,
        due_date=order.due_date,
        priority=order.priority,
        erp_status=order.erp_status,
        execution_status=order.execution_status,
        bom_version=bom_version,
        routing_version=routing_version,
        received_at=order.received_at,
        released_at=order.released_at,
        completed_at=order.completed_at,
    )


def order_summary(session: Session, order_id: int) -> OrderSummary:
    row = session.execute(_summaries().where(ProductionOrder.id == order_id)).first()
    if row is None:
        raise NotFound(f"no production order with id {order_id}")
    return _summary(row)


def list_orders(
    session: Session,
    *,
    execution_status: str | None = None,
    erp_status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderSummary]:
    """Orders by due date, then priority, then id; optionally filtered by either status."""
    stmt = _summaries()
    if execution_status is not None:
        stmt = stmt.where(ProductionOrder.execution_status == execution_status)
    if erp_status is not None:
        stmt = stmt.where(ProductionOrder.erp_status == erp_status)
    stmt = stmt.order_by(ProductionOrder.due_date, ProductionOrder.priority, ProductionOrder.id)
    return [_summary(row) for row in session.execute(stmt.limit(limit).offset(offset))]


@dataclass(frozen=True)
class OperationLine:
    """One operation of an order, where it runs and how far it has got."""

    id: int
    operation_no: int
    name: str
    work_center_code: str
    required_skill_code: str | None
    setup_minutes: Decimal
    ideal_cycle_seconds: Decimal
    status: str
    started_at: datetime | None
    completed_at: datetime | None


def order_operations(session: Session, order_id: int) -> list[OperationLine]:
    """The operations of an order in routing order."""
    order_summary(session, order_id)  # NotFound for an unknown order
    rows = session.execute(
        select(Operation, Equipment.code, Skill.code)
        .join(Equipment, Equipment.id == Operation.work_center_id)
        .outerjoin(Skill, Skill.id == Operation.required_skill_id)
        .where(Operation.order_id == order_id)
        .order_by(Operation.operation_no)
    ).all()
    return [
        OperationLine(
            id=op.id,
            operation_no=op.operation_no,
            name=op.name,
            work_center_code=work_center_code,
            required_skill_code=skill_code,
            setup_minutes=op.setup_minutes,
            ideal_cycle_seconds=op.ideal_cycle_seconds,
            status=op.status,
            started_at=op.started_at,
            completed_at=op.completed_at,
        )
        for op, work_center_code, skill_code in rows
    ]


@dataclass(frozen=True)
class ComponentLine:
    """One line of the execution BOM: the norm for the whole order quantity."""

    id: int
    line_no: int
    item_code: str
    item_name: str
    norm_quantity: Decimal
    uom_code: str
    tolerance_pct: Decimal
    operation_no: int | None


def order_components(session: Session, order_id: int) -> list[ComponentLine]:
    """The execution BOM of an order, by BOM line number."""
    order_summary(session, order_id)  # NotFound for an unknown order
    rows = session.execute(
        select(OrderComponent, Item.code, Item.name, UnitOfMeasure.code)
        .join(Item, Item.id == OrderComponent.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == OrderComponent.uom_id)
        .where(OrderComponent.order_id == order_id)
        .order_by(OrderComponent.line_no)
    ).all()
    return [
        ComponentLine(
            id=component.id,
            line_no=component.line_no,
            item_code=item_code,
            item_name=item_name,
            norm_quantity=component.norm_quantity,
            uom_code=uom_code,
            tolerance_pct=component.tolerance_pct,
            operation_no=component.operation_no,
        )
        for component, item_code, item_name, uom_code in rows
    ]
