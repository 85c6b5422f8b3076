"""The shift calendar laid over the machine's states.

Shift time is what OEE starts from. The calendar cuts every state interval at shift
boundaries and at the edges of planned breaks, tags each piece with its shift and
production day, and turns every piece inside a planned break into a planned stop whatever
the machine said (the machine's own state is kept as `machine_state`). Time outside every
shift is unscheduled: it counts towards calendar time (TEEP) and nothing else.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.states import EquipmentState, StateInterval


@dataclass(frozen=True)
class PlannedBreak:
    start: datetime
    end: datetime
    name: str = "break"


@dataclass(frozen=True)
class ShiftWindow:
    """One occurrence of a shift: [start, end) in UTC with its planned breaks."""

    shift: str
    start: datetime
    end: datetime
    production_day: date
    breaks: tuple[PlannedBreak, ...] = ()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise RuleViolation(
                f"shift {self.shift} on {self.production_day} must end after it starts"
            )
        previous_end = self.start
        for pause in sorted(self.breaks, key=lambda b: b.start):
            if pause.end <= pause.start:
                raise RuleViolation(
                    f"shift {self.shift}: break '{pause.name}' needs a positive length"
                )
            if pause.start < previous_end or pause.end > self.end:
                raise RuleViolation(
                    f"shift {self.shift} on {self.production_day}: break '{pause.name}' "
                    "overlaps another break or lies outside the shift"
                )
            previous_end = pause.end

    @property
    def planned_stop(self) -> timedelta:
        return sum((b.end - b.start for b in self.breaks), timedelta(0))


def expand_shifts(
    shift: str,
    starts_at: time,
    minutes: int,
    weekdays: Iterable[int],
    breaks: Sequence[tuple[str, int, int]],
    timezone: str,
    first_day: date,
    last_day: date,
) -> tuple[ShiftWindow, ...]:
    """The occurrences of a shift pattern from `first_day` to `last_day` inclusive.

    `starts_at` is local time in `timezone`; the shift lasts `minutes` of elapsed time from
    there (so a night shift across a clock change keeps its length). `breaks` are
    (name, offset minutes after the start, length in minutes). The production day is the
    local date the shift starts on.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleViolation(f"'{timezone}' is not a known time zone") from exc
    days = frozenset(weekdays)
    windows = []
    day = first_day
    while day <= last_day:
        if day.weekday() in days:
            start = datetime.combine(day, starts_at, tzinfo=zone).astimezone(UTC)
            pauses = tuple(
                PlannedBreak(
                    start + timedelta(minutes=offset),
                    start + timedelta(minutes=offset + length),
                    name,
                )
                for name, offset, length in breaks
            )
            windows.append(
                ShiftWindow(shift, start, start + timedelta(minutes=minutes), day, pauses)
            )
        day += timedelta(days=1)
    return tuple(windows)


def apply_calendar(
    intervals: Iterable[StateInterval], shifts: Iterable[ShiftWindow]
) -> tuple[StateInterval, ...]:
    """Cut the intervals at shift and break edges, tag shift and production day, and make
    break time a planned stop. Shift windows must not overlap."""
    windows = sorted(shifts, key=lambda w: as_utc(w.start))
    for earlier, later in pairwise(windows):
        if as_utc(later.start) < as_utc(earlier.end):
            raise RuleViolation(
                f"shift {earlier.shift} on {earlier.production_day} overlaps shift "
                f"{later.shift} on {later.production_day}"
            )
    starts = [as_utc(w.start) for w in windows]
    edges = sorted(
        {as_utc(t) for w in windows for t in (w.start, w.end)}
        | {as_utc(t) for w in windows for b in w.breaks for t in (b.start, b.end)}
    )
    placed: list[StateInterval] = []
    for interval in intervals:
        for piece in _cut(interval, edges):
            placed.append(_place(piece, windows, starts))
    return tuple(placed)


def _cut(interval: StateInterval, edges: Sequence[datetime]) -> list[StateInterval]:
    start, end = as_utc(interval.start), as_utc(interval.end)
    inner = edges[bisect_right(edges, start) : bisect_left(edges, end)]
    bounds = [start, *inner, end]
    return [replace(interval, start=a, end=b) for a, b in pairwise(bounds)]


def _place(
    piece: StateInterval, windows: Sequence[ShiftWindow], starts: Sequence[datetime]
) -> StateInterval:
    """Tag a piece that lies wholly inside or wholly outside each shift and break."""
    index = bisect_right(starts, piece.start) - 1
    if index < 0 or piece.start >= as_utc(windows[index].end):
        context = replace(piece.context, shift=None, production_day=None)
        return replace(piece, context=context, scheduled=False)
    window = windows[index]
    context = replace(piece.context, shift=window.shift, production_day=window.production_day)
    tagged = replace(piece, context=context, scheduled=True)
    for pause in window.breaks:
        if as_utc(pause.start) <= piece.start < as_utc(pause.end):
            return replace(
                tagged,
                state=EquipmentState.PLANNED_STOP,
                cause=pause.name,
                micro_stop=False,
                machine_state=piece.reported_state,
            )
    return tagged
