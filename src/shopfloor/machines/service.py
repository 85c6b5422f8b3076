"""Downtime use cases: stops detected from the machine's signals, classified, split and
merged by operators.

A machine-detected stop is the same kind of record as a stop recorded by hand (an
`exe_downtime` row, `source` = machine), so both rank together in the Pareto. Records are
append-only: classifying, splitting or merging reverses the rows concerned (a `fact.reversed`
event each) and appends the new ones (a `downtime.recorded` event each), all audited.
The maintenance use cases live in `machines.maintenance` and are re-exported here. Nothing
here commits; the entry point does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.execution import service as execution
from shopfloor.execution.scope import order_scope
from shopfloor.execution.tables import Downtime
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.machines.domain import (
    Context,
    DowntimeEvent,
    DowntimeReason,
    EquipmentState,
    classify,
    downtime_candidates,
    merge_events,
    split_event,
)
from shopfloor.machines.domain.planning import uncovered
from shopfloor.machines.maintenance import (
    end_maintenance,
    evaluate_maintenance_rules,
    put_under_maintenance,
)
from shopfloor.machines.timelines import check_window, equipment_timelines, live_downtime
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import DowntimeReason as ReasonRow
from shopfloor.orders.tables import Operation, ProductionOrder
from shopfloor.platform import outbox

__all__ = [
    "classify_downtime",
    "detect_downtime",
    "end_maintenance",
    "evaluate_maintenance_rules",
    "merge_downtime",
    "put_under_maintenance",
    "split_downtime",
]

DETECTION_LOOKBACK = timedelta(hours=12)
CLASSIFYING_LEVELS = ("reason", "detail")


def detect_downtime(
    session: Session,
    ctx: CommandContext,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
) -> list[Downtime]:
    """Record every stop of the machines that started in [start, end) and has ended.

    A stop is a down or idle (starved/blocked) run at least as long as the equipment's
    micro-stop threshold, inside shift time and outside planned stops (see
    `machines.domain.downtime`); it is recorded with no reason, unplanned, for an operator
    to classify. The state is derived from up to `DETECTION_LOOKBACK` before `start`, so a
    stop is judged by its whole length. Idempotent: a stop whose start is already recorded
    for the equipment (live, reversed or reclassified) is not recorded again, and time
    already covered by a live record (a stop recorded by hand) is left out.
    """
    start, end = check_window(start, end)
    timelines = equipment_timelines(
        session, start=start - DETECTION_LOOKBACK, end=end, equipment_codes=equipment_codes
    )
    recorded: list[Downtime] = []
    for timeline in timelines:
        scheduled = [i for i in timeline.intervals if i.scheduled]
        events = [
            e
            for e in downtime_candidates(scheduled, include_idle=True)
            if start <= e.start < end and e.end < end
        ]
        if events:
            md.work_center_for_update(session, timeline.equipment)
            for event in events:
                recorded.extend(_record_detected(session, ctx, timeline.equipment_id, event))
    return recorded


def _record_detected(
    session: Session, ctx: CommandContext, equipment_id: int, event: DowntimeEvent
) -> list[Downtime]:
    known = session.scalar(
        select(Downtime.id).where(
            Downtime.work_center_id == equipment_id, Downtime.started_at == event.start
        )
    )
    if known is not None:
        return []
    covering = session.scalars(
        live_downtime(
            Downtime.work_center_id == equipment_id,
            Downtime.started_at < event.end,
            Downtime.ended_at > event.start,
        )
    ).all()
    pieces = uncovered(event.start, event.end, [(r.started_at, r.ended_at) for r in covering])
    order_id, operation_id = _execution_keys(session, event.context)
    rows = []
    for piece_start, piece_end in pieces:
        row = _append(
            session,
            ctx,
            work_center_id=equipment_id,
            order_id=order_id,
            operation_id=operation_id,
            reason=None,
            planned=False,
            source="machine",
            period=(piece_start, piece_end),
            note=f"machine: {event.state.value}" + (f" ({event.cause})" if event.cause else ""),
        )
        _announce(session, ctx, row, "downtime.detected", cause=event.cause)
        rows.append(row)
    return rows


def _execution_keys(session: Session, context: Context) -> tuple[int | None, int | None]:
    """The order and operation rows the stop happened in, when known."""
    if context.order is None:
        return None, None
    order_id = session.scalar(
        select(ProductionOrder.id).where(ProductionOrder.erp_order_id == context.order)
    )
    if order_id is None or context.operation is None or not context.operation.isdigit():
        return order_id, None
    operation_id = session.scalar(
        select(Operation.id).where(
            Operation.order_id == order_id, Operation.operation_no == int(context.operation)
        )
    )
    return order_id, operation_id


def _append(
    session: Session,
    ctx: CommandContext,
    *,
    work_center_id: int,
    order_id: int | None,
    operation_id: int | None,
    reason: ReasonRow | None,
    planned: bool,
    source: str,
    period: tuple[datetime, datetime],
    note: str | None,
) -> Downtime:
    return execution.append_downtime(
        session,
        ctx,
        work_center_id=work_center_id,
        order_id=order_id,
        operation_id=operation_id,
        reason_id=reason.id if reason else None,
        planned=planned,
        source=source,
        period=period,
        note=note,
    )


def _facts(session: Session, row: Downtime) -> dict[str, Any]:
    reason = session.get(ReasonRow, row.reason_id) if row.reason_id else None
    return {
        "downtime_id": row.id,
        "work_center": md.equipment_by_id(session, row.work_center_id).code,
        "reason": reason.code if reason else None,
        "reason_name": reason.name if reason else None,
        "planned": row.planned,
        "source": row.source,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "minutes": row.minutes,
        "note": row.note,
    }


def _announce(
    session: Session, ctx: CommandContext, row: Downtime, action: str, **extra: Any
) -> None:
    """Audit the new row and announce it as `downtime.recorded`."""
    facts = {**_facts(session, row), **extra}
    keys = {"order_id": row.order_id, "operation_id": row.operation_id}
    audit.record(session, ctx, action, "downtime", row.id, new={**facts, **keys})
    if row.order_id is None:
        outbox.emit(
            session,
            ctx,
            "downtime.recorded",
            {**facts, "discrepancy": None},
            glue={"work_center": facts["work_center"]},
            occurred_at=row.started_at,
        )
        return
    scope = order_scope(session, row.order_id, lock=False)
    operation = session.get(Operation, row.operation_id) if row.operation_id else None
    scope.emit(
        session,
        ctx,
        "downtime.recorded",
        facts,
        operation=operation,
        occurred_at=row.started_at,
        work_center=facts["work_center"],
    )


# --- classify, split, merge ---------------------------------------------------------------


@dataclass(frozen=True)
class _Live:
    row: Downtime
    equipment: str


def _live(session: Session, downtime_id: int) -> _Live:
    """A live downtime row: neither a reversal nor reversed."""
    row = session.get(Downtime, downtime_id)
    if row is None:
        raise NotFound(f"no downtime with id {downtime_id}")
    replaced = session.scalar(select(Downtime.id).where(Downtime.reverses_id == row.id))
    if row.reverses_id is not None or replaced is not None:
        raise RuleViolation(
            f"downtime {downtime_id} was corrected already; work on the current record"
        )
    return _Live(row, md.equipment_by_id(session, row.work_center_id).code)


def _reason(session: Session, code: str | None) -> ReasonRow | None:
    """A reason or detail of the reason tree (a category alone is too coarse)."""
    if code is None:
        return None
    reason = md.downtime_reason_by_code(session, code)
    if reason.level not in CLASSIFYING_LEVELS:
        raise RuleViolation(
            f"'{code}' is a {reason.level}; classify with a reason or a detail below it"
        )
    return reason


def _event(live: _Live, reason: str | None = None) -> DowntimeEvent:
    row = live.row
    return DowntimeEvent(
        live.equipment,
        row.started_at,
        row.ended_at,
        EquipmentState.DOWN,
        row.planned,
        Context(live.equipment),
        reason=reason,
    )


def _given(reason: ReasonRow | None) -> DowntimeReason | None:
    return None if reason is None else DowntimeReason(reason.code, planned=reason.planned)


def _replace(
    session: Session,
    ctx: CommandContext,
    originals: Sequence[Downtime],
    why: str,
    pieces: Sequence[tuple[DowntimeEvent, ReasonRow | None]],
    action: str,
) -> list[Downtime]:
    """Reverse the originals and append the pieces that replace them."""
    for original in originals:
        execution.reverse_fact(session, ctx, "downtime", original.id, why)
    first = originals[0]
    rows = []
    for event, reason in pieces:
        row = _append(
            session,
            ctx,
            work_center_id=first.work_center_id,
            order_id=first.order_id,
            operation_id=first.operation_id,
            reason=reason,
            planned=event.planned,
            source=first.source,
            period=(event.start, event.end),
            note=first.note,
        )
        _announce(session, ctx, row, action, replaces=[o.id for o in originals], why=why)
        rows.append(row)
    return rows


def classify_downtime(
    session: Session, ctx: CommandContext, downtime_id: int, reason_code: str
) -> Downtime:
    """Give a stop its reason (planned or not, as the reason says). A classified stop can
    be reclassified the same way: the previous record is reversed, never edited."""
    live = _live(session, downtime_id)
    reason = _reason(session, reason_code)
    assert reason is not None
    if live.row.reason_id == reason.id:
        raise RuleViolation(f"downtime {downtime_id} is classified as '{reason_code}' already")
    given = _given(reason)
    assert given is not None
    event = classify(_event(live), given)
    why = f"classified as {reason_code}"
    return _replace(session, ctx, [live.row], why, [(event, reason)], "downtime.classified")[0]


def split_downtime(
    session: Session,
    ctx: CommandContext,
    downtime_id: int,
    *,
    at: datetime,
    first_reason: str | None = None,
    second_reason: str | None = None,
) -> list[Downtime]:
    """Split a stop at a moment into two stops, each with its own reason (two causes in
    one stop); a piece without a reason stays unclassified."""
    live = _live(session, downtime_id)
    reasons = (_reason(session, first_reason), _reason(session, second_reason))
    unclassified = DowntimeReason("unclassified")
    first, second = split_event(
        _event(live), at, _given(reasons[0]) or unclassified, _given(reasons[1]) or unclassified
    )
    if reasons[0] is None:  # a piece without a reason is unplanned until classified
        first = replace(first, planned=False)
    if reasons[1] is None:
        second = replace(second, planned=False)
    why = f"split at {at.isoformat()}"
    pieces = [(first, reasons[0]), (second, reasons[1])]
    return _replace(session, ctx, [live.row], why, pieces, "downtime.split")


def merge_downtime(
    session: Session,
    ctx: CommandContext,
    downtime_ids: Sequence[int],
    *,
    reason_code: str | None = None,
) -> Downtime:
    """Merge touching stops of one equipment into one (one cause recorded as several). The
    merged stop takes the given reason, else the one reason the stops share."""
    ids = list(dict.fromkeys(downtime_ids))
    if len(ids) < 2:
        raise RuleViolation("merging needs at least two downtimes")
    lives = [_live(session, i) for i in ids]
    reason = _reason(session, reason_code)
    codes = {
        row.id: r.code
        for row in (live.row for live in lives)
        if row.reason_id is not None and (r := session.get(ReasonRow, row.reason_id))
    }
    merged = merge_events([_event(live, codes.get(live.row.id)) for live in lives], _given(reason))
    if reason is None and merged.reason is not None:
        reason = md.downtime_reason_by_code(session, merged.reason)
    merged = replace(merged, planned=reason.planned if reason is not None else False)
    ordered = sorted((live.row for live in lives), key=lambda r: r.started_at)
    why = f"merged {', '.join(str(r.id) for r in ordered)}"
    return _replace(session, ctx, ordered, why, [(merged, reason)], "downtime.merged")[0]
