"""Order use cases. Never commits: the entry point owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound
from shopfloor.orders import domain
from shopfloor.orders.tables import Operation, ProductionOrder


def load_order(session: Session, order_id: int, *, lock: bool = False) -> ProductionOrder:
    """The order by shopfloor id; `lock` takes a row lock (PostgreSQL) for the transaction."""
    stmt = select(ProductionOrder).where(ProductionOrder.id == order_id)
    order = session.scalar(stmt.with_for_update() if lock else stmt)
    if order is None:
        raise NotFound(f"no production order with id {order_id}")
    return order


def load_operation(session: Session, operation_id: int, *, lock: bool = False) -> Operation:
    stmt = select(Operation).where(Operation.id == operation_id)
    operation = session.scalar(stmt.with_for_update() if lock else stmt)
    if operation is None:
        raise NotFound(f"no operation with id {operation_id}")
    return operation


def operations_of(session: Session, order_id: int) -> list[Operation]:
    return list(
        session.scalars(
            select(Operation).where(Operation.order_id == order_id).order_by(Operation.operation_no)
        )
    )


def move_order(
    session: Session, ctx: CommandContext, order: ProductionOrder, command: str, reason: str | None = None
) -> str:
    """Apply an execution-status command to the order; returns the status it left."""
    before = order.execution_status
    order.execution_status = domain.ORDER_FLOW.target(command, before)
    if command == "release_to_floor":
        order.released_at = ctx.now
    if order.execution_status in ("completed", "aborted"):
        order.completed_at = ctx.now
    audit.record(
        session, ctx, f"order.{command}", "production_order", order.id,
        old={"execution_status": before}, new={"execution_status": order.execution_status},
        reason=reason,
    )
    return before


def move_operation(
    session: Session,
    ctx: CommandContext,
    operation: Operation,
    command: str,
    *,
    at: datetime | None = None,
    reason: str | None = None,
) -> str:
    """Apply a status command to an operation (routing order checked); returns the old status."""
    before = operation.status
    target = domain.OPERATION_FLOW.target(command, before)
    if command in ("start", "complete"):
        earlier = {
            op.operation_no: op.status
            for op in operations_of(session, operation.order_id)
            if op.operation_no < operation.operation_no and op.status != "aborted"
        }
        domain.check_routing_order(operation.operation_no, command, earlier)
    operation.status = target
    if command == "start" and operation.started_at is None:
        operation.started_at = at or ctx.now
    if command == "complete":
        operation.completed_at = at or ctx.now
    audit.record(
        session, ctx, f"operation.{command}", "operation", operation.id,
        old={"status": before}, new={"status": target}, reason=reason,
    )
    return before
