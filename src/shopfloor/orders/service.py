"""Order use cases. Never commits: the entry point owns the transaction.

Status moves of orders and operations, release to the floor and abort live here; receiving
orders from ERP lives in `service_intake` and is re-exported here (`upsert_order`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.orders import domain
from shopfloor.orders import service_intake as _intake
from shopfloor.orders.tables import Operation, ProductionOrder
from shopfloor.platform import outbox

# Re-exported: receiving orders from ERP lives in `service_intake`.
upsert_order = _intake.upsert_order


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
    session: Session,
    ctx: CommandContext,
    order: ProductionOrder,
    command: str,
    reason: str | None = None,
) -> str:
    """Apply an execution-status command to the order; returns the status it left."""
    before = order.execution_status
    order.execution_status = domain.ORDER_FLOW.target(command, before)
    if command == "release_to_floor":
        order.released_at = ctx.now
    if order.execution_status in ("completed", "aborted"):
        order.completed_at = ctx.now
    audit.record(
        session,
        ctx,
        f"order.{command}",
        "production_order",
        order.id,
        old={"execution_status": before},
        new={"execution_status": order.execution_status},
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
        session,
        ctx,
        f"operation.{command}",
        "operation",
        operation.id,
        old={"status": before},
        new={"status": target},
        reason=reason,
    )
    return before


# --- release to the floor and abort -----------------------------------------------------


def release_to_floor(
    session: Session, ctx: CommandContext, order_id: int, reason: str | None = None
) -> ProductionOrder:
    """Dispatch a queued order and all its operations to their work centers.

    An order ERP has closed is never released. One ERP has not released yet goes to the
    floor only with a reason, and the event carries the discrepancy so the exceptions inbox
    and the reconciliation report show it.
    """
    order = load_order(session, order_id, lock=True)
    if order.erp_status == "closed":
        raise RuleViolation(
            f"ERP has closed order {order.erp_order_id}; it cannot be released to the floor"
        )
    flag = domain.discrepancy(order.erp_status)
    reason = reason.strip() if reason else None
    if flag and not reason:
        raise RuleViolation(
            f"ERP has not released order {order.erp_order_id} yet; releasing it to the floor "
            "anyway needs a reason"
        )
    move_order(session, ctx, order, "release_to_floor", reason)
    operations = operations_of(session, order.id)
    for op in operations:
        move_operation(session, ctx, op, "dispatch", reason=reason)
    view = _intake.plan_view(session, order)
    outbox.emit(
        session,
        ctx,
        "work_order.released_to_floor",
        {
            "order_id": order.id,
            **view,
            "discrepancy": flag,
            "reason": reason,
            "operations": [_intake.operation_view(session, op) for op in operations],
        },
        glue={"erp_order_id": order.erp_order_id, "item": view["item"]},
        bom_version=view["bom_version"],
        routing_version=view["routing_version"],
    )
    session.flush()
    return order


def abort_order(
    session: Session, ctx: CommandContext, order_id: int, reason: str
) -> ProductionOrder:
    """Stop an order for good, with a reason; its unfinished operations are aborted too.
    Facts already recorded stay; ERP keeps its own business status."""
    if not reason or not reason.strip():
        raise RuleViolation("aborting an order needs a reason")
    order = load_order(session, order_id, lock=True)
    move_order(session, ctx, order, "abort", reason.strip())
    for op in operations_of(session, order.id):
        if domain.OPERATION_FLOW.can("abort", op.status):
            move_operation(session, ctx, op, "abort", reason=reason.strip())
    view = _intake.plan_view(session, order)
    outbox.emit(
        session,
        ctx,
        "work_order.aborted",
        {"reason": reason.strip(), "execution_status": order.execution_status},
        glue={"erp_order_id": order.erp_order_id, "item": view["item"]},
        bom_version=view["bom_version"],
        routing_version=view["routing_version"],
    )
    session.flush()
    return order
