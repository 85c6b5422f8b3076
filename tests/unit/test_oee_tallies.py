"""The array tallies (`machines.domain.tallies`) equal the object path they vectorise.

The object path — `derive_intervals`, `apply_context`, `apply_calendar`,
`overlay_recorded_stops`, `counter_increments`, `attribute_counts` — is the reference. For
generated machines (ties, duplicates, out-of-order delivery, gaps, micro-stops across
shift changes and breaks, counter resets and rollovers, carry-in before the window,
sub-millisecond instants, planned and recorded stops, execution spans) both must give the
same milliseconds per time field and the same counts, per context.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    ContextSignal,
    CounterKind,
    CounterSample,
    CounterSettings,
    CountTotals,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    PlannedBreak,
    ShiftWindow,
    StateSignal,
    apply_calendar,
    attribute_counts,
    counter_increments,
    derive_intervals,
    primitives_by,
)
from shopfloor.machines.domain.planning import (
    ContextSpan,
    RecordedStop,
    apply_context,
    overlay_recorded_stops,
    with_planned_stops,
)
from shopfloor.machines.domain.tallies import (
    EquipmentPlan,
    arrays_from_signals,
    tally_equipment,
)

EQ = "press-1"
BASE = datetime(2024, 5, 6, tzinfo=UTC)
DAY = date(2024, 5, 6)
STATES = ["running", "running", "down:jam", "down:fault", "idle:starved", "setup", "offline",
          "planned_stop"]  # fmt: skip
CONTEXTS = [("PO-1", "10", "A"), ("PO-1", "20", "A"), (None, None, "B"), (None, None, None)]


def moment(seconds: int, micro: int = 0) -> datetime:
    return BASE + timedelta(seconds=seconds, microseconds=micro)


def reference(signals, counters, profile, start, end, plan):
    timeline = derive_intervals(signals, profile, start, end)
    intervals = timeline.intervals
    if not any(isinstance(s, ContextSignal) for s in signals):
        intervals = apply_context(intervals, plan.spans)
    placed = apply_calendar(intervals, plan.windows)
    placed = overlay_recorded_stops(placed, plan.recorded)
    times = primitives_by(placed, (), {}, lambda c: c)
    report = counter_increments(counters, plan.counters)
    counts: dict = defaultdict(CountTotals)
    for count in attribute_counts(report.increments, placed):
        if count.counts.total or count.counts.reject:
            counts[count.context] += count.counts
    return times, dict(counts)


def arrays(signals, counters, profile, start, end, plan):
    tally = tally_equipment(arrays_from_signals(signals, counters), profile, start, end, plan)
    return tally.times, tally.counts


def as_plain(tally_times):
    return {
        context: {name: values.get(name, 0) for name in FIELD_NAMES}
        for context, values in tally_times.items()
    }


FIELD_NAMES = ("running_ms", "micro_stop_ms", "down_ms", "idle_ms", "setup_ms",
               "planned_stop_ms", "offline_ms", "unscheduled_ms")  # fmt: skip


def check(signals, counters, profile, start, end, plan):
    want_times, want_counts = reference(signals, counters, profile, start, end, plan)
    got_times, got_counts = arrays(signals, counters, profile, start, end, plan)
    want = {
        context: {name: getattr(p, name) for name in FIELD_NAMES}
        for context, p in want_times.items()
    }
    assert as_plain(got_times) == want
    assert got_counts == want_counts


instants = st.tuples(
    st.integers(-3 * 3600, 20 * 3600).map(lambda s: s - s % 10),
    st.sampled_from([0, 0, 0, 400, 999, 1500]),
)


@st.composite
def machines(draw):
    signals = []
    for seconds, micro in draw(st.lists(instants, max_size=60)):
        kind = draw(st.sampled_from(["state", "state", "heartbeat", "context"]))
        at = moment(seconds, micro)
        if kind == "state":
            name, _, cause = draw(st.sampled_from(STATES)).partition(":")
            signals.append(StateSignal(EQ, at, EquipmentState(name), cause or None))
        elif kind == "context":
            signals.append(ContextSignal(EQ, at, *draw(st.sampled_from(CONTEXTS))))
        else:
            signals.append(Heartbeat(EQ, at))
    if signals and draw(st.booleans()):
        signals.append(signals[draw(st.integers(0, len(signals) - 1))])  # a re-delivery
    counters = []
    modulus = draw(st.sampled_from([None, None, 1000]))
    for kind in CounterKind:
        times = draw(st.lists(instants, max_size=30, unique=True))
        for seconds, micro in times:
            value = draw(st.integers(0, (modulus or 5000) - 1))
            counters.append(CounterSample(EQ, kind, moment(seconds, micro), value))
    return signals, counters, CounterSettings(modulus=modulus)


@st.composite
def plans(draw):
    pause = 8 * 3600 + draw(st.integers(0, 400)) * 10
    windows = [
        ShiftWindow("A", moment(6 * 3600), moment(14 * 3600), DAY,
                    (PlannedBreak(moment(pause), moment(pause + 900)),)),
        ShiftWindow("B", moment(14 * 3600), moment(22 * 3600), DAY),
    ]  # fmt: skip
    if draw(st.booleans()):
        windows.append(ShiftWindow("N", moment(-2 * 3600), moment(6 * 3600), DAY))
    periods = st.tuples(instants, st.integers(1, 7200)).map(
        lambda p: (moment(*p[0]), moment(*p[0]) + timedelta(seconds=p[1]))
    )
    planned = [PlannedBreak(a, b, "maintenance") for a, b in draw(st.lists(periods, max_size=2))]
    recorded = [RecordedStop(a, b, "jam") for a, b in draw(st.lists(periods, max_size=3))]
    spans, cursor = [], moment(-3 * 3600)
    for length, context in draw(
        st.lists(st.tuples(st.integers(1, 20000), st.sampled_from(CONTEXTS)), max_size=4)
    ):
        spans.append(ContextSpan(cursor, cursor + timedelta(seconds=length), *context))
        cursor += timedelta(seconds=length + draw(st.integers(0, 3000)))
    return with_planned_stops(windows, planned), recorded, spans


@settings(max_examples=200, deadline=None)
@given(
    machine=machines(),
    plan=plans(),
    heartbeat=st.integers(30, 3600),
    micro=st.integers(0, 900),
    window=st.tuples(st.integers(-2, 10), st.integers(1, 20)),
)
def test_array_tallies_equal_the_object_path(machine, plan, heartbeat, micro, window):
    signals, counters, counter_settings = machine
    windows, recorded, spans = plan
    profile = EquipmentProfile(
        EQ, "L1", heartbeat_timeout=timedelta(seconds=heartbeat),
        micro_stop_threshold=timedelta(seconds=micro),
    )  # fmt: skip
    start = moment(window[0] * 3600)
    end = start + timedelta(hours=window[1], microseconds=300)
    the_plan = EquipmentPlan(windows, recorded, spans, counter_settings)
    check(signals, counters, profile, start, end, the_plan)


def test_a_counter_beyond_its_modulus_is_refused_as_by_the_object_path():
    counters = [CounterSample(EQ, CounterKind.TOTAL, moment(60), 70_000)]
    plan = EquipmentPlan([], counters=CounterSettings(modulus=65_536))
    with pytest.raises(RuleViolation, match="out of range"):
        arrays([], counters, EquipmentProfile(EQ), moment(0), moment(3600), plan)
