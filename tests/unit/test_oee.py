"""OEE, six big losses and TEEP against published worked examples and the edge cases.

Published figures reproduced here, at the rounding they were published with:
- Vorne, "OEE Calculation" (oee.com, the Fast Guide to OEE): an 8-hour shift (480 min) with
  two 15-minute breaks and a 30-minute meal, 47 minutes down, ideal cycle time 1.0 s, total
  count 19,271, reject count 423 -> planned production 420 min, run time 373 min, good
  18,848, availability 88.81 %, performance 86.11 %, quality 97.80 %, OEE 74.79 %.
- LeanWorx, "TEEP definition, TEEP calculation, OEE vs. TEEP": OEE 60 %, running 24 h a day
  6 days a week -> utilisation 85.7 %, TEEP 51.4 %; 12 h a day with 1 h of breaks, 6 days a
  week -> utilisation 39.3 %, TEEP 23.6 %.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    GROUPINGS,
    Context,
    ContextSignal,
    CounterKind,
    CounterSample,
    CounterSettings,
    CountTotals,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    OeePrimitives,
    PlannedBreak,
    ProductionCount,
    ShiftWindow,
    StateInterval,
    StateSignal,
    apply_calendar,
    as_percent,
    attribute_counts,
    counter_increments,
    derive_intervals,
    oee_by,
    oee_figures,
    primitives_by,
    total,
)

DAY = date(2024, 5, 6)
MINUTE = 60_000
HOUR = 60 * MINUTE
RUNNING, DOWN, IDLE, SETUP = (
    EquipmentState.RUNNING,
    EquipmentState.DOWN,
    EquipmentState.IDLE,
    EquipmentState.SETUP,
)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 6) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=UTC)


PRESS = EquipmentProfile("press-1", line="L1", micro_stop_threshold=timedelta(minutes=2))
VORNE_SHIFT = ShiftWindow(
    "A",
    at(6),
    at(14),
    DAY,
    breaks=(
        PlannedBreak(at(8), at(8, 15), "break"),
        PlannedBreak(at(10), at(10, 30), "meal"),
        PlannedBreak(at(12), at(12, 15), "break"),
    ),
)


def heartbeats(equipment: str, start: datetime, end: datetime) -> list[Heartbeat]:
    beats, moment = [], start
    while moment < end:
        beats.append(Heartbeat(equipment, moment))
        moment += timedelta(minutes=1)
    return beats


def vorne_signals() -> list[StateSignal | Heartbeat | ContextSignal]:
    """Running all shift except 20 + 27 = 47 minutes down."""
    changes = [
        StateSignal("press-1", at(6), RUNNING),
        StateSignal("press-1", at(7), DOWN, "jam"),
        StateSignal("press-1", at(7, 20), RUNNING),
        StateSignal("press-1", at(11), DOWN, "motor trip"),
        StateSignal("press-1", at(11, 27), RUNNING),
    ]
    return [*changes, *heartbeats("press-1", at(6), at(14))]


def shift_intervals(
    signals: list[StateSignal | Heartbeat | ContextSignal],
) -> tuple[StateInterval, ...]:
    timeline = derive_intervals(signals, PRESS, at(6), at(14))
    return apply_calendar(timeline.intervals, [VORNE_SHIFT])


def counts_from(samples: list[CounterSample], intervals: tuple[StateInterval, ...]):
    return attribute_counts(counter_increments(samples).increments, intervals)


def one_group(intervals, counts, cycle=None):
    figures = oee_by(intervals, counts, cycle or {None: Decimal("1.0")}, key=lambda c: "all")
    return figures["all"]


def assert_vorne(figures) -> None:
    assert figures.planned_production_minutes == 420
    assert figures.run_minutes == 373
    assert figures.primitives.good_count == 18_848
    assert as_percent(figures.availability) == Decimal("88.81")
    assert as_percent(figures.performance) == Decimal("86.11")
    assert as_percent(figures.quality) == Decimal("97.80")
    assert as_percent(figures.oee) == Decimal("74.79")


# ------------------------------------------------------------------ published examples


def test_vorne_example_from_primitives() -> None:
    figures = oee_figures(
        OeePrimitives(
            running_ms=373 * MINUTE,
            down_ms=47 * MINUTE,
            planned_stop_ms=60 * MINUTE,
            total_count=19_271,
            reject_count=423,
            ideal_ms=Decimal(19_271_000),
            ideal_reject_ms=Decimal(423_000),
        )
    )
    assert figures.primitives.shift_ms == 480 * MINUTE
    assert_vorne(figures)
    # the same OEE two ways: A x P x Q and good x ideal cycle time / planned production time
    product = figures.availability * figures.performance * figures.quality
    assert abs(product - figures.oee) < Decimal("1e-25")
    assert figures.oee == Decimal(18_848) / Decimal(25_200)
    # as published, from the four-place factors: 0.8881 x 0.8611 x 0.9780 = 0.7479
    four = [round(x, 4) for x in (figures.availability, figures.performance, figures.quality)]
    assert round(four[0] * four[1] * four[2], 4) == Decimal("0.7479")
    assert round(figures.fully_productive_minutes, 2) == Decimal("314.13")
    assert round(figures.net_run_minutes, 2) == Decimal("321.18")
    assert figures.count_quality == figures.quality
    assert not figures.performance_exceeds_ideal


def test_vorne_example_from_signals_shift_calendar_and_counters() -> None:
    intervals = shift_intervals(vorne_signals())
    samples = [
        CounterSample("press-1", CounterKind.TOTAL, at(6), 0),
        CounterSample("press-1", CounterKind.TOTAL, at(9), 7_000),
        CounterSample("press-1", CounterKind.TOTAL, at(13), 15_000),
        CounterSample("press-1", CounterKind.TOTAL, at(14), 19_271),
        CounterSample("press-1", CounterKind.REJECT, at(6), 0),
        CounterSample("press-1", CounterKind.REJECT, at(14), 423),
    ]
    figures = one_group(intervals, counts_from(samples, intervals))
    assert_vorne(figures)
    assert figures.primitives.planned_stop_ms == 60 * MINUTE
    assert figures.losses.breakdowns == 47


def test_vorne_example_with_a_16_bit_counter_rolling_over() -> None:
    intervals = shift_intervals(vorne_signals())
    values = [(at(6), 60_000), (at(9), 1_464), (at(13), 9_464), (at(14), 13_735)]
    samples = [CounterSample("press-1", CounterKind.TOTAL, t, v) for t, v in values]
    samples += [
        CounterSample("press-1", CounterKind.REJECT, at(6), 65_500),
        CounterSample("press-1", CounterKind.REJECT, at(14), 387),  # 36 + 387 = 423
    ]
    report = counter_increments(samples, CounterSettings(modulus=2**16))
    assert report.rollovers == 2 and report.resets == 0
    assert_vorne(one_group(intervals, attribute_counts(report.increments, intervals)))


def test_vorne_example_with_a_counter_reset_mid_shift() -> None:
    intervals = shift_intervals(vorne_signals())
    values = [(at(6), 0), (at(10, 40), 9_000), (at(10, 50), 100), (at(14), 10_271)]
    samples = [CounterSample("press-1", CounterKind.TOTAL, t, v) for t, v in values]
    samples += [
        CounterSample("press-1", CounterKind.REJECT, at(6), 0),
        CounterSample("press-1", CounterKind.REJECT, at(14), 423),
    ]
    report = counter_increments(samples, CounterSettings(modulus=2**32))
    assert report.resets == 1 and report.rollovers == 0
    assert_vorne(one_group(intervals, attribute_counts(report.increments, intervals)))


def test_vorne_example_is_the_same_with_duplicated_and_shuffled_signals() -> None:
    signals = vorne_signals()
    noisy = signals + signals[::7]
    random.Random(7).shuffle(noisy)
    timeline = derive_intervals(noisy, PRESS, at(6), at(14))
    assert timeline.report.duplicates == len(signals[::7])
    assert timeline.report.out_of_order > 0
    intervals = apply_calendar(timeline.intervals, [VORNE_SHIFT])
    assert intervals == shift_intervals(signals)
    samples = [
        CounterSample("press-1", CounterKind.TOTAL, at(14), 19_271),
        CounterSample("press-1", CounterKind.TOTAL, at(6), 0),
        CounterSample("press-1", CounterKind.TOTAL, at(14), 19_271),
        CounterSample("press-1", CounterKind.REJECT, at(14), 423),
        CounterSample("press-1", CounterKind.REJECT, at(6), 0),
    ]
    assert_vorne(one_group(intervals, counts_from(samples, intervals)))


def teep_primitives(shift_hours: int, break_hours: int, days: int) -> OeePrimitives:
    """OEE exactly 60 % (no stops, no rejects, ideal 1 s) on `days` shifts in a week."""
    running_s = (shift_hours - break_hours) * 3600 * days
    pieces = running_s * 6 // 10
    return OeePrimitives(
        running_ms=running_s * 1000,
        planned_stop_ms=break_hours * HOUR * days,
        unscheduled_ms=(7 * 24 - shift_hours * days) * HOUR,
        total_count=pieces,
        ideal_ms=Decimal(pieces * 1000),
    )


@pytest.mark.parametrize(
    ("shift_hours", "break_hours", "utilisation", "teep"),
    [(24, 0, "85.7", "51.4"), (12, 1, "39.3", "23.6")],
)
def test_leanworx_teep_examples(shift_hours, break_hours, utilisation, teep) -> None:
    figures = oee_figures(teep_primitives(shift_hours, break_hours, days=6))
    assert figures.oee == Decimal("0.6")
    assert as_percent(figures.utilisation, 1) == Decimal(utilisation)
    assert as_percent(figures.teep, 1) == Decimal(teep)
    assert abs(figures.oee * figures.utilisation - figures.teep) < Decimal("1e-25")


# ------------------------------------------------------------------ losses and conventions


def test_six_big_losses_add_up_to_the_planned_production_time() -> None:
    figures = oee_figures(
        OeePrimitives(
            running_ms=300 * MINUTE,
            micro_stop_ms=6 * MINUTE,
            down_ms=40 * MINUTE,
            idle_ms=14 * MINUTE,
            setup_ms=20 * MINUTE,
            planned_stop_ms=60 * MINUTE,
            offline_ms=40 * MINUTE,
            total_count=15_000,
            reject_count=300,
            startup_reject_count=120,
            ideal_ms=Decimal(15_000_000),
            ideal_reject_ms=Decimal(300_000),
            ideal_startup_reject_ms=Decimal(120_000),
        )
    )
    losses = figures.losses
    assert (losses.breakdowns, losses.setup_adjustments, losses.minor_stops) == (54, 20, 6)
    assert losses.reduced_speed == 306 - 250 - 6
    assert (losses.process_defects, losses.reduced_yield) == (3, 2)
    assert figures.planned_production_minutes == 380  # offline is not planned production
    assert losses.total + figures.fully_productive_minutes == figures.planned_production_minutes
    assert figures.availability == Decimal(306) / Decimal(380)  # micro-stops are run time


def test_zero_planned_time_gives_no_ratio_instead_of_a_crash() -> None:
    figures = oee_figures(OeePrimitives(planned_stop_ms=HOUR, unscheduled_ms=HOUR))
    assert (figures.availability, figures.performance, figures.quality) == (None, None, None)
    assert figures.oee is None and figures.teep is None
    assert figures.utilisation == 0
    empty = oee_figures(OeePrimitives())
    assert empty.utilisation is None and empty.oee is None


def test_zero_run_time_and_zero_counts() -> None:
    stopped = oee_figures(OeePrimitives(down_ms=8 * HOUR))
    assert stopped.availability == 0 and stopped.oee == 0
    assert stopped.performance is None and stopped.quality is None
    idle_running = oee_figures(OeePrimitives(running_ms=HOUR))
    assert idle_running.performance == 0 and idle_running.quality is None
    assert idle_running.oee == 0


def test_counts_without_run_time_are_flagged() -> None:
    figures = oee_figures(OeePrimitives(down_ms=HOUR, total_count=10, ideal_ms=Decimal(10_000)))
    assert figures.counts_without_run_time and figures.performance is None


def test_performance_above_one_is_reported_not_clamped() -> None:
    figures = oee_figures(
        OeePrimitives(running_ms=HOUR, total_count=4_000, ideal_ms=Decimal(4_000_000))
    )
    assert figures.performance == Decimal(4_000) / Decimal(3_600)
    assert figures.performance_exceeds_ideal
    assert figures.losses.reduced_speed < 0


def test_inconsistent_primitives_are_refused() -> None:
    with pytest.raises(RuleViolation, match="cannot exceed"):
        OeePrimitives(total_count=5, reject_count=6)
    with pytest.raises(RuleViolation, match="negative"):
        OeePrimitives(running_ms=-1)


def test_a_product_without_ideal_cycle_time_is_refused() -> None:
    count = ProductionCount(Context("press-1", product="P-9"), at(7), CountTotals(total=5))
    with pytest.raises(RuleViolation, match="no ideal cycle time for product P-9"):
        primitives_by([], [count], {"P-1": Decimal(1)}, key=lambda c: c.product)
    with pytest.raises(RuleViolation, match="must be positive"):
        primitives_by([], [count], {"P-9": Decimal(0)}, key=lambda c: c.product)


def test_product_change_mid_shift_uses_each_products_ideal_cycle_time() -> None:
    signals = [
        StateSignal("press-1", at(6), RUNNING),
        ContextSignal("press-1", at(6), order="WO-1", product="P-1"),
        ContextSignal("press-1", at(11), order="WO-2", product="P-2"),
        *heartbeats("press-1", at(6), at(14)),
    ]
    intervals = shift_intervals(signals)
    samples = [
        CounterSample("press-1", CounterKind.TOTAL, at(6), 0),
        CounterSample("press-1", CounterKind.TOTAL, at(11), 10_000),
        CounterSample("press-1", CounterKind.TOTAL, at(14), 14_000),
        CounterSample("press-1", CounterKind.REJECT, at(6), 0),
        CounterSample("press-1", CounterKind.REJECT, at(11), 1_000),
        CounterSample("press-1", CounterKind.REJECT, at(14), 1_500),
    ]
    counts = counts_from(samples, intervals)
    cycles = {"P-1": Decimal("1.0"), "P-2": Decimal("2.0")}
    whole = one_group(intervals, counts, cycles)
    assert whole.primitives.ideal_ms == (10_000 * 1 + 4_000 * 2) * 1000
    assert whole.primitives.fully_productive_ms == (9_000 * 1 + 3_500 * 2) * 1000
    assert whole.quality == Decimal(16_000) / Decimal(18_000)
    assert whole.count_quality == Decimal(12_500) / Decimal(14_000)
    assert whole.oee == Decimal(16_000) / Decimal(420 * 60)
    by_product = oee_by(intervals, counts, cycles, key=GROUPINGS["product"])
    assert by_product["P-1"].primitives.run_ms == 255 * MINUTE  # 06-11 less 45 min of breaks
    assert by_product["P-1"].performance == Decimal(10_000) / Decimal(255 * 60)
    assert by_product["P-2"].performance == Decimal(8_000) / Decimal(165 * 60)
    assert total(p.primitives for p in by_product.values()) == whole.primitives


def test_groups_sum_primitives_and_never_average_ratios() -> None:
    fast = OeePrimitives(running_ms=HOUR, total_count=3_600, ideal_ms=Decimal(3_600_000))
    slow = OeePrimitives(running_ms=HOUR, down_ms=3 * HOUR, total_count=0)
    line = oee_figures(fast + slow)
    assert line.oee == Decimal(3_600) / Decimal(5 * 3_600)  # 20 %, not the mean 50 %
    assert (oee_figures(fast).oee, oee_figures(slow).oee) == (1, 0)


def test_startup_rejects_after_a_setup_are_reduced_yield() -> None:
    signals = [
        StateSignal("press-1", at(6), SETUP),
        StateSignal("press-1", at(6, 20), RUNNING),
        *heartbeats("press-1", at(6), at(14)),
    ]
    intervals = shift_intervals(signals)
    samples = [
        CounterSample("press-1", CounterKind.TOTAL, at(6), 0),
        CounterSample("press-1", CounterKind.TOTAL, at(14), 20_000),
        CounterSample("press-1", CounterKind.REJECT, at(6), 0),
        CounterSample("press-1", CounterKind.REJECT, at(6, 25), 30),
        CounterSample("press-1", CounterKind.REJECT, at(9), 50),
    ]
    report = counter_increments(samples)
    counts = attribute_counts(report.increments, intervals, startup_window=timedelta(minutes=10))
    figures = one_group(intervals, counts)
    assert figures.primitives.startup_reject_count == 30
    assert figures.losses.reduced_yield == Decimal("0.5")
    assert figures.losses.process_defects == Decimal(20) / 60
    assert figures.losses.setup_adjustments == 20


def test_a_data_gap_is_offline_and_not_an_availability_loss() -> None:
    signals = [
        StateSignal("press-1", at(6), RUNNING),
        *heartbeats("press-1", at(6), at(9)),
        *heartbeats("press-1", at(9, 30), at(14)),  # no data 09:00-09:30
    ]
    intervals = shift_intervals(signals)
    figures = one_group(intervals, [])
    assert figures.primitives.offline_ms == 31 * MINUTE  # last heartbeat 08:59
    assert figures.primitives.down_ms == 0 and figures.availability == 1
    assert figures.planned_production_minutes == 420 - 31


def test_stop_across_a_shift_change_is_split_between_the_shifts() -> None:
    profile = EquipmentProfile("press-1", micro_stop_threshold=timedelta(minutes=5))
    shifts = [ShiftWindow("A", at(6), at(14), DAY), ShiftWindow("B", at(14), at(22), DAY)]
    signals = [
        StateSignal("press-1", at(6), RUNNING),
        StateSignal("press-1", at(13, 50), DOWN, "jam"),
        StateSignal("press-1", at(14, 20), RUNNING),
        *heartbeats("press-1", at(6), at(22)),
    ]
    timeline = derive_intervals(signals, profile, at(6), at(22))
    intervals = apply_calendar(timeline.intervals, shifts)
    by_shift = oee_by(intervals, [], {None: Decimal(1)}, key=lambda c: c.shift)
    assert by_shift["A"].primitives.down_ms == 10 * MINUTE
    assert by_shift["B"].primitives.down_ms == 20 * MINUTE
    assert by_shift["A"].availability == Decimal(470) / Decimal(480)


# ------------------------------------------------------------------ property: aggregation

STATES = [RUNNING, RUNNING, RUNNING, DOWN, IDLE, SETUP, EquipmentState.PLANNED_STOP]


@st.composite
def plant_days(draw: st.DrawFn):
    """A random timeline of state changes with counts, and shift cuts over it."""
    pieces = draw(
        st.lists(st.tuples(st.sampled_from(STATES), st.integers(1, 90)), min_size=1, max_size=25)
    )
    length = sum(minutes for _, minutes in pieces)
    cuts = draw(st.lists(st.integers(1, length - 1), max_size=4)) if length > 1 else []
    with_breaks = draw(st.booleans())
    rates = draw(st.lists(st.integers(0, 60), min_size=len(pieces), max_size=len(pieces)))
    reject_share = draw(st.integers(0, 100))
    return pieces, sorted(set(cuts)), with_breaks, rates, reject_share


def build_day(pieces, cuts, with_breaks, rates, reject_share):
    start = at(6)
    profile = EquipmentProfile("press-1", heartbeat_timeout=timedelta(days=1))
    signals: list = []
    samples = [
        CounterSample("press-1", CounterKind.TOTAL, start, 0),
        CounterSample("press-1", CounterKind.REJECT, start, 0),
    ]
    moment, made, rejected = start, 0, 0
    for (state, minutes), rate in zip(pieces, rates, strict=True):
        signals.append(StateSignal("press-1", moment, state))
        moment += timedelta(minutes=minutes)
        if state is RUNNING:  # at most one piece per second of running: ideal cycle 1 s
            made += rate * minutes
            rejected += rate * minutes * reject_share // 100
        samples.append(CounterSample("press-1", CounterKind.TOTAL, moment, made))
        samples.append(CounterSample("press-1", CounterKind.REJECT, moment, rejected))
    end = moment
    edges = [start, *(start + timedelta(minutes=c) for c in cuts), end]
    shifts = []
    for number, (lo, hi) in enumerate(pairwise(edges)):
        breaks = ()
        if with_breaks and hi - lo >= timedelta(minutes=3):
            breaks = (PlannedBreak(lo + timedelta(minutes=1), lo + timedelta(minutes=2)),)
        shifts.append(ShiftWindow(f"S{number}", lo, hi, DAY, breaks))
    timeline = derive_intervals(signals, profile, start, end)
    intervals = apply_calendar(timeline.intervals, shifts)
    report = counter_increments(samples)
    return intervals, attribute_counts(report.increments, intervals)


@settings(max_examples=150, deadline=None)
@given(plant_days())
def test_per_shift_oee_aggregated_equals_oee_over_the_whole_range(day) -> None:
    intervals, counts = build_day(*day)
    cycle = {None: Decimal("1.0")}
    per_shift = primitives_by(intervals, counts, cycle, key=lambda c: c.shift)
    whole = primitives_by(intervals, counts, cycle, key=lambda c: "all")["all"]
    assert total(per_shift.values()) == whole
    assert oee_figures(total(per_shift.values())) == oee_figures(whole)
    for figures in [oee_figures(p) for p in per_shift.values()] + [oee_figures(whole)]:
        for ratio in (figures.availability, figures.quality):  # counts made in a break
            assert ratio is None or 0 <= ratio <= 1  # may push P and OEE above 1 here


@settings(max_examples=150, deadline=None)
@given(plant_days())
def test_performance_stays_within_one_when_the_ideal_cycle_time_is_right(day) -> None:
    pieces, cuts, _, rates, reject_share = day
    intervals, counts = build_day(pieces, cuts, False, rates, reject_share)
    figures = oee_by(intervals, counts, {None: Decimal("1.0")}, key=lambda c: "all")["all"]
    assert figures.performance is None or 0 <= figures.performance <= 1
    assert not figures.performance_exceeds_ideal
    if figures.oee is not None and figures.performance is not None and figures.quality:
        product = figures.availability * figures.performance * figures.quality
        assert abs(product - figures.oee) < Decimal("1e-24")
