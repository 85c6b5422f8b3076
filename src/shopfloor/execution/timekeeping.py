"""Time facts: labour a person spent on an operation, and stops of a work center.

Both are periods (end after start, not in the future) recorded once: the same person on
the same operation, or the same work center, is not booked twice for overlapping time.
Reversed periods no longer count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.execution import domain
from shopfloor.execution.scope import OrderScope, operation_scope, order_scope
from shopfloor.execution.tables import Downtime, LaborRecord
from shopfloor.identity.tables import User
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict, NotFound, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Equipment
from shopfloor.orders import service as orders
from shopfloor.orders.tables import Operation
from shopfloor.platform import outbox


def record_labor(
    session: Session,
    ctx: CommandContext,
    operation_id: int,
    *,
    worker_id: int,
    started_at: datetime,
    ended_at: datetime,
) -> LaborRecord:
    """Record time a person worked on an operation that has started."""
    scope, operation = operation_scope(session, operation_id)
    if operation.status not in domain.WORKED_ON:
        raise RuleViolation(
            f"operation {operation.operation_no} is {operation.status}; labour is recorded "
            "once it has started"
        )
    minutes = domain.interval_minutes(started_at, ended_at, ctx.now)
    worker = _free_worker(session, operation, worker_id, started_at, ended_at)
    row = LaborRecord(
        order_id=scope.order.id,
        operation_id=operation.id,
        worker_id=worker_id,
        started_at=started_at,
        ended_at=ended_at,
        minutes=qty(minutes),
        reverses_id=None,
        reason=None,
        discrepancy=scope.discrepancy,
        user_id=ctx.actor.user_id,
        recorded_at=ctx.now,
    )
    session.add(row)
    session.flush()
    facts = {"worker_id": worker_id, "started_at": started_at, "ended_at": ended_at}
    booked = {**facts, "operation_id": operation.id, "discrepancy": row.discrepancy}
    audit.record(session, ctx, "labor.recorded", "labor", row.id, new=booked)
    scope.emit(
        session,
        ctx,
        "labor.reported",
        {**facts, "labor_id": row.id, "worker": worker.username, "minutes": row.minutes},
        operation=operation,
        occurred_at=ended_at,
    )
    return row


def _free_worker(
    session: Session,
    operation: Operation,
    worker_id: int,
    started_at: datetime,
    ended_at: datetime,
) -> User:
    """The worker, when their time on the operation is not booked yet for that period."""
    worker = session.get(User, worker_id)
    if worker is None:
        raise NotFound(f"no user with id {worker_id}")
    booked = _live_periods(
        session,
        LaborRecord,
        started_at,
        ended_at,
        LaborRecord.operation_id == operation.id,
        LaborRecord.worker_id == worker_id,
    )
    clash = domain.overlapping(booked, started_at, ended_at)
    if clash:
        raise Conflict(
            f"{worker.full_name}'s time on operation {operation.operation_no} from "
            f"{clash[0]:%Y-%m-%d %H:%M} to {clash[1]:%H:%M} UTC is already recorded"
        )
    return worker


def _live_periods(
    session: Session, table: Any, started_at: datetime, ended_at: datetime, *where: Any
) -> list[tuple[datetime, datetime]]:
    """Recorded periods overlapping [started_at, ended_at) that are neither reversals nor
    reversed."""
    rows = session.scalars(
        select(table).where(*where, table.started_at < ended_at, table.ended_at > started_at)
    ).all()
    reversed_ids = {r.reverses_id for r in rows if r.reverses_id is not None}
    return [
        (r.started_at, r.ended_at)
        for r in rows
        if r.reverses_id is None and r.id not in reversed_ids
    ]


def record_downtime(
    session: Session,
    ctx: CommandContext,
    *,
    work_center_code: str,
    reason_code: str,
    started_at: datetime,
    ended_at: datetime,
    order_id: int | None = None,
    operation_id: int | None = None,
    note: str | None = None,
) -> Downtime:
    """Record a stop of a work center with its reason (planned or not, as the reason says).

    A stop of an operation belongs to that operation's work center and order.
    """
    scope, operation, center = _stop_context(session, work_center_code, order_id, operation_id)
    reason = md.downtime_reason_by_code(session, reason_code)
    minutes = domain.interval_minutes(started_at, ended_at, ctx.now)
    _check_not_down(session, center, started_at, ended_at)
    row = Downtime(
        work_center_id=center.id,
        order_id=scope.order.id if scope else None,
        operation_id=operation.id if operation else None,
        reason_id=reason.id,
        planned=reason.planned,
        source="manual",
        started_at=started_at,
        ended_at=ended_at,
        minutes=qty(minutes),
        note=note,
        reverses_id=None,
        discrepancy=scope.discrepancy if scope else None,
        user_id=ctx.actor.user_id,
        recorded_at=ctx.now,
    )
    session.add(row)
    session.flush()
    facts = {
        "work_center": work_center_code,
        "reason": reason_code,
        "planned": reason.planned,
        "started_at": started_at,
        "ended_at": ended_at,
        "minutes": row.minutes,
        "note": note,
    }
    keys = {"order_id": row.order_id, "operation_id": row.operation_id}
    audit.record(
        session,
        ctx,
        "downtime.recorded",
        "downtime",
        row.id,
        new={**facts, **keys, "discrepancy": row.discrepancy},
        reason=note,
    )
    payload = {**facts, "downtime_id": row.id, "reason_name": reason.name, "source": "manual"}
    _announce_stop(session, ctx, scope, operation, work_center_code, payload, started_at)
    return row


def _check_not_down(
    session: Session, center: Equipment, started_at: datetime, ended_at: datetime
) -> None:
    """A work center is not recorded down twice for overlapping periods."""
    booked = _live_periods(
        session, Downtime, started_at, ended_at, Downtime.work_center_id == center.id
    )
    clash = domain.overlapping(booked, started_at, ended_at)
    if clash:
        raise Conflict(
            f"{center.code} is already recorded down from {clash[0]:%Y-%m-%d %H:%M} "
            f"to {clash[1]:%H:%M} UTC"
        )


def _stop_context(
    session: Session, work_center_code: str, order_id: int | None, operation_id: int | None
) -> tuple[OrderScope | None, Operation | None, Equipment]:
    """The order (locked first), the operation and the work center (locked) of a stop."""
    operation = orders.load_operation(session, operation_id) if operation_id else None
    if operation is not None:
        if order_id is not None and order_id != operation.order_id:
            raise RuleViolation(f"operation {operation_id} does not belong to order {order_id}")
        order_id = operation.order_id
    scope = order_scope(session, order_id) if order_id is not None else None
    center = md.work_center_for_update(session, work_center_code)
    if operation is not None and operation.work_center_id != center.id:
        actual = md.equipment_by_id(session, operation.work_center_id).code
        raise RuleViolation(
            f"operation {operation.operation_no} runs on {actual}, not on {work_center_code}"
        )
    return scope, operation, center


def _announce_stop(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope | None,
    operation: Operation | None,
    work_center_code: str,
    payload: dict[str, Any],
    started_at: datetime,
) -> None:
    """`downtime.recorded` with the order's glue keys, or the work center's alone."""
    if scope is not None:
        scope.emit(
            session,
            ctx,
            "downtime.recorded",
            payload,
            operation=operation,
            occurred_at=started_at,
            work_center=work_center_code,
        )
        return
    outbox.emit(
        session,
        ctx,
        "downtime.recorded",
        {**payload, "discrepancy": None},
        glue={"work_center": work_center_code},
        occurred_at=started_at,
    )


def append_downtime(
    session: Session,
    ctx: CommandContext,
    *,
    work_center_id: int,
    order_id: int | None,
    operation_id: int | None,
    reason_id: int | None,
    planned: bool,
    source: str,
    period: tuple[datetime, datetime],
    note: str | None,
) -> Downtime:
    """Append one downtime record as given (a machine-detected stop, or a piece of a
    classified, split or merged one), flagged when ERP has not released its order. The
    caller has checked it, audits and announces it: the one writer of `exe_downtime` for
    the machines package."""
    started_at, ended_at = period
    discrepancy = order_scope(session, order_id, lock=False).discrepancy if order_id else None
    row = Downtime(
        work_center_id=work_center_id,
        order_id=order_id,
        operation_id=operation_id,
        reason_id=reason_id,
        planned=planned,
        source=source,
        started_at=started_at,
        ended_at=ended_at,
        minutes=qty(Decimal((ended_at - started_at) // timedelta(milliseconds=1)) / 60_000),
        note=note,
        reverses_id=None,
        discrepancy=discrepancy,
        user_id=ctx.actor.user_id,
        recorded_at=ctx.now,
    )
    session.add(row)
    session.flush()
    return row
