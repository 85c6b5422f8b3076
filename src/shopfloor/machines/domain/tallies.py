"""One equipment's OEE tallies over a window, computed over arrays: the rules of `states`,
`planning`, `shifts` and `counters`, vectorised with numpy for recomputes of many
machine-days.

The object path (`derive_intervals`, `apply_context`, `apply_calendar`,
`overlay_recorded_stops`, `counter_increments`, `attribute_counts`) is the reference
definition, and what downtime detection and maintenance use. OEE needs less than its
intervals: the milliseconds per state and the counts per context. This module computes
exactly those sums without an object per interval, and is tested equal to the object path
on generated data (tests/unit/test_oee_tallies.py). Why the shortcuts hold:

- every rule makes a step function of time (state, offline, micro-stop, context, shift,
  break, recorded stop). The window is cut at every edge of every rule at once and each
  piece is read at its start; cutting a piece further never changes a sum, because
  durations are whole-millisecond differences of instants and telescope;
- at one instant the machine is in the last of its state signals in the order the object
  path sorts them (by value): the largest state code, codes following the alphabetical
  order of the values. Likewise for the context;
- the cause of a stop never changes a sum, so it is not carried.

Times are whole microseconds since 1970-01-01 UTC (int64), as stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.counters import (
    CounterKind,
    CounterSample,
    CounterSettings,
    CountTotals,
)
from shopfloor.machines.domain.planning import ContextSpan, RecordedStop
from shopfloor.machines.domain.shifts import ShiftWindow
from shopfloor.machines.domain.states import (
    Context,
    ContextSignal,
    EquipmentProfile,
    MachineSignal,
    StateSignal,
)
from shopfloor.machines.domain.steps import (
    OFFLINE,
    STATE_CODE,
    STATE_ORDER,
    CalendarSteps,
    Codes,
    ContextSteps,
    ContextValue,
    MachineSteps,
    Times,
    covered,
    epoch_us,
    periods,
    sums_table,
    unique,
)

__all__ = [
    "STATE_CODE",
    "STATE_ORDER",
    "TIME_FIELDS",
    "Codes",
    "EquipmentPlan",
    "EquipmentTally",
    "SignalArrays",
    "Times",
    "arrays_from_signals",
    "epoch_us",
    "tally_equipment",
]

TIME_FIELDS = (
    "running_ms",
    "micro_stop_ms",
    "down_ms",
    "idle_ms",
    "setup_ms",
    "planned_stop_ms",
    "offline_ms",
    "unscheduled_ms",
)
_FIELD = {name: index for index, name in enumerate(TIME_FIELDS)}
_FIELD_OF_STATE = np.array([_FIELD[f"{state.value}_ms"] for state in STATE_ORDER], dtype=np.int64)


@dataclass(frozen=True)
class SignalArrays:
    """One equipment's stored samples of a window and what carries into it, as the object
    path receives them: every sign of life (`alive`), the state signals (`state` codes of
    STATE_ORDER), the counter samples (whole values, none negative) and the context
    signals. Any order."""

    alive: Times
    state_t: Times
    state: Codes
    total_t: Times
    total: Times
    reject_t: Times
    reject: Times
    contexts: tuple[ContextSignal, ...] = ()


def arrays_from_signals(
    signals: Iterable[MachineSignal], counters: Iterable[CounterSample]
) -> SignalArrays:
    """The arrays of domain signals and counter samples (the signs of life are the
    signals, as for `derive_intervals`; the counter samples pass as they are)."""
    received = list(signals)
    states = [s for s in received if isinstance(s, StateSignal)]
    samples = list(counters)

    def times(items: Iterable[MachineSignal | CounterSample]) -> Times:
        return np.array([epoch_us(s.device_time) for s in items], dtype=np.int64)

    def series(kind: CounterKind) -> tuple[Times, Times]:
        chosen = [s for s in samples if s.counter is kind]
        return times(chosen), np.array([s.value for s in chosen], dtype=np.int64)

    total_t, total = series(CounterKind.TOTAL)
    reject_t, reject = series(CounterKind.REJECT)
    return SignalArrays(
        alive=times(received),
        state_t=times(states),
        state=np.array([STATE_CODE[s.state] for s in states], dtype=np.int8),
        total_t=total_t,
        total=total,
        reject_t=reject_t,
        reject=reject,
        contexts=tuple(s for s in received if isinstance(s, ContextSignal)),
    )


@dataclass(frozen=True)
class EquipmentPlan:
    """What the plant says about the window: the shift occurrences with their breaks and
    planned stops, the stops recorded by hand, the execution spans (used when the machine
    reports no context), and the counter settings. `calendar` is `windows` as steps, when
    the caller built them once for every equipment of one calendar."""

    windows: Sequence[ShiftWindow]
    recorded: Sequence[RecordedStop] = ()
    spans: Sequence[ContextSpan] = ()
    counters: CounterSettings = field(default_factory=CounterSettings)
    calendar: CalendarSteps | None = None


@dataclass(frozen=True)
class EquipmentTally:
    """Milliseconds per time field (every one of TIME_FIELDS, 0 included) and counts,
    each per context."""

    times: dict[Context, dict[str, int]]
    counts: dict[Context, CountTotals]


def tally_equipment(
    signals: SignalArrays,
    profile: EquipmentProfile,
    start: datetime,
    end: datetime,
    plan: EquipmentPlan,
) -> EquipmentTally:
    """The time and counts of one equipment over [start, end) per context, equal to
    what the object path gives for the same signals and plan."""
    lo, hi = epoch_us(start), epoch_us(end)
    if hi <= lo:
        raise RuleViolation(f"{profile.equipment}: the window must end after it starts")
    machine = MachineSteps.build(signals.alive, signals.state_t, signals.state, profile, hi)
    contexts = ContextSteps.build(signals.contexts, hi, plan.spans)
    calendar = plan.calendar if plan.calendar is not None else CalendarSteps.build(plan.windows)
    recorded = periods(plan.recorded)
    edges = [np.array([lo, hi], dtype=np.int64), machine.edges, contexts.all_edges]
    edges += [calendar.edges, recorded[0], recorded[1]]
    cuts = unique(np.concatenate(edges))
    cuts = cuts[np.searchsorted(cuts, lo) : np.searchsorted(cuts, hi, side="right")]
    starts = cuts[:-1]
    durations = cuts[1:] // 1000 - starts // 1000
    state, micro = machine.at(starts)
    window, in_break = calendar.at(starts)
    spent_as = _FIELD_OF_STATE[state]  # the time field of each piece
    spent_as[micro] = _FIELD["micro_stop_ms"]
    spent_as[(state == OFFLINE) & covered(recorded, starts) & ~in_break] = _FIELD["down_ms"]
    spent_as[in_break] = _FIELD["planned_stop_ms"]
    spent_as[window < 0] = _FIELD["unscheduled_ms"]
    keys = contexts.at(starts) * (len(calendar.windows) + 1) + (window + 1)
    present, table = sums_table(keys, spent_as, durations, len(TIME_FIELDS))
    present_keys = present.tolist()
    counted = _counts(signals, profile, plan.counters, cuts, keys)
    made = {  # each context once, for its times and its counts
        key: _context(key, profile, contexts.values, calendar.windows)
        for key in {*present_keys, *counted}
        if key >= 0
    }
    made[-1] = Context(profile.equipment)
    times = {
        made[key]: dict(zip(TIME_FIELDS, row, strict=True))
        for key, row in zip(present_keys, table.tolist(), strict=True)
    }
    return EquipmentTally(times, {made[key]: totals for key, totals in counted.items()})


def _context(
    key: int,
    profile: EquipmentProfile,
    values: Sequence[ContextValue],
    windows: Sequence[ShiftWindow],
) -> Context:
    value, window = divmod(key, len(windows) + 1)
    order, operation, product = values[value]
    shift, day = None, None
    if window > 0:
        shift, day = windows[window - 1].shift, windows[window - 1].production_day
    return Context(profile.equipment, profile.line, order, operation, product, shift, day)


def _increments(
    moments: Times, values: Times, settings: CounterSettings, label: str
) -> tuple[Times, Times]:
    """(revealed at, amount) between consecutive samples, as `counter_increments`."""
    if moments.size > 1 and bool((moments[1:] < moments[:-1]).any()):
        order = np.argsort(moments, kind="stable")
        moments, values = moments[order], values[order]
    modulus = settings.modulus
    if modulus is not None and values.size and int(values.max()) >= modulus:
        value = int(values[np.argmax(values >= modulus)])
        raise RuleViolation(f"{label} counter value {value} is out of range")
    amount = np.diff(values)
    fell = amount < 0
    if modulus is not None and settings.rollover_limit is not None:
        wrapped = values[1:] + modulus - values[:-1]
        amount = np.where(fell & (wrapped <= settings.rollover_limit), wrapped, amount)
        fell &= amount < 0
    amount = np.where(fell, values[1:], amount)
    return moments[1:], amount


def _counts(
    signals: SignalArrays,
    profile: EquipmentProfile,
    settings: CounterSettings,
    cuts: Times,
    keys: npt.NDArray[np.int64],
) -> dict[int, CountTotals]:
    """Counts per piece key (-1: revealed at or before the window start, or after its end,
    where the object path finds no interval), each increment in the piece holding the
    instant just before its sample: piece p (from cuts[p] to cuts[p + 1]) holds those
    revealed after cuts[p] and at or before cuts[p + 1]."""
    series = ((signals.total_t, signals.total), (signals.reject_t, signals.reject))
    per_piece, outside = [], []
    for column, (moments, values) in enumerate(series):
        label = f"{profile.equipment} {tuple(CounterKind)[column]}"
        revealed, amount = _increments(moments, values, settings, label)
        running = np.zeros(amount.size + 1, dtype=np.int64)
        np.cumsum(amount, out=running[1:])  # wraps around; its differences stay exact
        at = running[np.searchsorted(revealed, cuts, side="right")]
        per_piece.append(np.diff(at))
        outside.append(int(at[0] + running[-1] - at[-1]))
    columns = np.repeat(np.arange(2, dtype=np.int64), keys.size)
    present, table = sums_table(np.concatenate((keys, keys)), columns, np.concatenate(per_piece), 2)
    sums = {
        key: CountTotals(total, reject)
        for key, (total, reject) in zip(present.tolist(), table.tolist(), strict=True)
        if total or reject
    }
    if any(outside):
        sums[-1] = CountTotals(*outside)
    return sums
