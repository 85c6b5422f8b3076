"""The read side of OEE and downtime: figures recomputed from stored events, the downtime
Pareto, and the unclassified downtime waiting for a reason.

OEE follows the standard definitions exactly (see `machines.domain.oee` and docs/oee.md):
each equipment's timeline is recomputed from its stored signals, shift calendar, planned
stops and execution facts, turned into primitives that add up, summed per group and only
then divided. Ratios are never averaged, so a line's OEE is its machines' summed good
time over their summed planned production time. The ideal cycle time of every count is the
one of the order operation (or product routing) it was counted for, read at recompute:
correcting it, or a downtime reason, changes history consistently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.machines.domain import (
    GROUPINGS,
    Context,
    OeeFigures,
    ProductionCount,
    as_percent,
    oee_figures,
)
from shopfloor.machines.domain.oee import add_counts, minutes, primitives_of
from shopfloor.machines.downtime_queries import (
    PARETO_LEVELS,
    UnclassifiedDowntime,
    downtime_pareto,
    unclassified_downtime,
)
from shopfloor.machines.oee_tallies import TalliedEquipment, equipment_tallies
from shopfloor.machines.tables import MchIngestStat
from shopfloor.machines.timelines import (
    CycleKey,
    calendar_of,
    calendar_windows,
    check_window,
    cycle_key,
    equipment_nodes,
)
from shopfloor.masterdata.tables import Equipment

__all__ = [
    "PARETO_LEVELS",
    "OeeRow",
    "UnclassifiedDowntime",
    "add_equipment",
    "as_plain",
    "check_grouping",
    "downtime_pareto",
    "oee",
    "running_shift",
    "unclassified_downtime",
]

GroupKey = tuple[Hashable, ...]
Tally = dict[str, int | Decimal]  # primitives by name, summed
BATCH = 200  # equipment recomputed together: bounds the memory of a long window


@dataclass(frozen=True)
class OeeRow:
    """The figures of one group (its keys in `group`); ratios are None when undefined."""

    group: Mapping[str, Any]
    availability: Decimal | None
    performance: Decimal | None
    quality: Decimal | None
    oee: Decimal | None
    utilisation: Decimal | None
    teep: Decimal | None
    count_quality: Decimal | None
    total_count: int
    good_count: int
    reject_count: int
    minutes: Mapping[str, Decimal]
    losses: Mapping[str, Decimal]
    performance_exceeds_ideal: bool
    counts_without_run_time: bool


def check_grouping(group_by: Sequence[str]) -> tuple[str, ...]:
    """Known group keys, each once, at least one."""
    keys = tuple(dict.fromkeys(k.strip() for k in group_by if k.strip()))
    unknown = [k for k in keys if k not in GROUPINGS]
    if unknown or not keys:
        raise RuleViolation(
            f"group by one or more of {', '.join(GROUPINGS)}"
            + (f"; '{', '.join(unknown)}' is not one" if unknown else "")
        )
    return keys


def oee(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    group_by: Sequence[str],
    equipment_codes: Sequence[str] | None = None,
) -> list[OeeRow]:
    """OEE, six big losses and TEEP of [start, end) per group (equipment, line, shift,
    product, order, day — any combination), recomputed from the stored events. Grouped
    by equipment (and more), a group is complete once its equipment is tallied: its
    figures are worked out then, and its tally let go."""
    keys = check_grouping(group_by)
    start, end = check_window(start, end)
    grouping = _grouping(keys)
    tallies: dict[GroupKey, Tally] = defaultdict(lambda: defaultdict(int))
    rows: list[OeeRow] = []
    in_minutes = _minutes_memo()
    codes = list(equipment_codes) if equipment_codes is not None else equipment_with_data(session)
    for first in range(0, len(codes), BATCH):
        batch = codes[first : first + BATCH]
        done = equipment_tallies(session, start=start, end=end, equipment_codes=batch)
        with closing(done):  # stops the reading thread at once if a rule refuses
            for tallied in done:
                complete = add_equipment(tallies, tallied, grouping, start)
                if "equipment" in keys:
                    rows += [_row(keys, g, tallies.pop(g), in_minutes) for g in complete]
    rows += [_row(keys, group, tally, in_minutes) for group, tally in tallies.items()]
    return sorted(rows, key=lambda row: tuple(_sortable(v) for v in row.group.values()))


def _row(
    keys: Sequence[str],
    group: GroupKey,
    tally: Tally,
    in_minutes: Callable[[int | Decimal], Decimal],
) -> OeeRow:
    figures = oee_figures(primitives_of(tally), in_minutes)
    return oee_row(_group_values(keys, group), figures, in_minutes)


def _minutes_memo() -> Callable[[int | Decimal], Decimal]:
    """`minutes`, remembering its answers for whole milliseconds: groups share many
    durations (a shift's length, its break, nothing offline). Decimals are worked out each
    time: equal ones may differ in their exponent, and so in their quotient's."""
    known: dict[int, Decimal] = {}

    def in_minutes(milliseconds: int | Decimal) -> Decimal:
        if type(milliseconds) is not int:
            return minutes(milliseconds)
        found = known.get(milliseconds)
        if found is None:
            found = known[milliseconds] = minutes(milliseconds)
        return found

    return in_minutes


def equipment_with_data(session: Session) -> list[str]:
    """Codes of every equipment that ever sent data."""
    return list(
        session.scalars(
            select(Equipment.code)
            .join(MchIngestStat, MchIngestStat.equipment_id == Equipment.id)
            .order_by(Equipment.code)
        )
    )


def _grouping(keys: Sequence[str]) -> Callable[[Context], GroupKey]:
    """The group key of a context (called for every context of every equipment: one or
    two keys, the usual case, without a loop)."""
    getters = [GROUPINGS[k] for k in keys]
    if len(getters) == 1:
        (first,) = getters
        return lambda context: (first(context),)
    if len(getters) == 2:
        first, second = getters
        return lambda context: (first(context), second(context))
    return lambda context: tuple([get(context) for get in getters])


def _group_values(keys: Sequence[str], group: GroupKey) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in zip(keys, group, strict=True):
        if key == "shift":
            day, shift = value if isinstance(value, tuple) else (None, None)
            values["production_day"], values["shift"] = day, shift
        else:
            values[key] = value
    return values


def _sortable(value: Any) -> tuple[bool, str]:
    return (value is None, "" if value is None else str(value))


def add_equipment(
    tallies: dict[GroupKey, Tally],
    tallied: TalliedEquipment,
    grouping: Callable[[Context], GroupKey],
    start: datetime,
) -> set[GroupKey]:
    """Add one equipment's primitives to the per-group tallies: its times, and its counts
    each valued at the ideal cycle time of the order operation (or product) it was
    counted for. Returns the groups it added to."""
    added: set[GroupKey] = set()
    for context, spent in tallied.tally.times.items():
        group = grouping(context)
        added.add(group)
        tally = tallies.get(group)
        if tally is None:  # the usual case: a group's first context, copied at once
            tallies[group] = defaultdict(int, spent)
            continue
        for name, milliseconds in spent.items():
            tally[name] += milliseconds
    by_cycle: dict[CycleKey, list[ProductionCount]] = defaultdict(list)
    for context, totals in tallied.tally.counts.items():
        added.add(grouping(context))
        by_cycle[cycle_key(context)].append(ProductionCount(context, start, totals))
    for key, counts in by_cycle.items():
        seconds = tallied.ideal_cycle_s.get(key)
        if seconds is None:
            order, operation, product = key
            raise RuleViolation(
                f"{tallied.equipment} counted pieces for order {order or '-'} operation "
                f"{operation or '-'} product {product or '-'} without an ideal cycle time: "
                "start the operation on the work center or give the product a routing there"
            )
        add_counts(tallies, counts, {key[2]: seconds}, grouping)
    return added


def oee_row(
    group: Mapping[str, Any],
    figures: OeeFigures,
    in_minutes: Callable[[int | Decimal], Decimal] = minutes,
) -> OeeRow:
    p = figures.primitives
    run = p.running_ms + p.micro_stop_ms
    planned = run + p.down_ms + p.idle_ms + p.setup_ms  # p's properties, each worked out once
    shift = planned + p.planned_stop_ms + p.offline_ms
    losses = figures.losses
    durations = {
        "calendar": in_minutes(shift + p.unscheduled_ms),
        "shift": in_minutes(shift),
        "planned_production": in_minutes(planned),
        "run": in_minutes(run),
        "running": in_minutes(p.running_ms),
        "micro_stop": losses.minor_stops,  # the same minutes as the loss
        "down": in_minutes(p.down_ms),
        "idle": in_minutes(p.idle_ms),
        "setup": losses.setup_adjustments,
        "planned_stop": in_minutes(p.planned_stop_ms),
        "offline": in_minutes(p.offline_ms),
        "unscheduled": in_minutes(p.unscheduled_ms),
        "net_run": in_minutes(p.ideal_ms),  # figures.net_run_minutes
        "fully_productive": in_minutes(p.fully_productive_ms),
    }
    return OeeRow(
        group=dict(group),
        availability=figures.availability,
        performance=figures.performance,
        quality=figures.quality,
        oee=figures.oee,
        utilisation=figures.utilisation,
        teep=figures.teep,
        count_quality=figures.count_quality,
        total_count=p.total_count,
        good_count=p.total_count - p.reject_count,
        reject_count=p.reject_count,
        minutes=durations,
        losses={
            "breakdowns": losses.breakdowns,
            "setup_adjustments": losses.setup_adjustments,
            "minor_stops": losses.minor_stops,
            "reduced_speed": losses.reduced_speed,
            "process_defects": losses.process_defects,
            "reduced_yield": losses.reduced_yield,
        },
        performance_exceeds_ideal=figures.performance_exceeds_ideal,
        counts_without_run_time=figures.counts_without_run_time,
    )


def as_plain(row: OeeRow) -> dict[str, Any]:
    """A row as published: ratios in percent (two places, half up), minutes to the
    millisecond's six decimals, counts, the six big losses and the flags."""
    ratios = ("availability", "performance", "quality", "oee", "utilisation", "teep")
    return {
        "group": {k: v.isoformat() if isinstance(v, date) else v for k, v in row.group.items()},
        **{name: as_percent(getattr(row, name)) for name in ratios},
        "count_quality": as_percent(row.count_quality),
        "total_count": row.total_count,
        "good_count": row.good_count,
        "reject_count": row.reject_count,
        "minutes": {name: qty(value) for name, value in row.minutes.items()},
        "losses": {name: qty(value) for name, value in row.losses.items()},
        "performance_exceeds_ideal": row.performance_exceeds_ideal,
        "counts_without_run_time": row.counts_without_run_time,
    }


def running_shift(
    session: Session, now: datetime, equipment_codes: Sequence[str] | None = None
) -> tuple[datetime, datetime]:
    """The live window: from the start of the earliest shift running now on the equipment
    (default: every equipment that sends data) until now."""
    now = as_utc(now)
    tree = equipment_nodes(session)
    if equipment_codes is None:
        wanted = set(session.scalars(select(MchIngestStat.equipment_id)))
    else:
        wanted = {tree[c].id for c in equipment_codes if c in tree}
    nodes = {node.id: node for node in tree.values()}
    starts = [
        window.start
        for calendar_id in {calendar_of(nodes, i) for i in wanted}
        for window in calendar_windows(session, calendar_id, now - timedelta(seconds=1), now)
        if window.start <= now < window.end
    ]
    if not starts:
        raise RuleViolation("no shift is running now; give a start and an end")
    return min(starts), now
