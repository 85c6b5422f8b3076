"""Equipment states from machine signals, the shift calendar over them, and counters."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    Context,
    ContextSignal,
    CounterKind,
    CounterSample,
    CounterSettings,
    CountTotals,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    IdleCause,
    PlannedBreak,
    ShiftWindow,
    StateSignal,
    apply_calendar,
    attribute_counts,
    count_totals,
    counter_increments,
    counts_per_minute,
    derive_intervals,
    expand_shifts,
)

RUNNING, DOWN, IDLE, SETUP, PLANNED, OFFLINE = (
    EquipmentState.RUNNING,
    EquipmentState.DOWN,
    EquipmentState.IDLE,
    EquipmentState.SETUP,
    EquipmentState.PLANNED_STOP,
    EquipmentState.OFFLINE,
)
DAY = date(2024, 5, 6)
LATHE = EquipmentProfile(
    "lathe-2",
    line="L2",
    heartbeat_timeout=timedelta(minutes=2),
    micro_stop_threshold=timedelta(minutes=3),
    skew_tolerance=timedelta(seconds=30),
)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, 6, hour, minute, second, tzinfo=UTC)


def beats(start: datetime, end: datetime, every: int = 60) -> list[Heartbeat]:
    found, moment = [], start
    while moment < end:
        found.append(Heartbeat("lathe-2", moment))
        moment += timedelta(seconds=every)
    return found


def shape(intervals) -> list[tuple[str, str, str, bool]]:
    return [(i.state.value, f"{i.start:%H:%M}", f"{i.end:%H:%M}", i.micro_stop) for i in intervals]


# ------------------------------------------------------------------ states from signals


def test_state_changes_become_intervals_with_causes_and_context() -> None:
    signals = [
        ContextSignal("lathe-2", at(6), order="WO-7", operation="10", product="P-1"),
        StateSignal("lathe-2", at(6), RUNNING),
        StateSignal("lathe-2", at(7), IDLE, IdleCause.STARVED),
        StateSignal("lathe-2", at(7, 10), IDLE, IdleCause.BLOCKED),
        StateSignal("lathe-2", at(7, 20), SETUP),
        StateSignal("lathe-2", at(7, 50), RUNNING),
        *beats(at(6), at(9)),
    ]
    timeline = derive_intervals(signals, LATHE, at(6), at(9))
    assert shape(timeline.intervals) == [
        ("running", "06:00", "07:00", False),
        ("idle", "07:00", "07:10", False),
        ("idle", "07:10", "07:20", False),
        ("setup", "07:20", "07:50", False),
        ("running", "07:50", "09:00", False),
    ]
    assert [i.cause for i in timeline.intervals[1:3]] == ["starved", "blocked"]
    first = timeline.intervals[0].context
    assert (first.equipment, first.line, first.order, first.operation, first.product) == (
        "lathe-2",
        "L2",
        "WO-7",
        "10",
        "P-1",
    )
    assert sum(i.duration_ms for i in timeline.intervals) == 3 * 3_600_000
    assert timeline.report.offline_intervals == 0


def test_the_state_before_the_window_carries_into_it() -> None:
    signals = [StateSignal("lathe-2", at(5, 59), DOWN, "E42"), *beats(at(6), at(7))]
    timeline = derive_intervals(signals, LATHE, at(6), at(7))
    assert shape(timeline.intervals) == [("down", "06:00", "07:00", False)]
    assert timeline.intervals[0].cause == "E42"


def test_no_data_is_offline_before_first_signal_in_gaps_and_after_the_timeout() -> None:
    signals = [
        StateSignal("lathe-2", at(6, 10), RUNNING),
        *beats(at(6, 10), at(7)),
        *beats(at(7, 30), at(7, 40)),
    ]
    timeline = derive_intervals(signals, LATHE, at(6), at(8))
    assert shape(timeline.intervals) == [
        ("offline", "06:00", "06:10", False),
        ("running", "06:10", "06:59", False),
        ("offline", "06:59", "07:30", False),
        ("running", "07:30", "07:39", False),
        ("offline", "07:39", "08:00", False),
    ]
    assert timeline.report.offline_intervals == 3


def test_a_gap_within_the_heartbeat_timeout_is_not_offline() -> None:
    signals = [StateSignal("lathe-2", at(6), RUNNING), *beats(at(6), at(7), every=120)]
    timeline = derive_intervals(signals, LATHE, at(6), at(7))
    assert shape(timeline.intervals) == [("running", "06:00", "07:00", False)]


def test_short_stops_are_micro_stops_and_the_threshold_itself_is_not() -> None:
    signals = [
        StateSignal("lathe-2", at(6), RUNNING),
        StateSignal("lathe-2", at(6, 10), DOWN, "jam"),
        StateSignal("lathe-2", at(6, 12, 59), RUNNING),
        StateSignal("lathe-2", at(6, 20), IDLE, IdleCause.STARVED),
        StateSignal("lathe-2", at(6, 23), RUNNING),
        StateSignal("lathe-2", at(6, 30), SETUP),
        StateSignal("lathe-2", at(6, 31), RUNNING),
        *beats(at(6), at(7)),
    ]
    intervals = derive_intervals(signals, LATHE, at(6), at(7)).intervals
    micro = {(i.state.value, f"{i.start:%H:%M}"): i.micro_stop for i in intervals}
    assert micro[("down", "06:10")] is True  # 2 min 59 s < 3 min
    assert micro[("idle", "06:20")] is False  # exactly 3 min
    assert micro[("setup", "06:30")] is False  # setup is never a micro-stop


def test_a_stop_is_judged_by_its_whole_length_across_a_context_change() -> None:
    signals = [
        StateSignal("lathe-2", at(6), DOWN, "jam"),
        ContextSignal("lathe-2", at(6, 2), product="P-2"),
        StateSignal("lathe-2", at(6, 4), RUNNING),
        *beats(at(6), at(6, 30)),
    ]
    intervals = derive_intervals(signals, LATHE, at(6), at(6, 30)).intervals
    assert [(i.state.value, i.micro_stop) for i in intervals[:2]] == [
        ("down", False),
        ("down", False),
    ]


def test_fault_codes_cycling_during_one_stop_make_one_stop_not_micro_stops() -> None:
    signals = [
        StateSignal("lathe-2", at(6), RUNNING),
        StateSignal("lathe-2", at(6, 10), DOWN, "E1"),
        StateSignal("lathe-2", at(6, 12), DOWN, "E2"),
        StateSignal("lathe-2", at(6, 14), IDLE, IdleCause.STARVED),
        StateSignal("lathe-2", at(6, 16), RUNNING),
        *beats(at(6), at(6, 30)),
    ]
    intervals = derive_intervals(signals, LATHE, at(6), at(6, 30)).intervals
    assert [(i.state.value, i.cause, i.micro_stop) for i in intervals[1:4]] == [
        ("down", "E1", False),
        ("down", "E2", False),
        ("idle", "starved", False),
    ]


def test_duplicates_and_out_of_order_signals_give_the_same_intervals() -> None:
    signals = [
        StateSignal("lathe-2", at(6), RUNNING),
        StateSignal("lathe-2", at(6, 40), DOWN, "E1"),
        StateSignal("lathe-2", at(6, 55), RUNNING),
        *beats(at(6), at(8)),
    ]
    signals.sort(key=lambda s: s.device_time)  # arrival in device-time order
    clean = derive_intervals(signals, LATHE, at(6), at(8))
    noisy = [*signals, signals[1], signals[1], signals[5]]
    random.Random(3).shuffle(noisy)
    messy = derive_intervals(noisy, LATHE, at(6), at(8))
    assert messy.intervals == clean.intervals
    assert messy.report.duplicates == 3 and messy.report.received == len(signals) + 3
    assert messy.report.out_of_order > 0 and clean.report.out_of_order == 0


def test_clock_skew_beyond_the_tolerance_is_reported() -> None:
    signals = [
        StateSignal("lathe-2", at(6), RUNNING, received_at=at(6, 0, 20)),
        StateSignal("lathe-2", at(6, 30), DOWN, received_at=at(6, 35)),  # device behind
        Heartbeat("lathe-2", at(6, 31), received_at=at(6, 29)),  # device ahead
    ]
    report = derive_intervals(signals, LATHE, at(6), at(7)).report
    assert [(f.device_time, f.skew) for f in report.skewed] == [
        (at(6, 30), timedelta(minutes=5)),
        (at(6, 31), timedelta(minutes=-2)),
    ]
    assert report.max_skew == timedelta(minutes=5)


def test_signals_of_other_equipment_or_an_empty_window_are_refused() -> None:
    with pytest.raises(ValueError, match="mill-1"):
        derive_intervals([Heartbeat("mill-1", at(6))], LATHE, at(6), at(7))
    with pytest.raises(RuleViolation, match="must end after"):
        derive_intervals([], LATHE, at(7), at(7))
    with pytest.raises(RuleViolation, match="negative"):
        EquipmentProfile("x", heartbeat_timeout=timedelta(seconds=-1))


def test_no_signals_at_all_is_offline() -> None:
    timeline = derive_intervals([], LATHE, at(6), at(7))
    assert shape(timeline.intervals) == [("offline", "06:00", "07:00", False)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([RUNNING, DOWN, IDLE, SETUP]), st.integers(0, 600)),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_arrival_order_and_redelivery_never_change_the_intervals(changes, shuffle) -> None:
    profile = EquipmentProfile("lathe-2", heartbeat_timeout=timedelta(minutes=12))
    signals = [StateSignal("lathe-2", at(6) + timedelta(minutes=m), s) for s, m in changes]
    signals += beats(at(6), at(16), every=600)
    clean = derive_intervals(signals, profile, at(6), at(16)).intervals
    noisy = signals + shuffle.sample(signals, k=len(signals) // 3)
    shuffle.shuffle(noisy)
    assert derive_intervals(noisy, profile, at(6), at(16)).intervals == clean
    assert sum(i.duration_ms for i in clean) == 10 * 3_600_000


# ------------------------------------------------------------------ shift calendar


SHIFT_A = ShiftWindow("A", at(6), at(14), DAY, (PlannedBreak(at(10), at(10, 30), "meal"),))
SHIFT_B = ShiftWindow("B", at(14), at(22), DAY)


def test_calendar_splits_at_shift_and_break_edges_and_breaks_override_the_machine() -> None:
    signals = [StateSignal("lathe-2", at(5), RUNNING), *beats(at(5), at(23))]
    timeline = derive_intervals(signals, LATHE, at(5), at(23))
    placed = apply_calendar(timeline.intervals, [SHIFT_B, SHIFT_A])
    assert [(i.state.value, f"{i.start:%H:%M}", i.context.shift, i.scheduled) for i in placed] == [
        ("running", "05:00", None, False),
        ("running", "06:00", "A", True),
        ("planned_stop", "10:00", "A", True),
        ("running", "10:30", "A", True),
        ("running", "14:00", "B", True),
        ("running", "22:00", None, False),
    ]
    meal = placed[2]
    assert (meal.cause, meal.reported_state, meal.context.production_day) == ("meal", RUNNING, DAY)
    assert sum(i.duration_ms for i in placed) == 18 * 3_600_000


def test_a_micro_stop_split_by_a_shift_change_stays_a_micro_stop() -> None:
    signals = [
        StateSignal("lathe-2", at(13, 59), DOWN),
        StateSignal("lathe-2", at(14, 1), RUNNING),
        *beats(at(13, 50), at(14, 10)),
    ]
    intervals = derive_intervals(signals, LATHE, at(13, 50), at(14, 10)).intervals
    placed = apply_calendar(intervals, [SHIFT_A, SHIFT_B])
    downs = [i for i in placed if i.state is DOWN]
    assert [(i.context.shift, i.micro_stop) for i in downs] == [("A", True), ("B", True)]


def test_overlapping_shifts_and_misplaced_breaks_are_refused() -> None:
    with pytest.raises(RuleViolation, match="overlaps shift"):
        apply_calendar([], [SHIFT_A, ShiftWindow("X", at(13), at(15), DAY)])
    with pytest.raises(RuleViolation, match="outside the shift"):
        ShiftWindow("A", at(6), at(14), DAY, (PlannedBreak(at(13, 50), at(14, 10)),))
    with pytest.raises(RuleViolation, match="must end after"):
        ShiftWindow("A", at(6), at(6), DAY)


def test_shift_patterns_expand_to_utc_windows_across_a_clock_change() -> None:
    windows = expand_shifts(
        "early",
        time(6),
        480,
        weekdays=[5, 0],  # Saturday and Monday
        breaks=[("break", 120, 15), ("meal", 240, 30)],
        timezone="Europe/Berlin",
        first_day=date(2024, 3, 30),
        last_day=date(2024, 4, 1),
    )
    starts = [(w.production_day, w.start) for w in windows]
    assert starts == [
        (date(2024, 3, 30), datetime(2024, 3, 30, 5, tzinfo=UTC)),  # CET
        (date(2024, 4, 1), datetime(2024, 4, 1, 4, tzinfo=UTC)),  # CEST
    ]
    assert windows[0].planned_stop == timedelta(minutes=45)
    assert windows[0].breaks[1].start == datetime(2024, 3, 30, 9, tzinfo=UTC)
    with pytest.raises(RuleViolation, match="time zone"):
        expand_shifts("x", time(6), 60, [0], [], "Mars/Olympus", DAY, DAY)


# ------------------------------------------------------------------ counters


def total(moment: datetime, value: int, **kw) -> CounterSample:
    return CounterSample("lathe-2", CounterKind.TOTAL, moment, value, **kw)


def test_counter_increments_handle_reset_rollover_duplicates_and_order() -> None:
    samples = [
        total(at(6, 3), 65_530),
        total(at(6), 65_000),
        total(at(6, 5), 20),  # rolled over at 2^16: +26
        total(at(6, 5), 20),  # re-delivered
        total(at(6, 9), 3),  # reset: +3
        total(at(6, 12), 10),
    ]
    report = counter_increments(samples, CounterSettings(modulus=2**16))
    assert [(f"{i.start:%H:%M}", i.amount, i.discontinuity) for i in report.increments] == [
        ("06:00", 530, None),
        ("06:03", 26, "rollover"),
        ("06:05", 3, "reset"),
        ("06:09", 7, None),
    ]
    assert (report.duplicates, report.out_of_order, report.resets, report.rollovers) == (1, 1, 1, 1)


def test_a_decrease_without_modulus_or_beyond_max_step_is_a_reset() -> None:
    plain = counter_increments([total(at(6), 500), total(at(6, 1), 40)])
    assert [(i.amount, i.discontinuity) for i in plain.increments] == [(40, "reset")]
    bounded = counter_increments(
        [total(at(6), 60_000), total(at(6, 1), 100)], CounterSettings(2**16, max_step=1_000)
    )
    assert [(i.amount, i.discontinuity) for i in bounded.increments] == [(100, "reset")]
    wide = counter_increments(
        [total(at(6), 2**32 - 5), total(at(6, 1), 5)], CounterSettings(modulus=2**32)
    )
    assert [(i.amount, i.discontinuity) for i in wide.increments] == [(10, "rollover")]


def test_counter_values_out_of_range_are_refused() -> None:
    with pytest.raises(RuleViolation, match="out of range"):
        counter_increments([total(at(6), 2**16)], CounterSettings(modulus=2**16))
    with pytest.raises(RuleViolation, match="out of range"):
        counter_increments([total(at(6), -1)])
    with pytest.raises(RuleViolation, match="modulus"):
        CounterSettings(modulus=1)


def test_counts_take_the_context_of_the_machine_and_aggregate_per_minute() -> None:
    signals = [
        StateSignal("lathe-2", at(6), RUNNING),
        ContextSignal("lathe-2", at(6), order="WO-1", product="P-1"),
        ContextSignal("lathe-2", at(6, 2), order="WO-2", product="P-2"),
        *beats(at(6), at(6, 5)),
    ]
    intervals = derive_intervals(signals, LATHE, at(6), at(6, 5)).intervals
    samples = [
        total(at(6), 0),
        total(at(6, 0, 30), 10),
        total(at(6, 1, 30), 30),
        total(at(6, 2), 35),  # belongs to P-1: made before the change
        total(at(6, 3), 50),
        CounterSample("lathe-2", CounterKind.REJECT, at(6), 0),
        CounterSample("lathe-2", CounterKind.REJECT, at(6, 3), 2),
    ]
    counts = attribute_counts(counter_increments(samples).increments, intervals)
    by_product = count_totals(counts, key=lambda c: c.product)
    assert by_product == {"P-1": CountTotals(total=35), "P-2": CountTotals(total=15, reject=2)}
    assert by_product["P-2"].good == 13
    per_minute = counts_per_minute(counts, key=lambda c: c.order)
    assert per_minute == {
        ("WO-1", at(6)): CountTotals(total=10),
        ("WO-1", at(6, 1)): CountTotals(total=20),
        ("WO-1", at(6, 2)): CountTotals(total=5),
        ("WO-2", at(6, 3)): CountTotals(total=15, reject=2),
    }


def test_counts_outside_the_known_timeline_keep_only_their_equipment() -> None:
    counts = attribute_counts(counter_increments([total(at(6), 0), total(at(7), 9)]).increments, [])
    assert counts[0].context == Context("lathe-2") and counts[0].counts.total == 9
