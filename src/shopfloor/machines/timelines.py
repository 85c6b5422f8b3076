"""Each equipment's time, recomputed from what is stored: the read side OEE, downtime
detection and maintenance rules all start from.

The machine's stored signals give the states (`machine_history` + `derive_intervals`);
the shift calendar (the equipment's own, else the nearest one up the hierarchy; none at
all: round the clock) gives shift time and breaks; maintenance periods and stops
classified with a planned reason are planned stops; stops recorded by hand fill the
machine's data gaps; execution gives the order, operation and product when the machine
does not; counters give the counts. Nothing here is cached: a corrected reason, a
corrected ideal cycle time or a late signal changes the next recompute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from shopfloor.execution.tables import Downtime, OperationEvent
from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    ContextSignal,
    CounterSettings,
    EquipmentProfile,
    PlannedBreak,
    ProductionCount,
    ShiftWindow,
    StateInterval,
    apply_calendar,
    attribute_counts,
    counter_increments,
    derive_intervals,
    expand_shifts,
)
from shopfloor.machines.domain.planning import (
    ContextSpan,
    RecordedStop,
    apply_context,
    overlay_recorded_stops,
    round_the_clock,
    spans_from_events,
    with_planned_stops,
)
from shopfloor.machines.domain.states import Context
from shopfloor.machines.maintenance_tables import MaintenancePeriod
from shopfloor.machines.signals_queries import machine_history
from shopfloor.machines.tables import MchEquipmentProfile
from shopfloor.masterdata.tables import (
    DowntimeReason,
    Equipment,
    Item,
    Routing,
    RoutingOperation,
    Shift,
    ShiftBreak,
    ShiftCalendar,
)
from shopfloor.orders.tables import Operation, ProductionOrder

MAX_RANGE = timedelta(days=400)
MAINTENANCE = "maintenance"
CycleKey = tuple[str | None, str | None, str | None]  # order, operation, product


@dataclass(frozen=True)
class EquipmentTimeline:
    """One equipment's placed intervals and counts over a window, with the ideal cycle
    time (seconds per piece) of every order/operation/product it counted for."""

    equipment: str
    equipment_id: int
    profile: EquipmentProfile
    intervals: tuple[StateInterval, ...]
    counts: tuple[ProductionCount, ...]
    ideal_cycle_s: Mapping[CycleKey, Decimal | None]


def cycle_key(context: Context) -> CycleKey:
    return (context.order, context.operation, context.product)


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A window with its time zone, ending after it starts, at most MAX_RANGE long."""
    if start.tzinfo is None or end.tzinfo is None:
        raise RuleViolation("start and end must carry their time zone (UTC preferred)")
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise RuleViolation("the end must be after the start")
    if end - start > MAX_RANGE:
        raise RuleViolation(f"a window is at most {MAX_RANGE.days} days long")
    return start, end


def equipment_timelines(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
) -> list[EquipmentTimeline]:
    """The timelines of [start, end) of the given equipment (default: every equipment
    that ever sent data)."""
    start, end = check_window(start, end)
    histories = machine_history(session, start=start, end=end, equipment_codes=equipment_codes)
    if not histories:
        return []
    tree = equipment_nodes(session)
    wanted = {h.equipment for h in histories}
    ids = {code: row.id for code, row in tree.items() if code in wanted}
    windows = shift_windows(session, tree, ids, start, end)
    planned, recorded = recorded_downtime(session, ids, start, end)
    spans = execution_spans(session, ids, start, end)
    moduli = counter_settings_of(session, ids.values())
    timelines = []
    for history in histories:
        equipment_id = ids[history.equipment]
        timeline = derive_intervals(history.signals, history.profile, start, end)
        intervals: Iterable[StateInterval] = timeline.intervals
        if not any(isinstance(s, ContextSignal) for s in history.signals):
            intervals = apply_context(intervals, spans.get(equipment_id, ()))
        shifts = with_planned_stops(windows[equipment_id], planned.get(equipment_id, []))
        placed = apply_calendar(intervals, shifts)
        placed = overlay_recorded_stops(placed, recorded.get(equipment_id, []))
        report = counter_increments(history.counters, moduli.get(equipment_id, CounterSettings()))
        counts = attribute_counts(report.increments, placed)
        timelines.append(
            EquipmentTimeline(history.equipment, equipment_id, history.profile, placed, counts, {})
        )
    return _with_ideal_cycles(session, timelines)


def counter_settings_of(session: Session, ids: Iterable[int]) -> dict[int, CounterSettings]:
    """The counter modulus per equipment, where one is configured."""
    rows = session.execute(
        select(MchEquipmentProfile.equipment_id, MchEquipmentProfile.counter_modulus).where(
            MchEquipmentProfile.equipment_id.in_(list(ids)),
            MchEquipmentProfile.counter_modulus.is_not(None),
        )
    ).all()
    return {equipment_id: CounterSettings(modulus=modulus) for equipment_id, modulus in rows}


@dataclass(frozen=True)
class EquipmentNode:
    id: int
    parent_id: int | None
    calendar_id: int | None


def equipment_nodes(session: Session) -> dict[str, EquipmentNode]:
    """Every node of the equipment hierarchy by code."""
    rows = session.execute(
        select(Equipment.code, Equipment.id, Equipment.parent_id, Equipment.calendar_id)
    ).all()
    return {code: EquipmentNode(i, parent, calendar) for code, i, parent, calendar in rows}


def calendar_of(nodes: Mapping[int, EquipmentNode], equipment_id: int) -> int | None:
    """The equipment's own calendar, else the nearest one up the hierarchy (its line's)."""
    node: EquipmentNode | None = nodes.get(equipment_id)
    for _ in range(len(nodes)):
        if node is None:
            return None
        if node.calendar_id is not None:
            return node.calendar_id
        node = nodes.get(node.parent_id) if node.parent_id is not None else None
    return None


def shift_windows(
    session: Session,
    tree: Mapping[str, EquipmentNode],
    ids: Mapping[str, int],
    start: datetime,
    end: datetime,
) -> dict[int, tuple[ShiftWindow, ...]]:
    """Per equipment: the shift occurrences overlapping [start, end)."""
    nodes = {node.id: node for node in tree.values()}
    calendars = {i: calendar_of(nodes, i) for i in ids.values()}
    expanded = {
        calendar_id: calendar_windows(session, calendar_id, start, end)
        for calendar_id in set(calendars.values())
    }
    return {i: expanded[calendar_id] for i, calendar_id in calendars.items()}


def calendar_windows(
    session: Session, calendar_id: int | None, start: datetime, end: datetime
) -> tuple[ShiftWindow, ...]:
    """The occurrences of a calendar's shifts overlapping [start, end); round the clock
    (UTC days) without a calendar."""
    first_day, last_day = (start - timedelta(days=2)).date(), (end + timedelta(days=1)).date()
    if calendar_id is None:
        found = round_the_clock(first_day, last_day)
    else:
        calendar = session.get(ShiftCalendar, calendar_id)
        assert calendar is not None
        shifts = session.scalars(select(Shift).where(Shift.calendar_id == calendar_id)).all()
        breaks: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for pause in session.scalars(
            select(ShiftBreak)
            .where(ShiftBreak.shift_id.in_([s.id for s in shifts]))
            .order_by(ShiftBreak.offset_minutes)
        ):
            breaks[pause.shift_id].append((pause.name, pause.offset_minutes, pause.minutes))
        found = tuple(
            window
            for shift in shifts
            for window in expand_shifts(
                shift.code,
                shift.starts_at,
                shift.minutes,
                shift.weekdays,
                breaks[shift.id],
                calendar.timezone,
                first_day,
                last_day,
            )
        )
    return tuple(
        sorted((w for w in found if w.start < end and w.end > start), key=lambda w: w.start)
    )


def live_downtime(*where: ColumnElement[bool]) -> Select[Downtime]:
    """A select of the live downtime rows (neither reversals nor reversed)."""
    reversed_ids = select(Downtime.reverses_id).where(Downtime.reverses_id.is_not(None))
    return select(Downtime).where(
        Downtime.reverses_id.is_(None), Downtime.id.not_in(reversed_ids), *where
    )


def recorded_downtime(
    session: Session, ids: Mapping[str, int], start: datetime, end: datetime
) -> tuple[dict[int, list[PlannedBreak]], dict[int, list[RecordedStop]]]:
    """Per equipment: planned stops (maintenance, planned downtime) and unplanned stops
    recorded by hand."""
    planned: dict[int, list[PlannedBreak]] = defaultdict(list)
    recorded: dict[int, list[RecordedStop]] = defaultdict(list)
    periods = session.scalars(
        select(MaintenancePeriod).where(
            MaintenancePeriod.equipment_id.in_(ids.values()),
            MaintenancePeriod.started_at < end,
            or_(MaintenancePeriod.ended_at.is_(None), MaintenancePeriod.ended_at > start),
        )
    )
    for period in periods:
        until = period.ended_at if period.ended_at is not None else end
        planned[period.equipment_id].append(PlannedBreak(period.started_at, until, MAINTENANCE))
    reasons = dict(session.execute(select(DowntimeReason.id, DowntimeReason.code)).all())
    statement = live_downtime(
        Downtime.work_center_id.in_(ids.values()),
        Downtime.started_at < end,
        Downtime.ended_at > start,
    )
    for row in session.scalars(statement):
        reason = reasons.get(row.reason_id) if row.reason_id is not None else None
        if row.planned:
            name = reason or "planned downtime"
            planned[row.work_center_id].append(PlannedBreak(row.started_at, row.ended_at, name))
        elif row.source == "manual":
            recorded[row.work_center_id].append(RecordedStop(row.started_at, row.ended_at, reason))
    return planned, recorded


def execution_spans(
    session: Session, ids: Mapping[str, int], start: datetime, end: datetime
) -> dict[int, tuple[ContextSpan, ...]]:
    """Per work center: the operations executing on it, from their status events."""
    rows = session.execute(
        select(
            OperationEvent.work_center_id,
            OperationEvent.operation_id,
            OperationEvent.to_status,
            OperationEvent.occurred_at,
            ProductionOrder.erp_order_id,
            Operation.operation_no,
            Item.code,
        )
        .join(Operation, Operation.id == OperationEvent.operation_id)
        .join(ProductionOrder, ProductionOrder.id == OperationEvent.order_id)
        .join(Item, Item.id == ProductionOrder.item_id)
        .where(
            OperationEvent.work_center_id.in_(ids.values()),
            OperationEvent.occurred_at < end,
            Operation.started_at < end,
            or_(Operation.completed_at.is_(None), Operation.completed_at >= start),
        )
        .order_by(OperationEvent.occurred_at, OperationEvent.id)
    ).all()
    events: dict[int, list[tuple[datetime, str, ContextSpan | None]]] = defaultdict(list)
    for center, op_id, status, at, order, op_no, product in rows:
        span = ContextSpan(at, at, order, str(op_no), product) if status == "running" else None
        events[center].append((at, str(op_id), span))
    return {center: spans_from_events(found, end) for center, found in events.items()}


def _with_ideal_cycles(
    session: Session, timelines: Sequence[EquipmentTimeline]
) -> list[EquipmentTimeline]:
    wanted = {
        (t.equipment_id, key)
        for t in timelines
        for key in {cycle_key(i.context) for i in t.intervals}
    }
    cycles = ideal_cycles(session, wanted)
    return [replace(t, ideal_cycle_s=cycles[t.equipment_id]) for t in timelines]


def ideal_cycles(
    session: Session, wanted: set[tuple[int, CycleKey]]
) -> dict[int, dict[CycleKey, Decimal | None]]:
    """The ideal cycle time of every (equipment id, context counted in): the order's
    operation (a copy of the routing it was released with) when order and operation are
    known, else the product's newest routing operation on that work center."""
    orders = {order for _, (order, op, _) in wanted if order is not None and op is not None}
    products = {product for _, (_, _, product) in wanted if product is not None}
    by_operation = operation_cycles(session, orders)
    by_routing = routing_cycles(session, products, sorted({i for i, _ in wanted}))
    cycles: dict[int, dict[CycleKey, Decimal | None]] = defaultdict(dict)
    for equipment_id, key in wanted:
        order, operation, product = key
        if order is not None and operation is not None:
            cycles[equipment_id][key] = by_operation.get((order, operation))
        else:
            cycles[equipment_id][key] = by_routing.get((equipment_id, product))
    return cycles


def operation_cycles(session: Session, orders: set[str]) -> dict[tuple[str, str], Decimal]:
    if not orders:
        return {}
    rows = session.execute(
        select(ProductionOrder.erp_order_id, Operation.operation_no, Operation.ideal_cycle_seconds)
        .join(ProductionOrder, ProductionOrder.id == Operation.order_id)
        .where(ProductionOrder.erp_order_id.in_(orders))
    ).all()
    return {(order, str(no)): seconds for order, no, seconds in rows}


def routing_cycles(
    session: Session, products: set[str], equipment_ids: Sequence[int]
) -> dict[tuple[int, str | None], Decimal]:
    """Per (work center, product): the ideal cycle time of the product's newest routing
    version's first operation on that work center."""
    if not products:
        return {}
    rows = session.execute(
        select(RoutingOperation.work_center_id, Item.code, RoutingOperation.ideal_cycle_seconds)
        .join(Routing, Routing.id == RoutingOperation.routing_id)
        .join(Item, Item.id == Routing.item_id)
        .where(Item.code.in_(products), RoutingOperation.work_center_id.in_(equipment_ids))
        .order_by(Routing.effective_from, RoutingOperation.operation_no.desc())
    ).all()
    return {(center, product): seconds for center, product, seconds in rows}  # last wins
