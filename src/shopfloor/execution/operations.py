"""Operation use cases: start, pause, resume, complete; and completing the order.

The operation moves through `orders.domain.OPERATION_FLOW` in routing order; the order
follows (dispatched/paused → running when work starts, running → paused when no operation
runs). Each change is written as an `exe_operation_event` fact and announced.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from shopfloor.execution import domain
from shopfloor.execution.queries import fact_counts
from shopfloor.execution.scope import (
    OrderScope,
    operation_scope,
    order_scope,
    output,
    statuses,
)
from shopfloor.execution.tables import LaborRecord, OperationEvent
from shopfloor.identity.tables import User
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, NotQualified, RuleViolation
from shopfloor.masterdata import queries as md
from shopfloor.materials import queries as material_queries
from shopfloor.materials.domain import fact_time
from shopfloor.orders import ports
from shopfloor.orders import service as orders
from shopfloor.orders.tables import Operation, ProductionOrder
from shopfloor.platform.db import QuantitySums


def start_operation(
    session: Session,
    ctx: CommandContext,
    operation_id: int,
    *,
    operator_id: int | None = None,
    at: datetime | None = None,
) -> OperationEvent:
    """Start a dispatched operation, in routing order, by a qualified operator.

    The operator (the signed-in person unless another is named) must hold the operation's
    required skill, certified and unexpired on the day work starts.
    """
    scope, operation = operation_scope(session, operation_id)
    when = fact_time(at, ctx.now)
    ports.check_in_dispatch(session, md.equipment_by_id(session, operation.work_center_id), when)
    operator = _person(session, operator_id or ctx.actor.user_id)
    _check_qualified(session, operator, operation, when)
    return _move(session, ctx, scope, operation, "start", when, operator=operator)


def pause_operation(
    session: Session,
    ctx: CommandContext,
    operation_id: int,
    *,
    reason: str,
    at: datetime | None = None,
) -> OperationEvent:
    """Pause a running operation; the reason is mandatory. The order pauses when none of
    its operations runs any more."""
    if not (reason or "").strip():
        raise RuleViolation("pausing an operation needs a reason")
    scope, operation = operation_scope(session, operation_id)
    return _move(
        session, ctx, scope, operation, "pause", fact_time(at, ctx.now), reason=reason.strip()
    )


def resume_operation(
    session: Session, ctx: CommandContext, operation_id: int, *, at: datetime | None = None
) -> OperationEvent:
    """Resume a paused operation; a paused order runs again."""
    scope, operation = operation_scope(session, operation_id)
    return _move(session, ctx, scope, operation, "resume", fact_time(at, ctx.now))


def complete_operation(
    session: Session, ctx: CommandContext, operation_id: int, *, at: datetime | None = None
) -> OperationEvent:
    """Complete a running or paused operation once every earlier operation is completed."""
    scope, operation = operation_scope(session, operation_id)
    return _move(session, ctx, scope, operation, "complete", fact_time(at, ctx.now))


def _person(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"no active user with id {user_id}")
    return user


def _check_qualified(
    session: Session, operator: User, operation: Operation, when: datetime
) -> None:
    if operation.required_skill_id is None:
        return
    skill = md.skill_by_id(session, operation.required_skill_id)
    certificates = [
        domain.Certificate(c.valid_from, c.expires_on, c.revoked)
        for c in md.certifications_for(session, operator.id, skill.id)
    ]
    problem = domain.qualification_problem(
        operator.full_name, skill.name or skill.code, certificates, when.date()
    )
    if problem:
        raise NotQualified(
            f"operation {operation.operation_no}: {problem}",
            skill=skill.code,
            user=operator.username,
        )


def _move(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    operation: Operation,
    command: str,
    when: datetime,
    *,
    operator: User | None = None,
    reason: str | None = None,
) -> OperationEvent:
    """Move the operation and let the order follow; write the fact and announce it."""
    before = orders.move_operation(session, ctx, operation, command, at=when, reason=reason)
    _order_follows(session, ctx, scope.entity(session), command)
    user_id = operator.id if operator else ctx.actor.user_id
    fact = OperationEvent(
        operation_id=operation.id,
        order_id=scope.order.id,
        command=command,
        from_status=before,
        to_status=operation.status,
        work_center_id=operation.work_center_id,
        user_id=user_id,
        reason=reason,
        discrepancy=scope.discrepancy,
        occurred_at=when,
    )
    session.add(fact)
    session.flush()
    payload: dict[str, object] = {
        "operation_event_id": fact.id,
        "from_status": before,
        "to_status": operation.status,
        "user_id": user_id,
        "order_status": scope.order.execution_status,
    }
    if operator is not None:
        payload["operator"] = operator.username
    if reason:
        payload["reason"] = reason
    if command == "complete":
        payload.update(_output_payload(session, operation.id, scope.unit))
    event = {"start": "started", "pause": "paused", "resume": "resumed", "complete": "completed"}
    scope.emit(
        session, ctx, f"operation.{event[command]}", payload, operation=operation, occurred_at=when
    )
    return fact


def _order_follows(
    session: Session, ctx: CommandContext, order: ProductionOrder, command: str
) -> None:
    running = any(s == "running" for s in statuses(session, order.id).values())
    follow = domain.order_command_after(command, order.execution_status, running)
    if follow is not None:
        orders.move_order(session, ctx, order, follow)


def _output_payload(session: Session, operation_id: int, unit: str) -> dict[str, object]:
    done = output(session, operation_id)
    return {"good": done.good, "scrap": done.scrap, "rework": done.rework, "unit": unit}


_LABOUR_MINUTES = QuantitySums(
    LaborRecord.minutes, (), LaborRecord.order_id == bindparam("order_id")
)


def complete_order(session: Session, ctx: CommandContext, order_id: int) -> ProductionOrder:
    """Complete the order when every operation that was not aborted is completed.

    The event carries the good quantity of the last live operation (what goes to stock),
    the scrap of every operation, each operation's totals, and the net consumption per
    component, the labour minutes and how many facts of each kind the order has: a
    receiver that got the facts out of order can tell whether it holds all of them before
    it closes the order (sums alone can hide a fact: a consumption and a return of the same
    quantity still on their way).
    """
    scope = order_scope(session, order_id)
    operations = orders.operations_of(session, order_id)
    status_by_no = {op.operation_no: op.status for op in operations}
    domain.check_order_complete(status_by_no)
    order = scope.entity(session)
    orders.move_order(session, ctx, order, "complete")
    last_no = domain.last_operation(status_by_no)
    per_operation, scrap, good = [], Decimal(0), Decimal(0)
    for op in operations:  # scrap at an operation aborted later is still scrap
        done = output(session, op.id)
        scrap += done.scrap
        good = done.good if op.operation_no == last_no else good
        per_operation.append(
            {
                "operation_no": op.operation_no,
                "good": done.good,
                "scrap": done.scrap,
                "rework": done.rework,
            }
        )
    scope.emit(
        session,
        ctx,
        "work_order.completed",
        {
            "good": good,
            "scrap": scrap,
            "unit": scope.unit,
            "quantity": scope.order.quantity,
            "operations": per_operation,
            "components": [
                {"item": md.item_by_id(session, item_id).code, "consumed": consumed}
                for item_id, consumed in sorted(
                    material_queries.consumed_totals(session, order_id).items()
                )
            ],
            "labour_minutes": sum(
                _LABOUR_MINUTES(session, order_id=order_id).values(),
                Decimal(0),
            ),
            "facts": fact_counts(session, order_id),
        },
    )
    return order
