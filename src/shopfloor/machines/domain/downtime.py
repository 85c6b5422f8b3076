"""Downtime events: detected from the state intervals, classified by operators, ranked.

Every down interval at least as long as the micro-stop threshold (shorter ones are
micro-stops, a speed loss) is a downtime event candidate, unclassified until an operator
gives a reason. Idle (starved/blocked) becomes a candidate only when asked for, and only
above its own threshold; setup only when asked for, and then as planned downtime.

Touching pieces with the same state and machine cause are one event, even across a shift
change; a planned break inside a stop is not downtime, so it cuts the stop into two events
(an operator can classify each). An event can be split at a moment into two with two
reasons, and touching events can be merged. The Pareto ranks downtime minutes by reason or
category, largest first, with the cumulative share; a window clips events to a shift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.oee import minutes, ratio
from shopfloor.machines.domain.states import Context, EquipmentState, StateInterval, span_ms

UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class DowntimeReason:
    reason: str
    category: str | None = None
    planned: bool | None = None  # None: keep what the event says


@dataclass(frozen=True)
class DowntimeEvent:
    equipment: str
    start: datetime
    end: datetime
    state: EquipmentState
    planned: bool
    context: Context
    cause: str | None = None  # what the machine said (fault code, starved/blocked)
    reason: str | None = None  # what the operator said
    category: str | None = None

    @property
    def classified(self) -> bool:
        return self.reason is not None

    @property
    def duration_ms(self) -> int:
        return span_ms(self.start, self.end)


def downtime_candidates(
    intervals: Iterable[StateInterval],
    *,
    include_idle: bool = False,
    idle_threshold: timedelta = timedelta(0),
    include_setup: bool = False,
) -> tuple[DowntimeEvent, ...]:
    """Unclassified downtime events from state intervals (after the shift calendar)."""
    wanted = {EquipmentState.DOWN}
    if include_idle:
        wanted.add(EquipmentState.IDLE)
    if include_setup:
        wanted.add(EquipmentState.SETUP)
    pieces = sorted(
        (i for i in intervals if i.state in wanted and not i.micro_stop),
        key=lambda i: (i.equipment, as_utc(i.start)),
    )
    events: list[DowntimeEvent] = []
    for piece in pieces:
        last = events[-1] if events else None
        if last is not None and (last.equipment, last.end, last.state, last.cause) == (
            piece.equipment,
            as_utc(piece.start),
            piece.state,
            piece.cause,
        ):
            events[-1] = replace(last, end=as_utc(piece.end))
            continue
        events.append(
            DowntimeEvent(
                equipment=piece.equipment,
                start=as_utc(piece.start),
                end=as_utc(piece.end),
                state=piece.state,
                planned=piece.state is EquipmentState.SETUP,
                context=piece.context,
                cause=piece.cause,
            )
        )
    threshold_ms = idle_threshold // timedelta(milliseconds=1)
    return tuple(
        e for e in events if e.state is not EquipmentState.IDLE or e.duration_ms >= threshold_ms
    )


def classify(event: DowntimeEvent, given: DowntimeReason) -> DowntimeEvent:
    """The event with the operator's reason (and category, and planned flag if given)."""
    if not given.reason.strip():
        raise RuleViolation("a downtime reason cannot be empty")
    planned = event.planned if given.planned is None else given.planned
    return replace(event, reason=given.reason, category=given.category, planned=planned)


def split_event(
    event: DowntimeEvent, at: datetime, before: DowntimeReason, after: DowntimeReason
) -> tuple[DowntimeEvent, DowntimeEvent]:
    """Two events, [start, at) and [at, end), each with its own reason."""
    at = as_utc(at)
    if not as_utc(event.start) < at < as_utc(event.end):
        raise RuleViolation(
            f"a downtime of {event.equipment} can only be split strictly between its start "
            f"{event.start:%Y-%m-%d %H:%M:%S} and end {event.end:%Y-%m-%d %H:%M:%S}"
        )
    first = classify(replace(event, end=at), before)
    second = classify(replace(event, start=at), after)
    return first, second


def merge_events(
    events: Sequence[DowntimeEvent], given: DowntimeReason | None = None
) -> DowntimeEvent:
    """One event from touching events of one equipment. Without `given`, the events must
    not carry different reasons; the one reason found (if any) is kept."""
    if not events:
        raise RuleViolation("nothing to merge")
    ordered = sorted(events, key=lambda e: as_utc(e.start))
    if len({e.equipment for e in ordered}) > 1:
        raise RuleViolation("only downtimes of the same equipment can be merged")
    for earlier, later in pairwise(ordered):
        if as_utc(earlier.end) != as_utc(later.start):
            raise RuleViolation(
                f"downtimes of {earlier.equipment} ending {earlier.end:%H:%M:%S} and starting "
                f"{later.start:%H:%M:%S} do not touch"
            )
    merged = replace(ordered[0], end=ordered[-1].end, reason=None, category=None)
    if given is not None:
        return classify(merged, given)
    reasons = {(e.reason, e.category) for e in ordered if e.classified}
    if len(reasons) > 1:
        raise RuleViolation("the downtimes have different reasons; give the merged reason")
    if reasons:
        reason, category = reasons.pop()
        return replace(merged, reason=reason, category=category)
    return merged


@dataclass(frozen=True)
class ParetoBar:
    label: str
    minutes: Decimal
    events: int
    share: Decimal
    cumulative_share: Decimal


def pareto(
    events: Iterable[DowntimeEvent],
    by: Literal["reason", "category"] = "reason",
    window: tuple[datetime, datetime] | None = None,
) -> tuple[ParetoBar, ...]:
    """Downtime minutes per reason (or category), largest first (ties by label), with each
    bar's share and the cumulative share; unclassified time is its own bar."""
    spent: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    for event in events:
        start, end = as_utc(event.start), as_utc(event.end)
        if window is not None:
            start, end = max(start, as_utc(window[0])), min(end, as_utc(window[1]))
            if end <= start:
                continue
        label = (event.reason if by == "reason" else event.category) or UNCLASSIFIED
        spent[label] += span_ms(start, end)
        seen[label] += 1
    whole = sum(spent.values())
    bars, running = [], 0
    for label, ms in sorted(spent.items(), key=lambda item: (-item[1], item[0])):
        running += ms
        share, cumulative = ratio(ms, whole), ratio(running, whole)
        bars.append(
            ParetoBar(
                label,
                minutes(ms),
                seen[label],
                share if share is not None else Decimal(0),
                cumulative if cumulative is not None else Decimal(0),
            )
        )
    return tuple(bars)
