"""Planned time and execution context laid over a machine's intervals.

What the machine says is overridden or completed by what the plant planned or recorded:

- Planned stops other than the calendar's breaks (maintenance, a stop an operator
  classified with a planned reason) join the shift's breaks: inside a shift they are
  planned stops whatever the machine said, so they leave planned production time. Where
  one overlaps a break, the break keeps its name and the planned stop fills the rest.
- Equipment without a shift calendar is scheduled round the clock: one 24-hour window per
  UTC day named `24h`, so its OEE is its TEEP.
- A stop an operator recorded by hand, unplanned, is data where the machine gave none:
  offline time (no data) inside it becomes down time with the operator's reason as the
  cause. Where the machine reported a state, its state stands.
- When the machine does not report its order, operation and product, execution does: an
  operation started (or resumed) on the work center runs until it is paused, completed or
  aborted, and its intervals carry its order, operation and product.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from shopfloor.kernel.clock import as_utc
from shopfloor.machines.domain.shifts import PlannedBreak, ShiftWindow
from shopfloor.machines.domain.states import EquipmentState, StateInterval

ROUND_THE_CLOCK = "24h"
Period = tuple[datetime, datetime]


@dataclass(frozen=True)
class ContextSpan:
    """An operation executing on a work center over [start, end)."""

    start: datetime
    end: datetime
    order: str | None = None
    operation: str | None = None
    product: str | None = None


@dataclass(frozen=True)
class RecordedStop:
    """A stop an operator recorded by hand, unplanned, with its reason."""

    start: datetime
    end: datetime
    reason: str | None = None


def round_the_clock(first_day: date, last_day: date) -> tuple[ShiftWindow, ...]:
    """One 24-hour UTC window per day from `first_day` to `last_day` inclusive."""
    windows = []
    day = first_day
    while day <= last_day:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        windows.append(ShiftWindow(ROUND_THE_CLOCK, start, start + timedelta(days=1), day))
        day += timedelta(days=1)
    return tuple(windows)


def uncovered(start: datetime, end: datetime, covered: Iterable[Period]) -> list[Period]:
    """The parts of [start, end) that none of the `covered` periods overlap."""
    pieces: list[Period] = []
    cursor = as_utc(start)
    stop = as_utc(end)
    for lo, hi in sorted((as_utc(a), as_utc(b)) for a, b in covered):
        if hi <= cursor or lo >= stop:
            continue
        if lo > cursor:
            pieces.append((cursor, lo))
        cursor = max(cursor, hi)
        if cursor >= stop:
            break
    if cursor < stop:
        pieces.append((cursor, stop))
    return pieces


def with_planned_stops(
    windows: Iterable[ShiftWindow], stops: Sequence[PlannedBreak]
) -> tuple[ShiftWindow, ...]:
    """Each shift with the planned stops that fall inside it added to its breaks."""
    placed = []
    for window in windows:
        w_start, w_end = as_utc(window.start), as_utc(window.end)
        pauses = list(window.breaks)
        for stop in stops:
            lo, hi = max(as_utc(stop.start), w_start), min(as_utc(stop.end), w_end)
            if hi <= lo:
                continue
            taken = [(p.start, p.end) for p in pauses]
            pauses.extend(PlannedBreak(a, b, stop.name) for a, b in uncovered(lo, hi, taken))
        if len(pauses) != len(window.breaks):
            window = replace(window, breaks=tuple(sorted(pauses, key=lambda p: as_utc(p.start))))
        placed.append(window)
    return tuple(placed)


def cut_at(intervals: Iterable[StateInterval], edges: Sequence[datetime]) -> list[StateInterval]:
    """The intervals cut at every edge that falls strictly inside one (edges sorted)."""
    pieces: list[StateInterval] = []
    for interval in intervals:
        start, end = as_utc(interval.start), as_utc(interval.end)
        inner = edges[bisect_right(edges, start) : bisect_left(edges, end)]
        if not inner:
            pieces.append(interval)
            continue
        bounds = [start, *inner, end]
        pieces.extend(replace(interval, start=a, end=b) for a, b in pairwise(bounds))
    return pieces


def _edges(periods: Iterable[tuple[datetime, datetime]]) -> list[datetime]:
    return sorted({as_utc(t) for period in periods for t in period})


def _covering(periods: Sequence[Period], starts: Sequence[datetime], moment: datetime) -> int:
    """Index of the period (sorted, not overlapping) holding `moment`, or -1."""
    index = bisect_right(starts, moment) - 1
    if index >= 0 and moment < periods[index][1]:
        return index
    return -1


def overlay_recorded_stops(
    intervals: Iterable[StateInterval], stops: Sequence[RecordedStop]
) -> tuple[StateInterval, ...]:
    """Offline time inside an unplanned stop recorded by hand becomes down time."""
    if not stops:
        return tuple(intervals)
    ordered = sorted(stops, key=lambda s: as_utc(s.start))
    periods = [(as_utc(s.start), as_utc(s.end)) for s in ordered]
    starts = [p[0] for p in periods]
    result = []
    for piece in cut_at(intervals, _edges(periods)):
        index = _covering(periods, starts, as_utc(piece.start))
        if piece.state is EquipmentState.OFFLINE and index >= 0:
            piece = replace(piece, state=EquipmentState.DOWN, cause=ordered[index].reason)
        result.append(piece)
    return tuple(result)


def apply_context(
    intervals: Iterable[StateInterval], spans: Sequence[ContextSpan]
) -> tuple[StateInterval, ...]:
    """The intervals cut at span edges, carrying the order, operation and product of the
    span they lie in (none outside every span). Spans must not overlap."""
    ordered = sorted(spans, key=lambda s: as_utc(s.start))
    periods = [(as_utc(s.start), as_utc(s.end)) for s in ordered]
    starts = [p[0] for p in periods]
    result = []
    for piece in cut_at(intervals, _edges(periods)):
        index = _covering(periods, starts, as_utc(piece.start))
        span = ordered[index] if index >= 0 else ContextSpan(piece.start, piece.end)
        context = replace(
            piece.context, order=span.order, operation=span.operation, product=span.product
        )
        result.append(replace(piece, context=context))
    return tuple(result)


def spans_from_events(
    events: Iterable[tuple[datetime, str, ContextSpan | None]], until: datetime
) -> tuple[ContextSpan, ...]:
    """Context spans from operation events in time order: (moment, key, span) where a span
    opens the operation `key` and None closes it. One operation runs at a time on a work
    center; a new start closes the previous one. Still open at `until`: ends there."""
    spans: list[ContextSpan] = []
    open_key: str | None = None
    open_span: ContextSpan | None = None
    for moment, key, span in sorted(events, key=lambda e: as_utc(e[0])):
        moment = as_utc(moment)
        if open_span is not None and (span is not None or key == open_key):
            if moment > as_utc(open_span.start):
                spans.append(replace(open_span, end=moment))
            open_span, open_key = None, None
        if span is not None:
            open_span, open_key = replace(span, start=moment), key
    if open_span is not None and as_utc(until) > as_utc(open_span.start):
        spans.append(replace(open_span, end=as_utc(until)))
    return tuple(spans)
