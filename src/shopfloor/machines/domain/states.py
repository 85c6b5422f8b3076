"""Equipment states and the state intervals derived from what a machine reports.

A machine's time is cut into intervals, each in exactly one state. The conventions:

- Machine timestamps are not trusted blindly. Signals are ordered by device time, not by
  arrival; a re-delivered signal (same equipment, device time and value) is ignored and
  counted; a device clock further from the server's receipt time than the tolerance is
  reported, never silently corrected.
- Offline means "no data", not "stopped". Every signal (state, heartbeat, context) proves
  the device was alive at its device time. When two consecutive signals are further apart
  than the heartbeat timeout, the whole gap between them is offline: nothing after the last
  signal is known. Offline is not downtime; OEE leaves it out of planned production time.
  Before the first signal ever seen, and after the last one once the timeout has passed,
  the machine is offline too.
- A down or idle stop shorter than the equipment's micro-stop threshold is a micro-stop:
  a speed loss inside run time, not an availability loss and not a downtime event. The
  threshold is applied to the whole stop, before the shift calendar cuts it into pieces,
  so a stop across a shift change or a break is judged by its full length; touching down
  and idle pieces (a fault code changing mid-stop) are one stop. A stop still open at the
  end of the window is judged by its length so far.
- Durations are whole milliseconds between epoch-millisecond instants, so pieces of an
  interval always add up to the interval exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """An instant as whole milliseconds since 1970-01-01 UTC (sub-millisecond cut off)."""
    return (as_utc(moment) - EPOCH) // _MILLISECOND


def span_ms(start: datetime, end: datetime) -> int:
    """Milliseconds from `start` to `end`; additive: span(a, b) + span(b, c) == span(a, c)."""
    return epoch_ms(end) - epoch_ms(start)


class EquipmentState(StrEnum):
    RUNNING = "running"
    IDLE = "idle"  # able to run but starved (nothing to work on) or blocked (nowhere to put it)
    DOWN = "down"  # unplanned stop: failure, fault, jam
    SETUP = "setup"  # changeover and adjustment
    PLANNED_STOP = "planned_stop"  # break, planned maintenance, no shift
    OFFLINE = "offline"  # no data


class IdleCause(StrEnum):
    STARVED = "starved"
    BLOCKED = "blocked"


STOPS = frozenset({EquipmentState.DOWN, EquipmentState.IDLE})


@dataclass(frozen=True)
class Context:
    """What an interval or a count belongs to; the grouping keys of every OEE report."""

    equipment: str
    line: str | None = None
    order: str | None = None
    operation: str | None = None
    product: str | None = None
    shift: str | None = None
    production_day: date | None = None


@dataclass(frozen=True)
class StateSignal:
    """The machine reports that it is now in `state`; `cause` is starved/blocked for idle
    or the machine's fault code for down."""

    equipment: str
    device_time: datetime
    state: EquipmentState
    cause: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Heartbeat:
    """Proof of life without news: the state is unchanged."""

    equipment: str
    device_time: datetime
    received_at: datetime | None = None


@dataclass(frozen=True)
class ContextSignal:
    """The machine (or its operator) switched order, operation or product."""

    equipment: str
    device_time: datetime
    order: str | None = None
    operation: str | None = None
    product: str | None = None
    received_at: datetime | None = None


MachineSignal = StateSignal | Heartbeat | ContextSignal


@dataclass(frozen=True)
class EquipmentProfile:
    """The per-equipment settings the state rules need."""

    equipment: str
    line: str | None = None
    heartbeat_timeout: timedelta = timedelta(minutes=2)
    micro_stop_threshold: timedelta = timedelta(minutes=2)
    skew_tolerance: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        for name in ("heartbeat_timeout", "micro_stop_threshold", "skew_tolerance"):
            if getattr(self, name) < timedelta(0):
                raise RuleViolation(f"{self.equipment}: {name.replace('_', ' ')} is negative")


@dataclass(frozen=True)
class StateInterval:
    """[start, end) of one equipment in one state. `machine_state` keeps what the machine
    reported when the shift calendar overrides it (a machine running through a break)."""

    context: Context
    state: EquipmentState
    start: datetime
    end: datetime
    cause: str | None = None
    micro_stop: bool = False
    scheduled: bool = True
    machine_state: EquipmentState | None = None

    @property
    def equipment(self) -> str:
        return self.context.equipment

    @property
    def reported_state(self) -> EquipmentState:
        return self.machine_state if self.machine_state is not None else self.state

    @property
    def duration_ms(self) -> int:
        return span_ms(self.start, self.end)


@dataclass(frozen=True)
class SkewFinding:
    """A signal whose device clock disagreed with the server by more than the tolerance."""

    equipment: str
    device_time: datetime
    received_at: datetime

    @property
    def skew(self) -> timedelta:
        """Receipt minus device time: positive when the device clock is behind (or the
        message was buffered), negative when the device clock runs ahead."""
        return self.received_at - self.device_time


@dataclass(frozen=True)
class SignalReport:
    """What the derivation noticed about the data itself."""

    received: int
    duplicates: int
    out_of_order: int
    skewed: tuple[SkewFinding, ...]
    offline_intervals: int

    @property
    def max_skew(self) -> timedelta | None:
        return max((abs(f.skew) for f in self.skewed), default=None)


@dataclass(frozen=True)
class Timeline:
    intervals: tuple[StateInterval, ...]
    report: SignalReport


# (start, end, state, cause, context) while walking the signals
_Segment = tuple[datetime, datetime, EquipmentState, str | None, Context]


def derive_intervals(
    signals: Iterable[MachineSignal], profile: EquipmentProfile, start: datetime, end: datetime
) -> Timeline:
    """The state intervals of one equipment over [start, end).

    Pass the signals of the window and, from before it, the last state signal, the last
    context signal and the last signal of any kind: they carry state, context and proof of
    life into the window. Signals at or after `end` are ignored.
    """
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise RuleViolation(f"{profile.equipment}: the window must end after it starts")
    received = list(signals)
    foreign = {s.equipment for s in received} - {profile.equipment}
    if foreign:
        raise ValueError(f"signals of {sorted(foreign)} passed for {profile.equipment}")
    unique = deduplicate(received)
    ordered = sorted((s for s in unique if as_utc(s.device_time) < end), key=_order_key)
    segments = _walk(ordered, profile, end)
    micro = _mark_micro_stops(segments, profile.micro_stop_threshold)
    intervals = _clip(segments, micro, profile, start, end)
    report = SignalReport(
        received=len(received),
        duplicates=len(received) - len(unique),
        out_of_order=count_out_of_order(s.device_time for s in received),
        skewed=skew_findings(unique, profile.skew_tolerance),
        offline_intervals=sum(1 for i in intervals if i.state is EquipmentState.OFFLINE),
    )
    return Timeline(intervals, report)


def _identity(signal: MachineSignal) -> tuple[object, ...]:
    """What makes two deliveries the same signal: equipment, device time, value."""
    base = (signal.equipment, as_utc(signal.device_time))
    if isinstance(signal, StateSignal):
        return (*base, "state", signal.state.value, signal.cause or "")
    if isinstance(signal, ContextSignal):
        return (*base, "context", signal.order or "", signal.operation or "", signal.product or "")
    return (*base, "heartbeat")


def _order_key(signal: MachineSignal) -> tuple[object, ...]:
    """Device time first; ties broken by value so the arrival order never matters."""
    return _identity(signal)[1:]


def deduplicate(signals: Sequence[MachineSignal]) -> list[MachineSignal]:
    """The first delivery of every distinct signal, in arrival order."""
    seen: set[tuple[object, ...]] = set()
    unique: list[MachineSignal] = []
    for signal in signals:
        key = _identity(signal)
        if key not in seen:
            seen.add(key)
            unique.append(signal)
    return unique


def count_out_of_order(device_times: Iterable[datetime]) -> int:
    """Signals that arrived after one with a later device time."""
    latest: datetime | None = None
    late = 0
    for moment in map(as_utc, device_times):
        if latest is not None and moment < latest:
            late += 1
        else:
            latest = moment
    return late


class Timestamped(Protocol):
    """Anything a device sends: signals and counter samples alike."""

    @property
    def equipment(self) -> str: ...
    @property
    def device_time(self) -> datetime: ...
    @property
    def received_at(self) -> datetime | None: ...


def skew_findings(messages: Iterable[Timestamped], tolerance: timedelta) -> tuple[SkewFinding, ...]:
    """Messages whose device time is further from the server receipt time than `tolerance`."""
    found = []
    for message in messages:
        if message.received_at is None:
            continue
        device_time, received_at = as_utc(message.device_time), as_utc(message.received_at)
        if abs(received_at - device_time) > tolerance:
            found.append(SkewFinding(message.equipment, device_time, received_at))
    return tuple(found)


def _walk(
    ordered: Sequence[MachineSignal], profile: EquipmentProfile, end: datetime
) -> list[_Segment]:
    """Segments from the first signal to `end`; gaps longer than the timeout are offline."""
    segments: list[_Segment] = []
    if not ordered:
        return segments
    state, cause = EquipmentState.OFFLINE, None  # unknown until the first state signal
    context = Context(profile.equipment, profile.line)
    opened = last = as_utc(ordered[0].device_time)

    def close(until: datetime) -> None:
        if until > opened:
            segments.append((opened, until, state, cause, context))

    for signal in ordered:
        moment = as_utc(signal.device_time)
        if moment - last > profile.heartbeat_timeout:
            close(last)
            segments.append((last, moment, EquipmentState.OFFLINE, None, context))
            opened = moment
        new_state, new_cause, new_context = _apply(signal, state, cause, context)
        if (new_state, new_cause, new_context) != (state, cause, context):
            close(moment)
            opened = moment
            state, cause, context = new_state, new_cause, new_context
        last = moment
    if end - last > profile.heartbeat_timeout:
        close(last)
        segments.append((last, end, EquipmentState.OFFLINE, None, context))
    else:
        close(end)
    return segments


def _apply(
    signal: MachineSignal, state: EquipmentState, cause: str | None, context: Context
) -> tuple[EquipmentState, str | None, Context]:
    if isinstance(signal, StateSignal):
        return signal.state, signal.cause, context
    if isinstance(signal, ContextSignal):
        changed = replace(
            context, order=signal.order, operation=signal.operation, product=signal.product
        )
        return state, cause, changed
    return state, cause, context


def _mark_micro_stops(segments: Sequence[_Segment], threshold: timedelta) -> list[bool]:
    """Per segment: is it part of a stop shorter than the threshold? A stop is a run of
    touching down or idle segments, whatever their causes and context: a machine that
    cycles through fault codes, or changes product while stopped, has stopped once."""
    flags = [False] * len(segments)
    index = 0
    while index < len(segments):
        run_start, run_end, state, _, _ = segments[index]
        last = index
        while (
            state in STOPS
            and last + 1 < len(segments)
            and segments[last + 1][0] == run_end
            and segments[last + 1][2] in STOPS
        ):
            last += 1
            run_end = segments[last][1]
        if state in STOPS and run_end - run_start < threshold:
            flags[index : last + 1] = [True] * (last + 1 - index)
        index = last + 1
    return flags


def _clip(
    segments: Sequence[_Segment],
    micro: Sequence[bool],
    profile: EquipmentProfile,
    start: datetime,
    end: datetime,
) -> tuple[StateInterval, ...]:
    """The segments cut to [start, end); the time before the first segment is offline."""
    first = segments[0][0] if segments else end
    intervals: list[StateInterval] = []
    if first > start:
        context = Context(profile.equipment, profile.line)
        intervals.append(StateInterval(context, EquipmentState.OFFLINE, start, min(first, end)))
    for (seg_start, seg_end, state, cause, context), is_micro in zip(segments, micro, strict=True):
        lo, hi = max(seg_start, start), min(seg_end, end)
        if hi <= lo:
            continue
        previous = intervals[-1] if intervals else None
        if (
            previous is not None
            and previous.end == lo
            and (previous.state, previous.cause, previous.context) == (state, cause, context)
        ):
            intervals[-1] = replace(previous, end=hi)
            continue
        intervals.append(StateInterval(context, state, lo, hi, cause, micro_stop=is_micro))
    return tuple(intervals)
