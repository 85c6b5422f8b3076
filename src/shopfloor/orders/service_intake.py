"""Order intake: production orders received from ERP, or opened on the floor as unplanned
work, and their expansion into operations and the execution BOM. Never commits.

Re-exported by `shopfloor.orders.service`, which is the one entry to every order command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict, RuleViolation
from shopfloor.kernel.quantities import fmt, qty
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Bom, Routing
from shopfloor.orders import domain
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from shopfloor.platform import outbox

ORIGINS = ("erp", "mes")


@dataclass(frozen=True)
class OrderPlan:
    """What ERP (or the floor, for unplanned work) says about an order in one version."""

    erp_version: int
    item_code: str
    quantity: Decimal
    uom_code: str
    due_date: date
    priority: int
    erp_status: str
    bom_version: str | None
    routing_version: str | None


def check_plan(erp_order_id: str, plan: OrderPlan, origin: str) -> None:
    """An order plans a positive quantity, by a due date, at priority 1 (most urgent) to 9,
    in a known ERP status, from ERP or from the floor."""
    if origin not in ORIGINS:
        raise RuleViolation(f"'{origin}' is not an order origin; use {', '.join(ORIGINS)}")
    if plan.quantity <= 0:
        raise RuleViolation(
            f"order {erp_order_id}: quantity must be positive, not {fmt(plan.quantity)}"
        )
    if plan.due_date is None:
        raise RuleViolation(f"order {erp_order_id} needs a due date")
    if not 1 <= plan.priority <= 9:
        raise RuleViolation(
            f"order {erp_order_id}: priority must be 1 (most urgent) to 9, not {plan.priority}"
        )
    domain.erp_status_change("created", plan.erp_status)  # refuses an unknown status


def upsert_order(
    session: Session,
    ctx: CommandContext,
    *,
    erp_order_id: str,
    erp_version: int,
    item_code: str,
    quantity: Decimal,
    uom_code: str,
    due_date: date,
    priority: int,
    erp_status: str = "created",
    bom_version: str | None = None,
    routing_version: str | None = None,
    origin: str = "erp",
) -> ProductionOrder:
    """Receive an order, idempotent on ERP order id + ERP version.

    The same version again changes nothing; an older version is refused as stale; a newer
    version updates the plan. Quantity, unit, BOM and routing change only while the order is
    queued (operations and execution BOM are then expanded again); once it is on the floor,
    only due date, priority and ERP status still change. Unplanned work opened on the floor
    comes in the same way with `origin='mes'`, usually as ERP status released.

    A new order must come from an origin the plant allows (`SHOPFLOOR_ORDER_ORIGIN`, carried
    in `ctx.boundary`): otherwise a RuleViolation names the setting. Later versions of an
    order already received still apply, so ERP can still close what it sent before a switch.
    """
    plan = OrderPlan(
        erp_version,
        item_code,
        qty(quantity),
        uom_code,
        due_date,
        priority,
        erp_status,
        bom_version,
        routing_version,
    )
    check_plan(erp_order_id, plan, origin)
    order = session.scalar(
        select(ProductionOrder)
        .where(ProductionOrder.erp_order_id == erp_order_id)
        .with_for_update()
    )
    if order is None:
        ctx.boundary.check_order_origin(origin)
        return _receive(session, ctx, erp_order_id, plan, origin)
    if erp_version == order.erp_version:
        return order
    if erp_version < order.erp_version:
        raise Conflict(
            f"stale version: ERP order {erp_order_id} is at version {order.erp_version}; "
            f"version {erp_version} arrived late and is refused"
        )
    return _revise(session, ctx, order, plan)


def _versions(
    session: Session, plan: OrderPlan, bom_id: int | None, routing_id: int | None, on: date
) -> tuple[Bom, Routing]:
    """The BOM and routing versions the plan names; otherwise the ones given (an order's
    current versions), and for a new order the ones effective on the day."""
    item = plan.item_code
    if plan.bom_version:
        bom = md.bom_of_version(session, item, plan.bom_version)
    else:
        bom = md.bom_by_id(session, bom_id) if bom_id else md.effective_bom(session, item, on)
    if plan.routing_version:
        routing = md.routing_of_version(session, item, plan.routing_version)
    elif routing_id:
        routing = md.routing_by_id(session, routing_id)
    else:
        routing = md.effective_routing(session, item, on)
    return bom, routing


def _receive(
    session: Session, ctx: CommandContext, erp_order_id: str, plan: OrderPlan, origin: str
) -> ProductionOrder:
    """Create the order, expand it, and tell ERP it was received."""
    item = md.item_by_code(session, plan.item_code)
    uom = md.uom_by_code(session, plan.uom_code)
    bom, routing = _versions(session, plan, None, None, ctx.now.date())
    order = ProductionOrder(
        erp_order_id=erp_order_id,
        erp_version=plan.erp_version,
        origin=origin,
        site=ctx.site,
        item_id=item.id,
        quantity=plan.quantity,
        uom_id=uom.id,
        due_date=plan.due_date,
        priority=plan.priority,
        bom_id=bom.id,
        routing_id=routing.id,
        erp_status=plan.erp_status,
        execution_status="queued",
        received_at=ctx.now,
    )
    session.add(order)
    session.flush()
    operations, components = expand(session, order)
    view = plan_view(session, order)
    audit.record(
        session,
        ctx,
        "order.received",
        "production_order",
        order.id,
        new={**view, "origin": origin},
    )
    payload = {
        "order_id": order.id,
        "origin": origin,
        **view,
        "operations": [operation_view(session, op) for op in operations],
        "components": [_component_view(session, c) for c in components],
    }
    outbox.emit(
        session,
        ctx,
        "work_order.received",
        payload,
        glue={"erp_order_id": erp_order_id, "item": item.code},
        bom_version=bom.version,
        routing_version=routing.version,
    )
    return order


def _revise(
    session: Session, ctx: CommandContext, order: ProductionOrder, plan: OrderPlan
) -> ProductionOrder:
    """Apply a newer ERP version; quantity, unit, BOM and routing only while queued."""
    item = md.item_by_id(session, order.item_id)
    if item.code != plan.item_code:
        raise Conflict(
            f"ERP order {order.erp_order_id} is for item {item.code}; version "
            f"{plan.erp_version} names {plan.item_code}. An order never changes its item"
        )
    domain.erp_status_change(order.erp_status, plan.erp_status)
    uom = md.uom_by_code(session, plan.uom_code)
    bom, routing = _versions(session, plan, order.bom_id, order.routing_id, ctx.now.date())
    changed = [
        name
        for name, differs in (
            ("quantity", plan.quantity != order.quantity),
            ("unit", uom.id != order.uom_id),
            ("BOM version", bom.id != order.bom_id),
            ("routing version", routing.id != order.routing_id),
        )
        if differs
    ]
    if changed and order.execution_status != "queued":
        raise Conflict(
            f"ERP order {order.erp_order_id} is already {order.execution_status} on the floor: "
            f"version {plan.erp_version} changes its {', '.join(changed)}, which can no longer "
            "change. Only due date, priority and ERP status still apply."
        )
    before = plan_view(session, order)
    order.erp_version, order.erp_status = plan.erp_version, plan.erp_status
    order.due_date, order.priority, order.quantity = plan.due_date, plan.priority, plan.quantity
    order.uom_id, order.bom_id, order.routing_id = uom.id, bom.id, routing.id
    session.flush()
    if changed:
        expand(session, order)
    after = plan_view(session, order)
    audit.record(
        session,
        ctx,
        "order.revised",
        "production_order",
        order.id,
        old={k: v for k, v in before.items() if after[k] != v},
        new={k: v for k, v in after.items() if before[k] != v},
        reason=f"ERP version {plan.erp_version}",
    )
    return order


def expand(
    session: Session, order: ProductionOrder
) -> tuple[list[Operation], list[OrderComponent]]:
    """Operations from the routing version, the execution BOM from the BOM version.

    Each component's norm is its BOM line quantity scaled from the BOM quantity to the order
    quantity (in the item's own unit), kept in the unit the BOM line gives. Run again on a
    queued order, rows are matched by operation and line number and brought up to date.
    """
    operations = {op.operation_no: op for op in _operations(session, order.id)}
    for step in md.routing_operations(session, order.routing_id):
        op = operations.pop(step.operation_no, None) or Operation(
            order_id=order.id, operation_no=step.operation_no, status="queued"
        )
        op.name, op.work_center_id = step.name, step.work_center_id
        op.required_skill_id = step.required_skill_id
        op.setup_minutes, op.ideal_cycle_seconds = step.setup_minutes, step.ideal_cycle_seconds
        session.add(op)
    for dropped in operations.values():
        session.delete(dropped)
    _expand_components(session, order)
    session.flush()
    return _operations(session, order.id), _components(session, order.id)


def _expand_components(session: Session, order: ProductionOrder) -> None:
    item = md.item_by_id(session, order.item_id)
    bom = md.bom_by_id(session, order.bom_id)
    order_quantity = md.convert_quantity(
        session,
        order.quantity,
        md.uom_by_id(session, order.uom_id).code,
        md.uom_by_id(session, item.uom_id).code,
        item.id,
    )
    components = {c.line_no: c for c in _components(session, order.id)}
    for line in md.bom_lines(session, bom.id):
        component = components.pop(line.line_no, None) or OrderComponent(
            order_id=order.id, line_no=line.line_no
        )
        component.bom_line_id, component.item_id = line.bom_line_id, line.item_id
        component.norm_quantity = qty(
            domain.scaled_norm(line.quantity, bom.quantity, order_quantity)
        )
        component.uom_id, component.tolerance_pct = line.uom_id, line.tolerance_pct
        component.operation_no = line.operation_no
        session.add(component)
    for dropped in components.values():
        session.delete(dropped)


def _operations(session: Session, order_id: int) -> list[Operation]:
    return list(
        session.scalars(
            select(Operation).where(Operation.order_id == order_id).order_by(Operation.operation_no)
        )
    )


def _components(session: Session, order_id: int) -> list[OrderComponent]:
    return list(
        session.scalars(
            select(OrderComponent)
            .where(OrderComponent.order_id == order_id)
            .order_by(OrderComponent.line_no)
        )
    )


def plan_view(session: Session, order: ProductionOrder) -> dict[str, Any]:
    """The plan of an order in plant codes, for audit entries and events."""
    bom_version, routing_version = md.bom_and_routing_versions(
        session, order.bom_id, order.routing_id
    )
    return {
        "erp_order_id": order.erp_order_id,
        "erp_version": order.erp_version,
        "item": md.item_by_id(session, order.item_id).code,
        "quantity": str(order.quantity),
        "uom": md.uom_by_id(session, order.uom_id).code,
        "due_date": order.due_date.isoformat(),
        "priority": order.priority,
        "erp_status": order.erp_status,
        "bom_version": bom_version,
        "routing_version": routing_version,
    }


def operation_view(session: Session, op: Operation) -> dict[str, Any]:
    return {
        "operation_no": op.operation_no,
        "name": op.name,
        "work_center": md.equipment_by_id(session, op.work_center_id).code,
    }


def _component_view(session: Session, component: OrderComponent) -> dict[str, Any]:
    return {
        "line_no": component.line_no,
        "item": md.item_by_id(session, component.item_id).code,
        "norm_quantity": str(component.norm_quantity),
        "uom": md.uom_by_id(session, component.uom_id).code,
        "operation_no": component.operation_no,
    }
