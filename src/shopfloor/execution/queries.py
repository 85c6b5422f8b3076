"""Read side of execution: plan against actual per order, the exceptions inbox, and the
status history of operations. Plain frozen dataclasses; reversals are netted in."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from shopfloor.execution import domain
from shopfloor.execution.scope import OrderHead, components, order_scope, output
from shopfloor.execution.tables import (
    Downtime,
    LaborRecord,
    OperationEvent,
    ProductionReport,
)
from shopfloor.identity.tables import User
from shopfloor.masterdata.tables import DowntimeReason, Equipment, Item, UnitOfMeasure
from shopfloor.materials import queries as material_queries
from shopfloor.materials.tables import MaterialMove
from shopfloor.orders import service as orders
from shopfloor.orders.tables import Operation, ProductionOrder


@dataclass(frozen=True)
class OperationProgress:
    operation_no: int
    name: str
    work_center: str
    status: str
    planned: Decimal
    good: Decimal
    scrap: Decimal
    rework: Decimal
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class ComponentProgress:
    line_no: int
    item: str
    unit: str
    norm: Decimal
    tolerance_pct: Decimal
    consumed: Decimal
    returned: Decimal
    net: Decimal
    overuse_reasons: tuple[str, ...]
    substitutes: tuple[tuple[str, Decimal], ...]  # alternative item code, net quantity


@dataclass(frozen=True)
class OrderProgress:
    order_id: int
    erp_order_id: str
    item: str
    quantity: Decimal
    unit: str
    erp_status: str
    execution_status: str
    bom_version: str
    routing_version: str
    good: Decimal
    scrap: Decimal
    operations: tuple[OperationProgress, ...]
    components: tuple[ComponentProgress, ...]
    downtime_minutes: dict[str, Decimal]
    labor_minutes: Decimal


def order_progress(session: Session, order_id: int) -> OrderProgress:
    """Plan against actual: per operation (planned, good, scrap, rework, status, times), per
    component (norm, consumed, returned, net, overuse reasons), downtime minutes by reason
    and labour minutes. Good is what the last operation passed; scrap is every operation's."""
    scope = order_scope(session, order_id, lock=False)
    operations = tuple(
        _operation_progress(session, scope.order, op)
        for op in orders.operations_of(session, order_id)
    )
    last = domain.last_operation({op.operation_no: op.status for op in operations})
    return OrderProgress(
        order_id=order_id,
        erp_order_id=scope.order.erp_order_id,
        item=scope.item.code,
        quantity=scope.order.quantity,
        unit=scope.unit,
        erp_status=scope.order.erp_status,
        execution_status=scope.order.execution_status,
        bom_version=scope.bom_version,
        routing_version=scope.routing_version,
        good=next((op.good for op in operations if op.operation_no == last), Decimal(0)),
        scrap=sum((op.scrap for op in operations), Decimal(0)),
        operations=operations,
        components=_component_progress(session, order_id),
        downtime_minutes=_downtime_by_reason(session, order_id),
        labor_minutes=_labor_minutes(session, order_id),
    )


def _operation_progress(session: Session, order: OrderHead, op: Operation) -> OperationProgress:
    done = output(session, op.id)
    center = session.get(Equipment, op.work_center_id)
    return OperationProgress(
        operation_no=op.operation_no,
        name=op.name,
        work_center=center.code if center else "",
        status=op.status,
        planned=order.quantity,
        good=done.good,
        scrap=done.scrap,
        rework=done.rework,
        started_at=op.started_at,
        completed_at=op.completed_at,
    )


def _component_progress(session: Session, order_id: int) -> tuple[ComponentProgress, ...]:
    moves = material_queries.moves_of_order(session, order_id)
    reversed_ids = {m.reverses_id for m in moves if m.reverses_id is not None}
    codes = _codes(session, Item, {m.item_id for m in moves})
    lines = []
    for line in components(session, order_id):
        own = [m for m in moves if m.item_id == line.item_id and m.substitute_for_item_id is None]
        alts = [m for m in moves if m.substitute_for_item_id == line.item_id]
        consumed = _sum(own, "consume")
        returned = _sum(own, "return")
        substitutes: dict[str, Decimal] = defaultdict(Decimal)
        for m in alts:
            substitutes[codes[m.item_id]] += _sum([m], "consume") - _sum([m], "return")
        reasons = tuple(
            m.overuse_reason
            for m in own + alts
            if m.overuse_reason
            and m.kind == "consume"
            and m.reverses_id is None
            and m.id not in reversed_ids
        )
        item = session.get(Item, line.item_id)
        unit = session.get(UnitOfMeasure, line.uom_id)
        lines.append(
            ComponentProgress(
                line_no=line.line_no,
                item=item.code if item else "",
                unit=unit.code if unit else "",
                norm=line.norm_quantity,
                tolerance_pct=line.tolerance_pct,
                consumed=consumed,
                returned=returned,
                net=consumed - returned,
                overuse_reasons=reasons,
                substitutes=tuple(sorted(substitutes.items())),
            )
        )
    return tuple(lines)


def _sum(moves: list[MaterialMove], kind: str) -> Decimal:
    return sum((m.quantity for m in moves if m.kind == kind), Decimal(0))


def _codes(session: Session, table: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(table.id, table.code).where(table.id.in_(ids))).all())


def _downtime_by_reason(session: Session, order_id: int) -> dict[str, Decimal]:
    """Net downtime minutes of the order per reason code (reversals subtract)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    rows = session.execute(
        select(DowntimeReason.code, Downtime.minutes)
        .join(DowntimeReason, DowntimeReason.id == Downtime.reason_id)
        .where(Downtime.order_id == order_id)
    )
    for code, minutes in rows:
        totals[code] += minutes
    return {code: minutes for code, minutes in sorted(totals.items()) if minutes != 0}


def _labor_minutes(session: Session, order_id: int) -> Decimal:
    minutes = session.scalars(select(LaborRecord.minutes).where(LaborRecord.order_id == order_id))
    return sum(minutes, Decimal(0))


@dataclass(frozen=True)
class FlaggedFact:
    """A fact kept although ERP had not released (or had closed) its order."""

    fact: str  # operation_event, production_report, labor, downtime, material_move
    fact_id: int
    kind: str
    order_id: int
    erp_order_id: str
    discrepancy: str
    occurred_at: datetime


def exceptions_inbox(session: Session) -> list[FlaggedFact]:
    """Every flagged fact across the fact tables, with its order, kind and time, oldest first."""
    sources: list[tuple[str, Any, Any, Any]] = [
        ("operation_event", OperationEvent, OperationEvent.command, OperationEvent.occurred_at),
        (
            "production_report",
            ProductionReport,
            ProductionReport.kind,
            ProductionReport.occurred_at,
        ),
        ("labor", LaborRecord, literal("labor"), LaborRecord.ended_at),
        ("downtime", Downtime, literal("downtime"), Downtime.started_at),
        ("material_move", MaterialMove, MaterialMove.kind, MaterialMove.occurred_at),
    ]
    found: list[FlaggedFact] = []
    for fact, table, kind, moment in sources:
        rows = session.execute(
            select(
                table.id,
                kind,
                table.order_id,
                ProductionOrder.erp_order_id,
                table.discrepancy,
                moment,
            )
            .join(ProductionOrder, ProductionOrder.id == table.order_id)
            .where(table.discrepancy.is_not(None))
        )
        found.extend(FlaggedFact(fact, *row) for row in rows)
    return sorted(found, key=lambda f: (f.occurred_at, f.fact, f.fact_id))


@dataclass(frozen=True)
class OperationEventRow:
    id: int
    operation_no: int
    command: str
    from_status: str
    to_status: str
    work_center: str
    user: str
    reason: str | None
    discrepancy: str | None
    occurred_at: datetime


def operation_events(session: Session, order_id: int) -> list[OperationEventRow]:
    """The status history of an order's operations: who moved which, from what to what."""
    rows = session.execute(
        select(OperationEvent, Operation.operation_no, Equipment.code, User.username)
        .join(Operation, Operation.id == OperationEvent.operation_id)
        .join(Equipment, Equipment.id == OperationEvent.work_center_id)
        .outerjoin(User, User.id == OperationEvent.user_id)
        .where(OperationEvent.order_id == order_id)
        .order_by(OperationEvent.id)
    )
    return [
        OperationEventRow(
            event.id,
            operation_no,
            event.command,
            event.from_status,
            event.to_status,
            center,
            username or str(event.user_id),
            event.reason,
            event.discrepancy,
            event.occurred_at,
        )
        for event, operation_no, center, username in rows
    ]


def fact_counts(session: Session, order_id: int) -> dict[str, int]:
    """How many facts of each kind the order has, reversals included, as its events tell
    them: consume and return moves, good and scrap reports, labour records ("labour") and
    their reversals ("unlabour"). Sums can hide a missing fact (a consumption and a return
    of the same quantity, a fact and its reversal); counts cannot."""
    counts = dict.fromkeys(("consume", "return", "good", "scrap", "labour", "unlabour"), 0)
    moves = session.execute(
        select(MaterialMove.kind, func.count())
        .where(MaterialMove.order_id == order_id, MaterialMove.kind.in_(("consume", "return")))
        .group_by(MaterialMove.kind)
    )
    reports = session.execute(
        select(ProductionReport.kind, func.count())
        .where(ProductionReport.order_id == order_id, ProductionReport.kind.in_(("good", "scrap")))
        .group_by(ProductionReport.kind)
    )
    reversed_labour = LaborRecord.reverses_id.is_not(None)
    labour = session.execute(
        select(reversed_labour, func.count())
        .where(LaborRecord.order_id == order_id)
        .group_by(reversed_labour)
    )
    for kind, count in [*moves, *reports]:
        counts[kind] = count
    for is_reversal, count in labour:
        counts["unlabour" if is_reversal else "labour"] = count
    return counts
