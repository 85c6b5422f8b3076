"""Machine rules, pure (standard library and `shopfloor.kernel` only; numpy for the arrays).

- `states`: equipment states and the state intervals derived from machine signals
  (ordering, duplicates, clock skew, offline gaps, micro-stops);
- `shifts`: the shift calendar laid over the intervals (shift and break edges, planned stops);
- `counters`: cumulative counters to counts (resets, rollovers), attributed to context;
- `oee`: OEE primitives that add up, the figures, the six big losses and TEEP;
- `tallies` (with `steps`): the same rules over arrays, summing only what OEE needs — how
  months of samples are recomputed; tested equal to the interval path;
- `downtime`: downtime events, their classification, splitting, merging and Pareto.
"""

from shopfloor.machines.domain.counters import (
    CounterIncrement,
    CounterKind,
    CounterReport,
    CounterSample,
    CounterSettings,
    CountTotals,
    ProductionCount,
    attribute_counts,
    count_totals,
    counter_increments,
    counts_per_minute,
)
from shopfloor.machines.domain.downtime import (
    DowntimeEvent,
    DowntimeReason,
    ParetoBar,
    classify,
    downtime_candidates,
    merge_events,
    pareto,
    split_event,
)
from shopfloor.machines.domain.oee import (
    GROUPINGS,
    OeeFigures,
    OeePrimitives,
    SixBigLosses,
    as_percent,
    oee_by,
    oee_figures,
    primitives_by,
    total,
)
from shopfloor.machines.domain.shifts import (
    PlannedBreak,
    ShiftWindow,
    apply_calendar,
    expand_shifts,
)
from shopfloor.machines.domain.states import (
    Context,
    ContextSignal,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    IdleCause,
    MachineSignal,
    SignalReport,
    SkewFinding,
    StateInterval,
    StateSignal,
    Timeline,
    derive_intervals,
)

__all__ = [
    "GROUPINGS",
    "Context",
    "ContextSignal",
    "CountTotals",
    "CounterIncrement",
    "CounterKind",
    "CounterReport",
    "CounterSample",
    "CounterSettings",
    "DowntimeEvent",
    "DowntimeReason",
    "EquipmentProfile",
    "EquipmentState",
    "Heartbeat",
    "IdleCause",
    "MachineSignal",
    "OeeFigures",
    "OeePrimitives",
    "ParetoBar",
    "PlannedBreak",
    "ProductionCount",
    "ShiftWindow",
    "SignalReport",
    "SixBigLosses",
    "SkewFinding",
    "StateInterval",
    "StateSignal",
    "Timeline",
    "apply_calendar",
    "as_percent",
    "attribute_counts",
    "classify",
    "count_totals",
    "counter_increments",
    "counts_per_minute",
    "derive_intervals",
    "downtime_candidates",
    "expand_shifts",
    "merge_events",
    "oee_by",
    "oee_figures",
    "pareto",
    "primitives_by",
    "split_event",
    "total",
]
