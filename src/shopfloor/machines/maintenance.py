"""Maintenance: trigger rules, the requests they raise for the supervisor, and equipment
put under maintenance.

Rules (run hours, cycle count, repeated downtime of one reason in a window; see
`machines.domain.maintenance`) are evaluated on demand or by a worker; a due rule raises a
request (an item in the supervisor's list) and a `maintenance.requested` event. Equipment
under maintenance is a planned stop for OEE (it leaves planned production time) and is out
of dispatch until the maintenance ends, which closes its open requests. Nothing here
commits; the entry point does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.execution.tables import Downtime
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict, NotFound, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.machines.domain.maintenance import (
    RuleKind,
    check_rule,
    is_due,
    run_hours,
    stops_in_window,
)
from shopfloor.machines.maintenance_tables import (
    MaintenancePeriod,
    MaintenanceRequest,
    MaintenanceRule,
)
from shopfloor.machines.timelines import MAX_RANGE, equipment_timelines, live_downtime
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import DowntimeReason, Equipment
from shopfloor.platform import outbox

CLOCK_SKEW = timedelta(minutes=2)
UNITS = {RuleKind.RUN_HOURS: "run hours", RuleKind.CYCLE_COUNT: "pieces"}


def add_rule(
    session: Session,
    ctx: CommandContext,
    *,
    equipment_code: str,
    kind: str,
    threshold: Decimal | int | str,
    name: str,
    window_minutes: int | None = None,
    reason_code: str | None = None,
) -> MaintenanceRule:
    """Set up a trigger rule on an equipment; it measures from now (or from the end of
    the equipment's last maintenance, whichever is later)."""
    equipment = md.equipment_by_code(session, equipment_code)
    window = timedelta(minutes=window_minutes) if window_minutes is not None else None
    amount = qty(threshold)
    rule_kind = check_rule(kind, amount, window, reason_code)
    reason = md.downtime_reason_by_code(session, reason_code) if reason_code else None
    rule = MaintenanceRule(
        equipment_id=equipment.id,
        kind=rule_kind.value,
        threshold=amount,
        window_minutes=window_minutes,
        reason_id=reason.id if reason else None,
        name=name.strip() or rule_kind.value,
        active=True,
        created_by=ctx.actor.user_id,
        created_at=ctx.now,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        ctx,
        "maintenance_rule.added",
        "maintenance_rule",
        rule.id,
        new={
            "equipment": equipment_code,
            "kind": rule.kind,
            "threshold": amount,
            "window_minutes": window_minutes,
            "reason": reason_code,
        },
    )
    return rule


def evaluate_maintenance_rules(
    session: Session, ctx: CommandContext, *, equipment_codes: Sequence[str] | None = None
) -> list[MaintenanceRequest]:
    """Measure every active rule and raise a request for each one that is due."""
    statement = select(MaintenanceRule, Equipment.code).join(
        Equipment, Equipment.id == MaintenanceRule.equipment_id
    )
    statement = statement.where(MaintenanceRule.active.is_(True)).order_by(MaintenanceRule.id)
    if equipment_codes is not None:
        statement = statement.where(Equipment.code.in_(equipment_codes))
    raised = []
    for rule, code in session.execute(statement).all():
        open_request = session.scalar(
            select(MaintenanceRequest.id).where(
                MaintenanceRequest.rule_id == rule.id, MaintenanceRequest.status == "open"
            )
        )
        if open_request is not None:
            continue
        measured = measure(session, rule, code, ctx.now)
        if is_due(rule.threshold, measured, open_request=False):
            raised.append(_raise_request(session, ctx, rule, code, measured))
    return raised


def measure(session: Session, rule: MaintenanceRule, equipment_code: str, now: datetime) -> Decimal:
    """What the rule measures, since the later of its creation and the last maintenance."""
    last_end = session.scalar(
        select(func.max(MaintenancePeriod.ended_at)).where(
            MaintenancePeriod.equipment_id == rule.equipment_id
        )
    )
    since = max(rule.created_at, last_end or rule.created_at, now - MAX_RANGE)
    if since >= now:
        return Decimal(0)
    kind = RuleKind(rule.kind)
    if kind is RuleKind.REPEATED_DOWNTIME:
        assert rule.window_minutes is not None and rule.reason_id is not None
        window = timedelta(minutes=rule.window_minutes)
        starts = session.scalars(
            live_downtime(
                Downtime.work_center_id == rule.equipment_id,
                Downtime.reason_id.in_(_subtree(session, rule.reason_id)),
                Downtime.started_at >= max(since, now - window),
            ).with_only_columns(Downtime.started_at)
        ).all()
        return Decimal(stops_in_window(starts, now, window))
    timelines = equipment_timelines(session, start=since, end=now, equipment_codes=[equipment_code])
    if kind is RuleKind.RUN_HOURS:
        return sum((run_hours(t.intervals) for t in timelines), Decimal(0))
    return Decimal(sum(c.counts.total for t in timelines for c in t.counts))


def _subtree(session: Session, reason_id: int) -> set[int]:
    """The reason and every reason below it in the tree."""
    children: dict[int, list[int]] = {}
    for child, parent in session.execute(select(DowntimeReason.id, DowntimeReason.parent_id)):
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found, frontier = {reason_id}, [reason_id]
    while frontier:
        frontier = [c for node in frontier for c in children.get(node, []) if c not in found]
        found.update(frontier)
    return found


def _raise_request(
    session: Session, ctx: CommandContext, rule: MaintenanceRule, code: str, measured: Decimal
) -> MaintenanceRequest:
    kind = RuleKind(rule.kind)
    unit = UNITS.get(kind, f"stops in {rule.window_minutes} min")
    shown = f"{qty(measured).normalize():f} {unit}"
    note = f"{rule.name}: {shown} (threshold {rule.threshold.normalize():f})"
    request = MaintenanceRequest(
        equipment_id=rule.equipment_id,
        rule_id=rule.id,
        status="open",
        measured=qty(measured),
        threshold=rule.threshold,
        note=note,
        raised_by=ctx.actor.user_id,
        raised_at=ctx.now,
    )
    session.add(request)
    session.flush()
    facts = {
        "request_id": request.id,
        "rule_id": rule.id,
        "rule": rule.name,
        "kind": kind.value,
        "measured": request.measured,
        "threshold": rule.threshold,
        "equipment": code,
    }
    audit.record(
        session, ctx, "maintenance.requested", "maintenance_request", request.id, new=facts
    )
    outbox.emit(
        session, ctx, "maintenance.requested", {**facts, "note": note}, glue={"work_center": code}
    )
    return request


def put_under_maintenance(
    session: Session,
    ctx: CommandContext,
    equipment_code: str,
    *,
    note: str,
    request_id: int | None = None,
    at: datetime | None = None,
) -> MaintenancePeriod:
    """Take equipment into maintenance from `at` (default now): a planned stop, and out of
    dispatch, until the maintenance ends. Not twice at once."""
    equipment = md.work_center_for_update(session, equipment_code)
    when = _moment(at, ctx)
    if _open_period(session, equipment.id) is not None:
        raise Conflict(f"{equipment_code} is under maintenance already")
    if request_id is not None:
        request = session.get(MaintenanceRequest, request_id)
        if request is None or request.equipment_id != equipment.id:
            raise NotFound(f"no maintenance request {request_id} for {equipment_code}")
    period = MaintenancePeriod(
        equipment_id=equipment.id,
        request_id=request_id,
        note=note,
        started_by=ctx.actor.user_id,
        started_at=when,
    )
    session.add(period)
    session.flush()
    facts = {
        "period_id": period.id,
        "equipment": equipment_code,
        "started_at": when,
        "request_id": request_id,
        "note": note,
    }
    audit.record(session, ctx, "maintenance.started", "equipment", equipment.id, new=facts)
    outbox.emit(
        session,
        ctx,
        "maintenance.started",
        facts,
        glue={"work_center": equipment_code},
        occurred_at=when,
    )
    return period


def end_maintenance(
    session: Session, ctx: CommandContext, equipment_code: str, *, at: datetime | None = None
) -> MaintenancePeriod:
    """End the equipment's maintenance at `at` (default now); its open requests are closed
    and the rules measure afresh from here."""
    equipment = md.work_center_for_update(session, equipment_code)
    when = _moment(at, ctx)
    period = _open_period(session, equipment.id)
    if period is None:
        raise RuleViolation(f"{equipment_code} is not under maintenance")
    if when <= period.started_at:
        raise RuleViolation("maintenance must end after it started")
    period.ended_at, period.ended_by = when, ctx.actor.user_id
    closed = session.scalars(
        select(MaintenanceRequest).where(
            MaintenanceRequest.equipment_id == equipment.id, MaintenanceRequest.status == "open"
        )
    ).all()
    for request in closed:
        request.status, request.closed_at, request.closed_by = "closed", when, ctx.actor.user_id
    session.flush()
    facts = {
        "period_id": period.id,
        "equipment": equipment_code,
        "started_at": period.started_at,
        "ended_at": when,
        "closed_requests": [r.id for r in closed],
    }
    audit.record(
        session,
        ctx,
        "maintenance.completed",
        "equipment",
        equipment.id,
        old={"under_maintenance": True},
        new=facts,
    )
    outbox.emit(
        session,
        ctx,
        "maintenance.completed",
        facts,
        glue={"work_center": equipment_code},
        occurred_at=when,
    )
    return period


def _moment(at: datetime | None, ctx: CommandContext) -> datetime:
    when = at or ctx.now
    if when.tzinfo is None:
        raise RuleViolation("the time must carry its time zone (UTC preferred)")
    if when > ctx.now + CLOCK_SKEW:
        raise RuleViolation(f"{when.isoformat()} is in the future")
    return when


def _open_period(session: Session, equipment_id: int) -> MaintenancePeriod | None:
    return session.scalar(
        select(MaintenancePeriod).where(
            MaintenancePeriod.equipment_id == equipment_id, MaintenancePeriod.ended_at.is_(None)
        )
    )


# --- reads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    id: int
    equipment: str
    rule: str | None
    kind: str | None
    status: str
    measured: Decimal | None
    threshold: Decimal | None
    note: str
    raised_at: datetime
    closed_at: datetime | None


def maintenance_requests(session: Session, status: str | None = "open") -> list[RequestView]:
    """The supervisor's list: maintenance requests (open ones by default), oldest first."""
    statement = (
        select(MaintenanceRequest, Equipment.code, MaintenanceRule.name, MaintenanceRule.kind)
        .join(Equipment, Equipment.id == MaintenanceRequest.equipment_id)
        .outerjoin(MaintenanceRule, MaintenanceRule.id == MaintenanceRequest.rule_id)
        .order_by(MaintenanceRequest.raised_at, MaintenanceRequest.id)
    )
    if status is not None:
        statement = statement.where(MaintenanceRequest.status == status)
    return [
        RequestView(
            r.id,
            code,
            name,
            kind,
            r.status,
            r.measured,
            r.threshold,
            r.note,
            r.raised_at,
            r.closed_at,
        )
        for r, code, name, kind in session.execute(statement)
    ]


def equipment_under_maintenance(session: Session, at: datetime) -> frozenset[str]:
    """Codes of the equipment under maintenance at `at`: out of dispatch meanwhile."""
    rows = session.scalars(
        select(Equipment.code)
        .join(MaintenancePeriod, MaintenancePeriod.equipment_id == Equipment.id)
        .where(
            MaintenancePeriod.started_at <= at,
            (MaintenancePeriod.ended_at.is_(None)) | (MaintenancePeriod.ended_at > at),
        )
    )
    return frozenset(rows)


def rule_views(session: Session) -> list[dict[str, Any]]:
    """Every maintenance rule with its equipment and reason codes."""
    rows = session.execute(
        select(MaintenanceRule, Equipment.code, DowntimeReason.code)
        .join(Equipment, Equipment.id == MaintenanceRule.equipment_id)
        .outerjoin(DowntimeReason, DowntimeReason.id == MaintenanceRule.reason_id)
        .order_by(MaintenanceRule.id)
    )
    return [
        {
            "id": r.id,
            "equipment": code,
            "kind": r.kind,
            "name": r.name,
            "threshold": r.threshold,
            "window_minutes": r.window_minutes,
            "reason": reason,
            "active": r.active,
        }
        for r, code, reason in rows
    ]
