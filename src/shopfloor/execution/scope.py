"""The order a fact belongs to: loaded (row-locked), with its item, its exact BOM and routing
versions, its ERP discrepancy flag, and the glue keys every event carries.

Every execution command on an order locks the order row first, then the operation: facts
of one order are recorded one after another, so the quantity flow and the norm checks see
everything recorded before them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.execution import domain
from shopfloor.execution.tables import ProductionReport
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Item
from shopfloor.materials import service as materials
from shopfloor.materials.domain import OrderKeys
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.orders import domain as orders_domain
from shopfloor.orders import service as orders
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from shopfloor.platform import outbox
from shopfloor.platform.db import quantity_sums


@dataclass
class OrderScope:
    order: ProductionOrder
    item: Item
    unit: str
    bom_version: str
    routing_version: str

    @property
    def discrepancy(self) -> str | None:
        """'erp_not_released' or 'erp_closed' when ERP has not released the order."""
        return orders_domain.discrepancy(self.order.erp_status)

    def keys(self, session: Session, operation: Operation | None = None) -> OrderKeys:
        return OrderKeys(
            erp_order_id=self.order.erp_order_id,
            operation_no=operation.operation_no if operation else None,
            work_center=work_center_code(session, operation) if operation else None,
            bom_version=self.bom_version,
            routing_version=self.routing_version,
            discrepancy=self.discrepancy,
        )

    def emit(
        self,
        session: Session,
        ctx: CommandContext,
        event_type: str,
        payload: dict[str, Any],
        *,
        operation: Operation | None = None,
        occurred_at: datetime | None = None,
        **glue: Any,
    ) -> None:
        """Announce an event of this order with its glue keys and exact versions."""
        keys = self.keys(session, operation)
        outbox.emit(
            session,
            ctx,
            event_type,
            {**payload, "discrepancy": self.discrepancy},
            glue={**keys.glue(), "item": self.item.code, **glue},
            occurred_at=occurred_at,
            bom_version=self.bom_version,
            routing_version=self.routing_version,
        )


def order_scope(session: Session, order_id: int, *, lock: bool = True) -> OrderScope:
    """The order (row-locked unless `lock` is False) with what its events need."""
    order = _locked(session, ProductionOrder, order_id) if lock else None
    if order is None:  # not locked, or not there: the plain look-up says which
        order = orders.load_order(session, order_id)
    bom_version, routing_version = md.bom_and_routing_versions(
        session, order.bom_id, order.routing_id
    )
    return OrderScope(
        order=order,
        item=md.item_by_id(session, order.item_id),
        unit=md.uom_by_id(session, order.uom_id).code,
        bom_version=bom_version,
        routing_version=routing_version,
    )


def operation_scope(session: Session, operation_id: int) -> tuple[OrderScope, Operation]:
    """The operation and its order, both row-locked: the order first, then the operation."""
    order_id = orders.load_operation(session, operation_id).order_id
    scope = order_scope(session, order_id)
    operation = _locked(session, Operation, operation_id)
    if operation is None:
        raise NotFound(f"no operation with id {operation_id}")
    return scope, operation


def _locked(session: Session, table: type[ProductionOrder] | type[Operation], row_id: int) -> Any:
    """The row, locked for the transaction (PostgreSQL) and read afresh: a command waiting
    for the lock sees what the command before it committed, not a stale copy."""
    return session.scalar(
        select(table)
        .where(table.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def work_center_code(session: Session, operation: Operation) -> str:
    return md.equipment_by_id(session, operation.work_center_id).code


def statuses(session: Session, order_id: int) -> dict[int, str]:
    """Operation number → status of every operation of the order."""
    return {op.operation_no: op.status for op in orders.operations_of(session, order_id)}


def operation_by_no(session: Session, order_id: int, operation_no: int) -> Operation:
    for op in orders.operations_of(session, order_id):
        if op.operation_no == operation_no:
            return op
    raise NotFound(f"order {order_id} has no operation {operation_no}")


def output(session: Session, operation_id: int) -> orders_domain.Output:
    """Net good, scrap and rework reported at one operation (reversals subtract)."""
    sums = quantity_sums(
        session,
        ProductionReport.quantity,
        (ProductionReport.kind,),
        ProductionReport.operation_id == operation_id,
    )
    return domain.output_of((kind, total) for (kind,), total in sums.items())


def components(session: Session, order_id: int) -> list[OrderComponent]:
    """The order's execution BOM, by line number."""
    return list(
        session.scalars(
            select(OrderComponent)
            .where(OrderComponent.order_id == order_id)
            .order_by(OrderComponent.line_no)
        )
    )


def product_lot(
    session: Session, ctx: CommandContext, scope: OrderScope, lot_code: str | None
) -> Lot | None:
    """The lot of the order's item with this code, created on the floor when new."""
    if lot_code is None:
        return None
    return materials.register_lot(
        session,
        ctx,
        item_code=scope.item.code,
        lot_code=lot_code,
        origin="floor",
        order_id=scope.order.id,
        keys=scope.keys(session),
    )


def product_serial(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    serial: str | None,
    lot: Lot | None,
) -> SerialNumber | None:
    """The serial number of the order's item, registered on the floor when new."""
    if serial is None:
        return None
    return materials.register_serial(
        session,
        ctx,
        item_code=scope.item.code,
        serial=serial,
        lot_id=lot.id if lot else None,
        order_id=scope.order.id,
    )


def order_move(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    kind: str,
    *,
    item_id: int,
    quantity: Decimal,
    uom_id: int,
    operation: Operation | None,
    lot: Lot | None,
    **details: Any,
) -> MaterialMove:
    """Append a move of this order to the ledger, with its versions and ERP flag."""
    return materials.record_move(
        session,
        ctx,
        kind=kind,
        item_id=item_id,
        quantity=quantity,
        uom_id=uom_id,
        order_id=scope.order.id,
        operation_id=operation.id if operation else None,
        lot_id=lot.id if lot else None,
        bom_version=scope.bom_version,
        routing_version=scope.routing_version,
        discrepancy=scope.discrepancy,
        **details,
    )


def check_unit(given: str | None, expected: str, what: str) -> None:
    """Quantities are reported in the unit of the order or BOM line (no conversion yet)."""
    if given is not None and given != expected:
        raise RuleViolation(f"{what} is counted in {expected}, not {given}")
