"""Step functions of time over arrays, for `tallies`: the machine's state and micro-stops,
its context, and the shift calendar, each as sorted edges with a value from each edge on.
Times are whole microseconds since 1970-01-01 UTC (int64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from shopfloor.kernel.clock import as_utc
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain.planning import ContextSpan, RecordedStop
from shopfloor.machines.domain.shifts import ShiftWindow
from shopfloor.machines.domain.states import ContextSignal, EquipmentProfile, EquipmentState

Times = npt.NDArray[np.int64]
Codes = npt.NDArray[np.int8]
Flags = npt.NDArray[np.bool_]
ContextValue = tuple[str | None, str | None, str | None]  # order, operation, product
_NO_CONTEXT: ContextValue = (None, None, None)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
STATE_ORDER: tuple[EquipmentState, ...] = tuple(sorted(EquipmentState, key=lambda s: s.value))
STATE_CODE = {state: code for code, state in enumerate(STATE_ORDER)}
OFFLINE = STATE_CODE[EquipmentState.OFFLINE]
_STOPS = (STATE_CODE[EquipmentState.DOWN], STATE_CODE[EquipmentState.IDLE])


def epoch_us(moment: datetime) -> int:
    """An instant as whole microseconds since 1970-01-01 UTC."""
    return (as_utc(moment) - EPOCH) // _US


def unique(moments: Times) -> Times:
    """The distinct instants, ascending (a stable sort merges the sorted runs the
    samples of each metric come in)."""
    ordered: Times = np.sort(moments, kind="stable")
    if ordered.size < 2:
        return ordered
    distinct: Times = ordered[np.append(True, ordered[1:] != ordered[:-1])]
    return distinct


def sums_table(
    rows: npt.NDArray[np.int64], columns: npt.NDArray[np.int64], weights: Times, width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The sum of `weights` per (row, column) — row labels small integers >= 0, columns
    below `width` — for every row label that occurs: (those labels ascending, their sums
    as a table of `width` columns)."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, width), dtype=np.int64)
    present = np.flatnonzero(np.bincount(rows))
    cells = rows * width + columns
    size = (int(present[-1]) + 1) * width
    sums = np.bincount(cells, weights=weights, minlength=size)  # exact below 2**53
    if float(np.abs(sums).max()) >= 2.0**53:
        exact = np.zeros(size, dtype=np.int64)
        np.add.at(exact, cells, weights)
        return present, exact.reshape(-1, width)[present]
    return present, sums.astype(np.int64).reshape(-1, width)[present]


def _empty() -> Times:
    return np.zeros(0, dtype=np.int64)


def covering(starts: Times, ends: Times, at: Times) -> npt.NDArray[np.int64]:
    """Per instant: the index of the period (sorted by start) whose start is the last at
    or before it, when the instant is before that period's end; else -1 — as
    `planning._covering` and `shifts._place` look periods up."""
    index = np.searchsorted(starts, at, side="right") - 1
    inside = index >= 0
    inside[inside] = at[inside] < ends[index[inside]]
    return np.where(inside, index, -1)


def periods(stops: Sequence[RecordedStop]) -> tuple[Times, Times]:
    ordered = sorted(stops, key=lambda s: as_utc(s.start))
    return (
        np.array([epoch_us(s.start) for s in ordered], dtype=np.int64),
        np.array([epoch_us(s.end) for s in ordered], dtype=np.int64),
    )


def covered(periods: tuple[Times, Times], at: Times) -> Flags:
    return covering(periods[0], periods[1], at) >= 0


@dataclass(frozen=True)
class MachineSteps:
    """The machine's own timeline from its first sign of life: state (offline in gaps
    longer than the heartbeat timeout and after the last sign of life once it passed) and
    micro-stop flags, as steps starting at `edges`."""

    first: int
    edges: Times
    state: Codes
    micro: Flags

    @classmethod
    def build(
        cls, alive: Times, state_t: Times, state: Codes, profile: EquipmentProfile, end: int
    ) -> MachineSteps:
        alive = unique(alive)
        alive = alive[alive < end]  # signals at or after the end are ignored
        if alive.size == 0:
            return cls(end, _empty(), np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.bool_))
        timeout = profile.heartbeat_timeout // _US
        gaps = np.flatnonzero(np.diff(alive) > timeout)
        off_start, off_end = alive[gaps], alive[gaps + 1]
        if end - int(alive[-1]) > timeout:
            off_start = np.append(off_start, alive[-1])
            off_end = np.append(off_end, end)
        before = state_t < end
        state_t, state = last_per_instant(state_t[before], state[before])
        edges = unique(np.concatenate((alive[:1], state_t, off_start, off_end)))
        edges = edges[edges < end]
        states = np.full(edges.size, OFFLINE, dtype=np.int8)
        index = np.searchsorted(state_t, edges, side="right") - 1
        states[index >= 0] = state[index[index >= 0]]
        states[covering(off_start, off_end, edges) >= 0] = OFFLINE
        stop = (states == _STOPS[0]) | (states == _STOPS[1])
        bounds = np.append(edges, end)
        step = np.diff(np.concatenate(([0], stop.astype(np.int8), [0])))
        run_start, run_end = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
        short = bounds[run_end] - bounds[run_start] < profile.micro_stop_threshold // _US
        marks = np.zeros(edges.size + 1, dtype=np.int64)
        marks[run_start[short]] += 1
        marks[run_end[short]] -= 1
        micro = np.cumsum(marks)[:-1] > 0
        return cls(int(alive[0]), edges, states, micro)

    def at(self, moments: Times) -> tuple[Codes, Flags]:
        """State and micro-stop flag at each instant (offline before the first sign)."""
        index = np.searchsorted(self.edges, moments, side="right") - 1
        known = index >= 0
        state = np.full(moments.size, OFFLINE, dtype=np.int8)
        micro = np.zeros(moments.size, dtype=np.bool_)
        state[known] = self.state[index[known]]
        micro[known] = self.micro[index[known]]
        return state, micro


def last_per_instant(moments: Times, codes: Codes) -> tuple[Times, Codes]:
    """The largest code at each instant, instants ascending."""
    if moments.size == 0:
        return moments, codes
    if bool((moments[1:] > moments[:-1]).all()):  # one state each instant, in order already
        return moments, codes
    order = np.lexsort((codes, moments))
    moments, codes = moments[order], codes[order]
    last = np.append(moments[1:] != moments[:-1], True)
    return moments[last], codes[last]


@dataclass(frozen=True)
class ContextSteps:
    """Order, operation and product as steps: the machine's context signals, or — when it
    reports none — the execution spans. `values[0]` is no context."""

    edges: Times
    ids: npt.NDArray[np.int64]
    values: list[ContextValue]
    span_ends: Times | None

    @classmethod
    def build(
        cls, signals: Sequence[ContextSignal], end: int, spans: Sequence[ContextSpan]
    ) -> ContextSteps:
        known: dict[ContextValue, int] = {_NO_CONTEXT: 0}

        def ident(value: ContextValue) -> int:
            return known.setdefault(value, len(known))

        if signals:
            kept: dict[int, tuple[tuple[str, str, str], ContextValue]] = {}
            for signal in signals:  # the object path keeps the last in sorted order
                moment = epoch_us(signal.device_time)
                if moment >= end:
                    continue
                order = (signal.order or "", signal.operation or "", signal.product or "")
                if moment not in kept or order > kept[moment][0]:
                    kept[moment] = (order, (signal.order, signal.operation, signal.product))
            moments = sorted(kept)
            ids = [ident(kept[m][1]) for m in moments]
            edges = np.array(moments, dtype=np.int64)
            return cls(edges, np.array(ids, dtype=np.int64), list(known), None)
        ordered = sorted(spans, key=lambda s: as_utc(s.start))
        starts = np.array([epoch_us(s.start) for s in ordered], dtype=np.int64)
        ends = np.array([epoch_us(s.end) for s in ordered], dtype=np.int64)
        ids = [ident((s.order, s.operation, s.product)) for s in ordered]
        return cls(starts, np.array(ids, dtype=np.int64), list(known), ends)

    def at(self, moments: Times) -> npt.NDArray[np.int64]:
        if self.span_ends is None:
            index = np.searchsorted(self.edges, moments, side="right") - 1
        else:
            index = covering(self.edges, self.span_ends, moments)
        found = np.zeros(moments.size, dtype=np.int64)
        found[index >= 0] = self.ids[index[index >= 0]]
        return found

    @property
    def all_edges(self) -> Times:
        return self.edges if self.span_ends is None else np.append(self.edges, self.span_ends)


@dataclass(frozen=True)
class CalendarSteps:
    """Shift occurrences (sorted, not overlapping) and their breaks."""

    windows: list[ShiftWindow]
    starts: Times
    ends: Times
    breaks: tuple[Times, Times]
    edges: Times

    @classmethod
    def build(cls, shifts: Sequence[ShiftWindow]) -> CalendarSteps:
        windows = sorted(shifts, key=lambda w: as_utc(w.start))
        for earlier, later in pairwise(windows):
            if as_utc(later.start) < as_utc(earlier.end):
                raise RuleViolation(
                    f"shift {earlier.shift} on {earlier.production_day} overlaps shift "
                    f"{later.shift} on {later.production_day}"
                )
        pauses = sorted((b for w in windows for b in w.breaks), key=lambda b: as_utc(b.start))
        starts = np.array([epoch_us(w.start) for w in windows], dtype=np.int64)
        ends = np.array([epoch_us(w.end) for w in windows], dtype=np.int64)
        breaks = (
            np.array([epoch_us(b.start) for b in pauses], dtype=np.int64),
            np.array([epoch_us(b.end) for b in pauses], dtype=np.int64),
        )
        edges = np.concatenate((starts, ends, *breaks))
        return cls(windows, starts, ends, breaks, edges)

    def at(self, moments: Times) -> tuple[npt.NDArray[np.int64], Flags]:
        """Per instant: the index of its shift occurrence (-1 outside every shift) and
        whether it is in a planned break."""
        return covering(self.starts, self.ends, moments), covered(self.breaks, moments)
