"""Each equipment's OEE tallies recomputed from what is stored, over arrays.

The same inputs as `timelines.equipment_timelines` — the machine's stored samples, the
shift calendar, planned stops (maintenance, stops classified with a planned reason), stops
recorded by hand, execution spans, counter settings and ideal cycle times — and the same
rules, but tallied by `domain.tallies` (milliseconds per state and counts per context)
instead of laid out as one object per interval: what `oee_queries.oee` needs to recompute
months of per-minute samples. Nothing is cached here either.

The tallies are then added up per group (equipment, line, shift, product, order, day):
milliseconds, counts and ideal times, plain ints and exact Decimals that add up in any
order, so the equipment can be tallied a chunk at a time, in this process or in a worker
process (`oee_parallel`), and the chunks' sums added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Generator, Hashable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from sqlalchemy.orm import Session

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    GROUPINGS,
    Context,
    ContextSignal,
    CounterSettings,
    EquipmentProfile,
    PlannedBreak,
    ProductionCount,
    ShiftWindow,
)
from shopfloor.machines.domain.oee import PRECISION, add_counts
from shopfloor.machines.domain.planning import ContextSpan, RecordedStop, with_planned_stops
from shopfloor.machines.domain.steps import CalendarSteps
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

GroupKey = tuple[Hashable, ...]
Tally = dict[str, int | Decimal]  # primitives by name, summed
GroupTallies = dict[GroupKey, Tally]


@dataclass(frozen=True)
class TalliedEquipment:
    """One equipment's tallies over a window, with the ideal cycle time (seconds per
    piece, None when unknown) of every order/operation/product it counted for."""

    equipment: str
    equipment_id: int
    tally: EquipmentTally
    ideal_cycle_s: Mapping[CycleKey, Decimal | None]


@dataclass(frozen=True)
class PlantWindow:
    """What the plant says about a window for some equipment, read once: each one's
    profile, execution spans and plan (shift windows with their breaks and planned stops,
    recorded stops, counter settings); `ids` in the order asked for."""

    start: datetime
    end: datetime
    ids: tuple[int, ...]
    by_code: Mapping[str, int]
    profiles: Mapping[int, EquipmentProfile]
    spans: Mapping[int, Sequence[ContextSpan]]
    plans: Mapping[int, EquipmentPlan]


def plant_window(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
) -> PlantWindow:
    """The plant's side of [start, end) for the given equipment (default: every equipment
    that ever sent data)."""
    start, end = check_window(start, end)
    tree = equipment_tree(session)
    ids = equipment_ids(session, tree, equipment_codes)
    profiles = equipment_profiles(session, ids, tree) if ids else {}
    by_code = {profiles[i].equipment: i for i in ids}
    windows = shift_windows(session, equipment_nodes(session), by_code, start, end)
    planned, recorded = recorded_downtime(session, by_code, start, end)
    spans = execution_spans(session, by_code, start, end)
    moduli = counter_settings_of(session, ids)
    plans = _plans(ids, windows, planned, recorded, spans, moduli)
    return PlantWindow(start, end, tuple(ids), by_code, profiles, spans, plans)


def equipment_tallies(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    equipment_codes: Sequence[str] | None = None,
    read_ahead: bool = True,
) -> Generator[TalliedEquipment, None, None]:
    """The tallies of [start, end) of the given equipment (default: every equipment that
    ever sent data), each as soon as it is done, in any order (with `read_ahead`, the
    samples of the next equipment are read on a thread meanwhile). The ideal cycle times
    are read first, for every order, operation and product an equipment can count for in
    the window. The session must not be used until the iterator is done."""
    plant = plant_window(session, start=start, end=end, equipment_codes=equipment_codes)
    yield from tallies_of(session, plant, plant.ids, read_ahead=read_ahead)


def tallies_of(
    session: Session, plant: PlantWindow, ids: Sequence[int], *, read_ahead: bool = True
) -> Generator[TalliedEquipment, None, None]:
    """`equipment_tallies` of some of the plant window's equipment."""
    if not ids:
        return
    profiles = {i: plant.profiles[i] for i in ids}
    reading = signal_arrays(session, profiles, plant.start, plant.end, read_ahead=read_ahead)
    spans = plant.spans
    cycles = ideal_cycles(
        session,
        {(i, key) for i in ids for key in _contexts_of(reading.contexts[i], spans.get(i, ()))},
    )
    for i, arrays in reading.arrays:
        tally = tally_equipment(arrays, profiles[i], plant.start, plant.end, plant.plans[i])
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


def grouping_of(keys: Sequence[str]) -> Callable[[Context], GroupKey]:
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


def new_tallies() -> GroupTallies:
    """Per-group tallies that start at zero (a group's counts may come before its times)."""
    return defaultdict(lambda: defaultdict(int))


def add_equipment(
    tallies: GroupTallies,
    tallied: TalliedEquipment,
    grouping: Callable[[Context], GroupKey],
    start: datetime,
) -> set[GroupKey]:
    """Add one equipment's primitives to the per-group tallies (`new_tallies`): its times,
    and its counts each valued at the ideal cycle time of the order operation (or
    product) it was counted for. Returns the groups it added to."""
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


def chunk_tallies(
    session: Session, plant: PlantWindow, keys: Sequence[str], equipment_codes: Sequence[str]
) -> dict[GroupKey, Tally]:
    """The tallies of some of the plant window's equipment added up per group of `keys`,
    as plain dicts: what each process of a parallel recompute (`oee_parallel`) hands in.
    It reads without a thread: the other cores are busy with the other processes."""
    grouping = grouping_of(keys)
    tallies = new_tallies()
    ids = [plant.by_code[code] for code in equipment_codes]
    done = tallies_of(session, plant, ids, read_ahead=False)
    with closing(done):  # stops at once if a rule refuses
        for tallied in done:
            add_equipment(tallies, tallied, grouping, plant.start)
    return {group: dict(tally) for group, tally in tallies.items()}


def add_tallies(tallies: GroupTallies, chunk: Mapping[GroupKey, Tally]) -> None:
    """Add a chunk's per-group tallies (`chunk_tallies`) to `tallies` (`new_tallies`).
    Whole milliseconds and counts add exactly; so do the ideal times, exact Decimals far
    below 28 digits, so the sums are the same Decimals whatever the order of the chunks."""
    with localcontext(prec=PRECISION):
        for group, tally in chunk.items():
            mine = tallies.get(group)
            if mine is None:
                tallies[group] = defaultdict(int, tally)
                continue
            for name, amount in tally.items():
                mine[name] += amount
