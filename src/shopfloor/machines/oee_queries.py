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

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.machines.domain import GROUPINGS, OeeFigures, as_percent, oee_figures
from shopfloor.machines.domain.oee import minutes, primitives_of
from shopfloor.machines.downtime_queries import (
    PARETO_LEVELS,
    UnclassifiedDowntime,
    downtime_pareto,
    unclassified_downtime,
)
from shopfloor.machines.oee_parallel import (
    process_count,
    shareable_url,
    start_early,
    tallies_in_workers,
)
from shopfloor.machines.oee_tallies import (
    GroupKey,
    Tally,
    add_equipment,
    add_tallies,
    equipment_tallies,
    grouping_of,
    new_tallies,
)
from shopfloor.machines.tables import MchIngestStat
from shopfloor.machines.timelines import (
    calendar_of,
    calendar_windows,
    check_window,
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
    workers: int | None = None,
) -> list[OeeRow]:
    """OEE, six big losses and TEEP of [start, end) per group (equipment, line, shift,
    product, order, day — any combination), recomputed from the stored events.

    A large recompute (`oee_parallel.process_count`: 8 equipment or more over more than a
    day) is tallied by `workers` processes (None or 0: one per core; 1: this process
    alone) when another process can read what `session` reads; the rows are the same."""
    keys = check_grouping(group_by)
    start, end = check_window(start, end)
    start_early(workers, end - start)
    codes = list(equipment_codes) if equipment_codes is not None else equipment_with_data(session)
    processes = process_count(workers, len(codes), end - start)
    url = shareable_url(session) if processes > 1 else None
    with _collector_paused():
        if url is None:
            rows = _recompute_here(session, codes, start, end, keys)
        else:
            rows = _recompute_in_workers(session, url, codes, start, end, keys, processes)
        rows.sort(key=_sort_key)
    return rows


def _recompute_here(
    session: Session, codes: Sequence[str], start: datetime, end: datetime, keys: Sequence[str]
) -> list[OeeRow]:
    """The rows, tallied in this process. Grouped by equipment (and more), a group is
    complete once its equipment is tallied: its figures are worked out then, and its
    tally let go."""
    grouping = grouping_of(keys)
    tallies = new_tallies()
    in_minutes = _Minutes()
    rows: list[OeeRow] = []
    for first in range(0, len(codes), BATCH):
        batch = codes[first : first + BATCH]
        done = equipment_tallies(session, start=start, end=end, equipment_codes=batch)
        with closing(done):  # stops the reading thread at once if a rule refuses
            for tallied in done:
                complete = add_equipment(tallies, tallied, grouping, start)
                if "equipment" in keys:
                    rows += [_row(keys, g, tallies.pop(g), in_minutes) for g in complete]
    rows += [_row(keys, group, tally, in_minutes) for group, tally in tallies.items()]
    return rows


def _recompute_in_workers(
    session: Session,
    url: str,
    codes: Sequence[str],
    start: datetime,
    end: datetime,
    keys: Sequence[str],
    processes: int,
) -> list[OeeRow]:
    """The rows, tallied a chunk of equipment at a time by worker processes and this one
    (`oee_parallel`); the figures are worked out here as the chunks come in."""
    tallies = new_tallies()
    in_minutes = _Minutes()
    rows: list[OeeRow] = []
    chunks = tallies_in_workers(
        session, url, codes, start=start, end=end, keys=keys, processes=processes
    )
    with closing(chunks):  # stops the workers at once if a rule refuses
        for chunk in chunks:
            if "equipment" in keys:  # a chunk's groups are its equipment's: complete
                rows += [_row(keys, group, tally, in_minutes) for group, tally in chunk.items()]
            else:
                add_tallies(tallies, chunk)
    rows += [_row(keys, group, tally, in_minutes) for group, tally in tallies.items()]
    return rows


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a recompute runs (when it was on). What a
    recompute makes — tallies, rows — is let go by reference counting; the collector would
    only walk the growing heap of rows again and again (about a tenth of a month's
    recompute). Whoever turned it off turns it back on, so two recomputes at once never
    leave it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _row(keys: Sequence[str], group: GroupKey, tally: Tally, in_minutes: _Minutes) -> OeeRow:
    figures = oee_figures(primitives_of(tally), in_minutes)
    return oee_row(_group_values(keys, group), figures, in_minutes)


class _Minutes(dict[int, Decimal]):
    """`minutes`, remembering its answers for whole milliseconds: groups share many
    durations (a shift's length, its break, nothing offline); looked up as `memo[ms]`.
    Called, Decimals are worked out each time: equal ones may differ in their exponent, and
    so in their quotient's."""

    def __missing__(self, milliseconds: int) -> Decimal:
        found = self[milliseconds] = minutes(milliseconds)
        return found

    def __call__(self, milliseconds: int | Decimal) -> Decimal:
        if type(milliseconds) is int:
            return self[milliseconds]
        return minutes(milliseconds)


def equipment_with_data(session: Session) -> list[str]:
    """Codes of every equipment that ever sent data."""
    return list(
        session.scalars(
            select(Equipment.code)
            .join(MchIngestStat, MchIngestStat.equipment_id == Equipment.id)
            .order_by(Equipment.code)
        )
    )


def _group_values(keys: Sequence[str], group: GroupKey) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in zip(keys, group, strict=True):
        if key == "shift":
            day, shift = value if isinstance(value, tuple) else (None, None)
            values["production_day"], values["shift"] = day, shift
        else:
            values[key] = value
    return values


def _sort_key(row: OeeRow) -> list[tuple[bool, str]]:
    """Rows by their group's values, None last."""
    return [(value is None, "" if value is None else str(value)) for value in row.group.values()]


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
    # whole milliseconds: looked up in the memo directly (18,200 rows a month, 10 each)
    whole = in_minutes.__getitem__ if isinstance(in_minutes, _Minutes) else in_minutes
    durations = {
        "calendar": whole(shift + p.unscheduled_ms),
        "shift": whole(shift),
        "planned_production": whole(planned),
        "run": whole(run),
        "running": whole(p.running_ms),
        "micro_stop": losses.minor_stops,  # the same minutes as the loss
        "down": whole(p.down_ms),
        "idle": whole(p.idle_ms),
        "setup": losses.setup_adjustments,
        "planned_stop": whole(p.planned_stop_ms),
        "offline": whole(p.offline_ms),
        "unscheduled": whole(p.unscheduled_ms),
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
