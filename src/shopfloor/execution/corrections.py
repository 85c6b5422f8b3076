"""Corrections: a recorded fact is never edited or deleted; it is reversed by a new row
with the negated quantity (or minutes), `reverses_id` pointing at the original, and a
mandatory reason. A fact is reversed once; a reversal is never reversed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.execution import domain
from shopfloor.execution.scope import OrderScope, count_output, order_scope, output, statuses
from shopfloor.execution.tables import Downtime, LaborRecord, ProductionReport
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.masterdata import queries as md
from shopfloor.materials import domain as rules
from shopfloor.materials import queries as material_queries
from shopfloor.materials import service as materials
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.orders import service as orders
from shopfloor.orders.tables import Operation
from shopfloor.platform import outbox

FACT_KINDS = ("production", "move", "labor", "downtime")
Fact = TypeVar("Fact", ProductionReport, LaborRecord, Downtime)


def reverse_fact(
    session: Session, ctx: CommandContext, kind: str, fact_id: int, reason: str
) -> Any:
    """Reverse one production report, material move, labour record or downtime.

    Returns the reversing row. Audited, and announced as `fact.reversed` naming the type
    of the original event; the reversal is flagged if ERP has not released the order now.
    """
    handlers = {
        "production": _reverse_production,
        "move": _reverse_move,
        "labor": _reverse_labor,
        "downtime": _reverse_downtime,
    }
    if kind not in handlers:
        raise RuleViolation(f"'{kind}' is not a kind of fact; use {', '.join(FACT_KINDS)}")
    return handlers[kind](session, ctx, fact_id, reason)


def _locked(session: Session, table: type[Fact], fact_id: int, what: str) -> Fact:
    row = session.scalar(select(table).where(table.id == fact_id).with_for_update())
    if row is None:
        raise NotFound(f"no {what} with id {fact_id}")
    return row


def _order_id(session: Session, table: Any, fact_id: int, what: str) -> int | None:
    """The order a fact belongs to (read before any lock: the order is locked first)."""
    found = session.execute(select(table.order_id).where(table.id == fact_id)).first()
    if found is None:
        raise NotFound(f"no {what} with id {fact_id}")
    order_id: int | None = found[0]
    return order_id


def _order_of(session: Session, table: Any, fact_id: int, what: str) -> OrderScope:
    order_id = _order_id(session, table, fact_id, what)
    if order_id is None:
        raise RuleViolation(f"{what} {fact_id} belongs to no order")
    return order_scope(session, order_id)


def _checked(session: Session, table: Any, row: Any, what: str, reason: str) -> str:
    already = session.scalar(select(table.id).where(table.reverses_id == row.id))
    return rules.check_reversal(
        what,
        row.id,
        is_reversal=row.reverses_id is not None,
        already_reversed=already is not None,
        reason=reason,
    )


def _reverse_production(
    session: Session, ctx: CommandContext, report_id: int, reason: str
) -> ProductionReport:
    """Take back good, scrap or rework output; good taken back may not leave the next
    operation with more processed units than reached it. The stock move goes with it."""
    scope = _order_of(session, ProductionReport, report_id, "production report")
    original = _locked(session, ProductionReport, report_id, "production report")
    text = _checked(session, ProductionReport, original, "production report", reason)
    operation = orders.load_operation(session, original.operation_id)
    if original.kind == "good":
        _check_downstream(session, scope, operation, original)
    reversal = _append_reversal(
        session,
        ctx,
        original,
        "production_report",
        "quantity",
        reason=text,
        discrepancy=scope.discrepancy,
    )
    count_output(session, reversal)
    linked = _stock_move_of(session, original)
    if linked is not None:
        materials.reverse_move(
            session, ctx, linked.id, text, keys=scope.keys(session, operation), announce=False
        )
    lot = session.get(Lot, original.lot_id) if original.lot_id else None
    unit = session.get(SerialNumber, original.serial_id) if original.serial_id else None
    _announce(
        session,
        ctx,
        scope,
        original,
        reversal,
        "production_report",
        "production.reported",
        operation=operation,
        extra={"kind": original.kind, "quantity": reversal.quantity, "unit": scope.unit},
        lot=lot.code if lot else None,
        serial=unit.serial if unit else None,
    )
    return reversal


def _check_downstream(
    session: Session, scope: OrderScope, operation: Operation, original: ProductionReport
) -> None:
    status_by_no = statuses(session, scope.order.id)
    next_no = domain.next_live_operation(status_by_no, operation.operation_no)
    next_output = None
    if next_no is not None:
        next_op = next(
            op for op in orders.operations_of(session, scope.order.id) if op.operation_no == next_no
        )
        next_output = output(session, next_op.id)
    domain.check_good_reversal(
        operation.operation_no,
        original.quantity,
        output(session, operation.id),
        next_no,
        next_output,
    )


def _stock_move_of(session: Session, report: ProductionReport) -> MaterialMove | None:
    """The produce or scrap move written with a production report (same order, operation,
    lot, serial, quantity and moment), if the report wrote one."""
    kind = {"good": "produce", "scrap": "scrap"}.get(report.kind)
    if kind is None:
        return None
    candidates = session.scalars(
        select(MaterialMove)
        .where(
            MaterialMove.order_id == report.order_id,
            MaterialMove.operation_id == report.operation_id,
            MaterialMove.kind == kind,
            MaterialMove.recorded_at == report.recorded_at,
            MaterialMove.reverses_id.is_(None),
        )
        .order_by(MaterialMove.id)
    ).all()
    reversed_ids = set(
        session.scalars(
            select(MaterialMove.reverses_id).where(
                MaterialMove.reverses_id.in_([m.id for m in candidates])
            )
        )
    )
    for move in candidates:
        if (
            move.id not in reversed_ids
            and move.quantity == report.quantity
            and move.lot_id == report.lot_id
            and move.serial_id == report.serial_id
        ):
            return move
    return None


def _reverse_move(session: Session, ctx: CommandContext, move_id: int, reason: str) -> MaterialMove:
    """Take back a consumption, return or issue. Produce and scrap moves belong to a
    production report and are reversed with it."""
    order_id = _order_id(session, MaterialMove, move_id, "material move")
    scope = order_scope(session, order_id) if order_id is not None else None
    move = materials.load_move(session, move_id, lock=True)
    if move.kind in ("produce", "scrap") and move.operation_id is not None:
        raise RuleViolation(
            f"material move {move_id} was written by a production report; reverse that report"
        )
    if move.kind == "consume" and move.reverses_id is None and order_id is not None:
        net = material_queries.consumed_totals(session, order_id).get(move.item_id)
        rules.check_consumption_reversal(
            md.item_by_id(session, move.item_id).code,
            move.quantity,
            net if net is not None else Decimal(0),
        )
    operation = orders.load_operation(session, move.operation_id) if move.operation_id else None
    keys = scope.keys(session, operation) if scope else None
    return materials.reverse_move(session, ctx, move_id, reason, keys=keys)


def _reverse_labor(
    session: Session, ctx: CommandContext, labor_id: int, reason: str
) -> LaborRecord:
    """Take back recorded labour time (the minutes are negated)."""
    scope = _order_of(session, LaborRecord, labor_id, "labour record")
    original = _locked(session, LaborRecord, labor_id, "labour record")
    text = _checked(session, LaborRecord, original, "labour record", reason)
    reversal = _append_reversal(
        session, ctx, original, "labor", "minutes", reason=text, discrepancy=scope.discrepancy
    )
    _announce(
        session,
        ctx,
        scope,
        original,
        reversal,
        "labor",
        "labor.reported",
        operation=orders.load_operation(session, original.operation_id),
        extra={"minutes": reversal.minutes, "worker_id": original.worker_id},
        occurred_at=original.ended_at,
    )
    return reversal


def _reverse_downtime(
    session: Session, ctx: CommandContext, downtime_id: int, reason: str
) -> Downtime:
    """Take back a recorded stop (the minutes are negated; the stop table has no reason
    column, so the reversal's note carries the reason)."""
    order_id = _order_id(session, Downtime, downtime_id, "downtime")
    scope = order_scope(session, order_id) if order_id is not None else None
    original = _locked(session, Downtime, downtime_id, "downtime")
    text = _checked(session, Downtime, original, "downtime", reason)
    reversal = _append_reversal(
        session,
        ctx,
        original,
        "downtime",
        "minutes",
        note=text,
        discrepancy=scope.discrepancy if scope else None,
    )
    center = md.equipment_by_id(session, original.work_center_id).code
    extra = {"minutes": reversal.minutes, "planned": original.planned}
    if scope is None:
        outbox.emit(
            session,
            ctx,
            "fact.reversed",
            {
                **_reversal_payload(original, reversal, "downtime", "downtime.recorded"),
                **extra,
                "discrepancy": None,
            },
            glue={"work_center": center},
            occurred_at=original.started_at,
        )
    else:
        operation = (
            orders.load_operation(session, original.operation_id) if original.operation_id else None
        )
        _announce(
            session,
            ctx,
            scope,
            original,
            reversal,
            "downtime",
            "downtime.recorded",
            operation=operation,
            extra=extra,
            occurred_at=original.started_at,
            work_center=center,
        )
    return reversal


def _append_reversal(
    session: Session,
    ctx: CommandContext,
    original: Fact,
    entity: str,
    amount: str,
    **overrides: Any,
) -> Fact:
    """A copy of the original fact with the negated `amount`, pointing back at it, by the
    acting user now; flushed and audited."""
    table = type(original)
    values = {c.key: getattr(original, c.key) for c in table.__table__.columns if c.key != "id"}
    reversal = table(
        **{
            **values,
            amount: -getattr(original, amount),
            "reverses_id": original.id,
            "user_id": ctx.actor.user_id,
            "recorded_at": ctx.now,
            **overrides,
        }
    )
    session.add(reversal)
    session.flush()
    audit.record(
        session,
        ctx,
        f"{entity}.reversed",
        entity,
        original.id,
        old={amount: getattr(original, amount)},
        new={"reversal_id": reversal.id, amount: getattr(reversal, amount)},
        reason=overrides.get("reason") or overrides.get("note"),
    )
    return reversal


def _reversal_payload(
    original: Any, reversal: Any, fact: str, original_type: str
) -> dict[str, Any]:
    return {
        "fact": fact,
        "fact_id": original.id,
        "reversal_id": reversal.id,
        "original_type": original_type,
        "reason": reversal.note if isinstance(reversal, Downtime) else reversal.reason,
    }


def _announce(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    original: Any,
    reversal: Any,
    fact: str,
    original_type: str,
    *,
    operation: Operation | None,
    extra: dict[str, Any],
    occurred_at: Any = None,
    **glue: Any,
) -> None:
    scope.emit(
        session,
        ctx,
        "fact.reversed",
        {**_reversal_payload(original, reversal, fact, original_type), **extra},
        operation=operation,
        occurred_at=occurred_at or getattr(original, "occurred_at", None),
        **glue,
    )
