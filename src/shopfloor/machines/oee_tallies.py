"""Each equipment's OEE tallies recomputed from what is stored, over arrays.

The same inputs as `timelines.equipment_timelines` — the machine's stored samples, the
shift calendar, planned stops (maintenance, stops classified with a planned reason), stops
recorded by hand, execution spans, counter settings and ideal cycle times — and the same
rules, but tallied by `domain.tallies` (milliseconds per state and counts per context)
instead of laid out as one object per interval: what `oee_queries.oee` needs to recompute
months of per-minute samples. Nothing is cached here either.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from shopfloor.machines.domain import ContextSignal, CounterSettings, PlannedBreak, ShiftWindow
from shopfloor.machines.domain.planning import ContextSpan, RecordedStop, with_planned_stops
from shopfloor.machines.domain.steps import CalendarSteps
from shopfloor.machines.domain.tallies import EquipmentPlan, EquipmentTally, tally_equipment
from shopfloor.machines.signal_arrays import signal_arrays
from shopfloor.machines.signals_queries import equipment_ids, equipment_profiles, equipment_tree
from shopfloor.machines.timelines import (
    CycleKey,
    check_window,
    counter_settings_of,
    equipment_nodes,
    execution_spans,
    ideal_cycles,
    recorded_downtime,
    shift_windows,
)


@dataclass(frozen=True)
class TalliedEquipment:
    """One equipment's tallies over a window, with the ideal cycle time (seconds per
    piece, None when unknown) of every order/operation/product it counted for."""

    equipment: str
    equipment_id: int
    tally: EquipmentTally
    ideal_cycle_s: Mapping[CycleKey, Decimal | None]


def equipment_tallies(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
) -> Generator[TalliedEquipment, None, None]:
    """The tallies of [start, end) of the given equipment (default: every equipment that
    ever sent data), each as soon as it is done, in any order (the samples of the next
    equipment are read on a thread meanwhile). The ideal cycle times are read first, for
    every order, operation and product an equipment can count for in the window. The
    session must not be used until the iterator is done."""
    start, end = check_window(start, end)
    tree = equipment_tree(session)
    ids = equipment_ids(session, tree, equipment_codes)
    if not ids:
        return
    profiles = equipment_profiles(session, ids, tree)
    by_code = {profiles[i].equipment: i for i in ids}
    windows = shift_windows(session, equipment_nodes(session), by_code, start, end)
    planned, recorded = recorded_downtime(session, by_code, start, end)
    spans = execution_spans(session, by_code, start, end)
    moduli = counter_settings_of(session, ids)
    reading = signal_arrays(session, profiles, start, end)
    cycles = ideal_cycles(
        session,
        {(i, key) for i in ids for key in _contexts_of(reading.contexts[i], spans.get(i, ()))},
    )
    plans = _plans(ids, windows, planned, recorded, spans, moduli)

    for i, arrays in reading.arrays:
        tally = tally_equipment(arrays, profiles[i], start, end, plans[i])
        yield TalliedEquipment(profiles[i].equipment, i, tally, cycles.get(i, {}))


_Calendars = dict[int, tuple[tuple[ShiftWindow, ...], CalendarSteps]]


def _plans(
    ids: Sequence[int],
    windows: Mapping[int, tuple[ShiftWindow, ...]],
    planned: Mapping[int, Sequence[PlannedBreak]],
    recorded: Mapping[int, Sequence[RecordedStop]],
    spans: Mapping[int, Sequence[ContextSpan]],
    moduli: Mapping[int, CounterSettings],
) -> dict[int, EquipmentPlan]:
    """Each equipment's plan; the equipment of one calendar without planned stops share
    its shift windows, laid out as steps once."""
    calendars: _Calendars = {}  # by the identity of a calendar's windows
    plans = {}
    for i in ids:
        placed = with_planned_stops(windows[i], planned[i]) if planned.get(i) else windows[i]
        shared = calendars.get(id(placed))
        if shared is None or shared[0] is not placed:
            shared = calendars[id(placed)] = (placed, CalendarSteps.build(placed))
        plans[i] = EquipmentPlan(
            windows=placed,
            recorded=recorded.get(i, []),
            spans=spans.get(i, ()),
            counters=moduli.get(i, CounterSettings()),
            calendar=shared[1],
        )
    return plans


def _contexts_of(signals: Sequence[ContextSignal], spans: Sequence[ContextSpan]) -> set[CycleKey]:
    """Every order/operation/product the equipment can count for in the window (its
    ideal cycle times are read before the counting starts): those of its context signals
    and execution spans, and none."""
    found: set[CycleKey] = {(None, None, None)}
    found.update((s.order, s.operation, s.product) for s in signals)
    found.update((s.order, s.operation, s.product) for s in spans)
    return found
