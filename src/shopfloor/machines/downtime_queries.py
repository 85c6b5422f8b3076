"""The read side of downtime: the Pareto of stops and the stops waiting for a reason.

Manual and machine-detected stops are the same kind of record (`exe_downtime`), so they
rank together. Only live records count: neither reversals nor the records they reversed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.execution.tables import Downtime
from shopfloor.kernel.clock import as_utc, utc_now
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import Context, DowntimeEvent, EquipmentState, ParetoBar, pareto
from shopfloor.machines.domain.oee import minutes
from shopfloor.machines.timelines import check_window, live_downtime
from shopfloor.masterdata.tables import DowntimeReason, Equipment
from shopfloor.orders.tables import ProductionOrder

PARETO_LEVELS = ("category", "reason", "detail")


@dataclass(frozen=True)
class ReasonPath:
    """A reason with its place in the tree: category → reason → detail."""

    code: str
    category: str
    reason: str
    detail: str | None


def reason_paths(session: Session) -> dict[int, ReasonPath]:
    """Every downtime reason with the codes of its category, reason and detail level."""
    rows = {r.id: (r.code, r.level, r.parent_id) for r in session.scalars(select(DowntimeReason))}
    paths = {}
    for reason_id, (code, _level, _parent) in rows.items():
        chain: dict[str, str] = {}
        node: int | None = reason_id
        while node is not None and node in rows and len(chain) < 3:
            node_code, node_level, parent = rows[node]
            chain.setdefault(node_level, node_code)
            node = parent
        reason = chain.get("reason", code)
        category = chain.get("category", reason)
        paths[reason_id] = ReasonPath(code, category, reason, chain.get("detail"))
    return paths


def downtime_pareto(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    by: str = "reason",
    equipment_codes: Sequence[str] | None = None,
    planned: bool | None = None,
) -> list[ParetoBar]:
    """Downtime minutes of [start, end) per category, reason or detail, largest first, with
    each bar's share and the cumulative share. Manual and machine-detected stops are the
    same kind of record and rank together; unclassified time is a bar of its own."""
    if by not in PARETO_LEVELS:
        raise RuleViolation(f"rank downtime by one of {', '.join(PARETO_LEVELS)}")
    start, end = check_window(start, end)
    paths = reason_paths(session)
    events = []
    for row, code in _live_rows(session, start, end, equipment_codes):
        if planned is not None and row.planned != planned:
            continue
        path = paths.get(row.reason_id) if row.reason_id is not None else None
        label = None if path is None else (getattr(path, by) or path.reason)
        events.append(
            DowntimeEvent(
                code,
                row.started_at,
                row.ended_at,
                EquipmentState.DOWN,
                row.planned,
                Context(code),
                reason=label,
                category=label,
            )
        )
    return list(pareto(events, by="reason", window=(start, end)))


def _live_rows(
    session: Session, start: datetime, end: datetime, equipment_codes: Sequence[str] | None
) -> list[tuple[Downtime, str]]:
    where = [Downtime.started_at < end, Downtime.ended_at > start]
    if equipment_codes is not None:
        where.append(Equipment.code.in_(equipment_codes))
    statement = live_downtime(*where).add_columns(Equipment.code)
    statement = statement.join(Equipment, Equipment.id == Downtime.work_center_id)
    return [(row, code) for row, code in session.execute(statement.order_by(Downtime.started_at))]


@dataclass(frozen=True)
class UnclassifiedDowntime:
    """A stop still waiting for its reason."""

    id: int
    equipment: str
    started_at: datetime
    ended_at: datetime
    minutes: Decimal
    source: str
    erp_order_id: str | None
    waiting_minutes: Decimal


def unclassified_downtime(
    session: Session,
    older_than: timedelta,
    *,
    now: datetime | None = None,
    equipment_codes: Sequence[str] | None = None,
) -> list[UnclassifiedDowntime]:
    """Live stops without a reason that ended more than `older_than` ago, oldest first:
    the supervisor's list of stops the operators have not explained yet."""
    if older_than < timedelta(0):
        raise RuleViolation("'older than' cannot be negative")
    now = as_utc(now) if now is not None else utc_now()
    cutoff = now - older_than
    where = [Downtime.reason_id.is_(None), Downtime.ended_at <= cutoff]
    if equipment_codes is not None:
        where.append(Equipment.code.in_(equipment_codes))
    statement = (
        live_downtime(*where)
        .add_columns(Equipment.code, ProductionOrder.erp_order_id)
        .join(Equipment, Equipment.id == Downtime.work_center_id)
        .outerjoin(ProductionOrder, ProductionOrder.id == Downtime.order_id)
        .order_by(Downtime.ended_at, Downtime.id)
    )
    return [
        UnclassifiedDowntime(
            row.id,
            code,
            row.started_at,
            row.ended_at,
            row.minutes,
            row.source,
            order,
            minutes((now - row.ended_at) // timedelta(milliseconds=1)),
        )
        for row, code, order in session.execute(statement)
    ]
