"""Each equipment's OEE tallies recomputed from what is stored, over arrays.

The same inputs as `timelines.equipment_timelines` — the machine's stored samples, the
shift calendar, planned stops (maintenance, stops classified with a planned reason), stops
recorded by hand, execution spans, counter settings and ideal cycle times — and the same
rules, but tallied by `domain.tallies` (milliseconds per state and counts per context)
instead of laid out as one object per interval: what `oee_queries.oee` needs to recompute
months of per-minute samples. Nothing is cached here either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from shopfloor.machines.domain import CounterSettings
from shopfloor.machines.domain.planning import with_planned_stops
from shopfloor.machines.domain.tallies import EquipmentPlan, EquipmentTally, tally_equipment
from shopfloor.machines.signal_arrays import signal_arrays
from shopfloor.machines.signals_queries import equipment_ids, equipment_profiles, equipment_tree
from shopfloor.machines.timelines import (
    CycleKey,
    check_window,
    counter_settings_of,
    cycle_key,
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
) -> list[TalliedEquipment]:
    """The tallies of [start, end) of the given equipment (default: every equipment that
    ever sent data), in the order given (default: by code)."""
    start, end = check_window(start, end)
    tree = equipment_tree(session)
    ids = equipment_ids(session, tree, equipment_codes)
    if not ids:
        return []
    profiles = equipment_profiles(session, ids, tree)
    by_code = {profiles[i].equipment: i for i in ids}
    windows = shift_windows(session, equipment_nodes(session), by_code, start, end)
    planned, recorded = recorded_downtime(session, by_code, start, end)
    spans = execution_spans(session, by_code, start, end)
    moduli = counter_settings_of(session, ids)
    tallies = []
    for i, arrays in signal_arrays(session, profiles, start, end):
        plan = EquipmentPlan(
            windows=with_planned_stops(windows[i], planned.get(i, [])),
            recorded=recorded.get(i, []),
            spans=spans.get(i, ()),
            counters=moduli.get(i, CounterSettings()),
        )
        tallies.append((i, tally_equipment(arrays, profiles[i], start, end, plan)))
    tallies.sort(key=lambda pair: ids.index(pair[0]))
    cycles = ideal_cycles(session, {(i, cycle_key(c)) for i, t in tallies for c in t.counts})
    return [
        TalliedEquipment(profiles[i].equipment, i, tally, cycles.get(i, {})) for i, tally in tallies
    ]
