"""Downtime events from state intervals: detection, classification, split, merge, Pareto."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    DowntimeReason,
    EquipmentProfile,
    EquipmentState,
    Heartbeat,
    IdleCause,
    PlannedBreak,
    ShiftWindow,
    StateSignal,
    apply_calendar,
    classify,
    derive_intervals,
    downtime_candidates,
    merge_events,
    pareto,
    split_event,
)

RUNNING, DOWN, IDLE, SETUP = (
    EquipmentState.RUNNING,
    EquipmentState.DOWN,
    EquipmentState.IDLE,
    EquipmentState.SETUP,
)
DAY = date(2024, 5, 6)
CELL = EquipmentProfile("cell-10", micro_stop_threshold=timedelta(minutes=2))


def t(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 6, hour, minute, tzinfo=UTC)


SHIFTS = [
    ShiftWindow("A", t(6), t(14), DAY),
    ShiftWindow("B", t(14), t(22), DAY, (PlannedBreak(t(18), t(18, 30), "meal"),)),
]


def intervals_for(*changes: tuple[datetime, EquipmentState, str | None]):
    signals = [StateSignal("cell-10", when, state, cause) for when, state, cause in changes]
    moment = t(6)
    while moment < t(22):
        signals.append(Heartbeat("cell-10", moment))
        moment += timedelta(minutes=1)
    timeline = derive_intervals(signals, CELL, t(6), t(22))
    return apply_calendar(timeline.intervals, SHIFTS)


def spans(events) -> list[tuple[str, str, str, bool]]:
    return [(e.state.value, f"{e.start:%H:%M}", f"{e.end:%H:%M}", e.planned) for e in events]


def test_down_above_the_micro_stop_threshold_is_an_unclassified_candidate() -> None:
    intervals = intervals_for(
        (t(6), RUNNING, None),
        (t(7), DOWN, "E12"),
        (t(7, 1), RUNNING, None),  # 1 minute: a micro-stop
        (t(8), DOWN, "E12"),
        (t(8, 40), RUNNING, None),
        (t(9), IDLE, IdleCause.STARVED),
        (t(9, 5), RUNNING, None),
        (t(9, 30), IDLE, IdleCause.BLOCKED),
        (t(9, 50), SETUP, None),
        (t(10, 10), RUNNING, None),
    )
    events = downtime_candidates(intervals)
    assert spans(events) == [("down", "08:00", "08:40", False)]
    assert events[0].cause == "E12" and not events[0].classified
    with_idle = downtime_candidates(
        intervals, include_idle=True, idle_threshold=timedelta(minutes=10), include_setup=True
    )
    assert spans(with_idle) == [
        ("down", "08:00", "08:40", False),
        ("idle", "09:30", "09:50", False),
        ("setup", "09:50", "10:10", True),
    ]


def test_a_stop_across_a_shift_change_is_one_event_split_by_the_pareto_window() -> None:
    intervals = intervals_for(
        (t(6), RUNNING, None), (t(13, 50), DOWN, None), (t(14, 20), RUNNING, None)
    )
    events = downtime_candidates(intervals)
    assert spans(events) == [("down", "13:50", "14:20", False)]
    assert events[0].context.shift == "A"
    jam = classify(events[0], DowntimeReason("jam", "mechanical"))
    assert pareto([jam], window=(t(6), t(14)))[0].minutes == 10
    assert pareto([jam], window=(t(14), t(22)))[0].minutes == 20


def test_a_planned_break_inside_a_stop_is_not_downtime() -> None:
    intervals = intervals_for(
        (t(6), RUNNING, None), (t(17, 55), DOWN, "E7"), (t(18, 40), RUNNING, None)
    )
    assert spans(downtime_candidates(intervals)) == [
        ("down", "17:55", "18:00", False),
        ("down", "18:30", "18:40", False),
    ]


def test_a_data_gap_is_not_downtime() -> None:
    signals = [StateSignal("cell-10", t(6), RUNNING), Heartbeat("cell-10", t(7))]
    timeline = derive_intervals(signals, CELL, t(6), t(8))
    assert EquipmentState.OFFLINE in {i.state for i in timeline.intervals}
    assert downtime_candidates(timeline.intervals) == ()


def test_classify_split_and_merge() -> None:
    intervals = intervals_for((t(6), RUNNING, None), (t(7), DOWN, None), (t(8), RUNNING, None))
    (event,) = downtime_candidates(intervals)
    material = DowntimeReason("waiting for material", "logistics")
    tool = DowntimeReason("tool change", "tooling", planned=True)
    first, second = split_event(event, t(7, 40), material, tool)
    assert spans([first, second]) == [
        ("down", "07:00", "07:40", False),
        ("down", "07:40", "08:00", True),
    ]
    assert (first.reason, first.category, second.reason) == (
        "waiting for material",
        "logistics",
        "tool change",
    )
    for wrong in (t(7), t(8), t(9)):
        with pytest.raises(RuleViolation, match="strictly between"):
            split_event(event, wrong, material, tool)
    with pytest.raises(RuleViolation, match="different reasons"):
        merge_events([first, second])
    merged = merge_events([second, first], material)
    assert spans([merged]) == [("down", "07:00", "08:00", False)]
    assert merged.reason == "waiting for material"
    keeps = merge_events([first, split_event(event, t(7, 40), material, material)[1]])
    assert keeps.reason == "waiting for material" and keeps.duration_ms == 3_600_000
    halves = [replace(half, reason=None, category=None) for half in (first, second)]
    assert not merge_events(halves).classified
    with pytest.raises(RuleViolation, match="empty"):
        classify(event, DowntimeReason("  "))


def test_merge_refuses_events_that_do_not_touch_or_belong_to_other_equipment() -> None:
    intervals = intervals_for(
        (t(6), RUNNING, None),
        (t(7), DOWN, None),
        (t(7, 30), RUNNING, None),
        (t(8), DOWN, None),
        (t(8, 30), RUNNING, None),
    )
    first, second = downtime_candidates(intervals)
    with pytest.raises(RuleViolation, match="do not touch"):
        merge_events([first, second])
    with pytest.raises(RuleViolation, match="same equipment"):
        merge_events([first, replace(first, equipment="cell-20", start=first.end)])
    with pytest.raises(RuleViolation, match="nothing"):
        merge_events([])


def test_pareto_ranks_minutes_with_cumulative_share() -> None:
    intervals = intervals_for(
        (t(6), RUNNING, None),
        (t(6, 30), DOWN, None),  # 40 min
        (t(7, 10), RUNNING, None),
        (t(8), DOWN, None),  # 10 min
        (t(8, 10), RUNNING, None),
        (t(9), DOWN, None),  # 30 min
        (t(9, 30), RUNNING, None),
        (t(10), DOWN, None),  # 20 min, left unclassified
        (t(10, 20), RUNNING, None),
    )
    wait, jam, tool, open_ = downtime_candidates(intervals)
    classified = [
        classify(wait, DowntimeReason("waiting for material", "logistics")),
        classify(jam, DowntimeReason("jam", "mechanical")),
        classify(tool, DowntimeReason("tool breakage", "mechanical")),
        open_,
    ]
    bars = pareto(classified)
    assert [(b.label, b.minutes, b.events) for b in bars] == [
        ("waiting for material", 40, 1),
        ("tool breakage", 30, 1),
        ("unclassified", 20, 1),
        ("jam", 10, 1),
    ]
    assert [b.share for b in bars] == [
        Decimal("0.4"),
        Decimal("0.3"),
        Decimal("0.2"),
        Decimal("0.1"),
    ]
    assert [b.cumulative_share for b in bars] == [
        Decimal("0.4"),
        Decimal("0.7"),
        Decimal("0.9"),
        Decimal(1),
    ]
    by_category = pareto(classified, by="category")
    assert [(b.label, b.minutes, b.events) for b in by_category] == [
        ("logistics", 40, 1),
        ("mechanical", 40, 2),
        ("unclassified", 20, 1),
    ]
    assert pareto([]) == ()


def test_acceptance_scenario_forty_minutes_waiting_for_material() -> None:
    """DESIGN §7: operation 10 stops for 40 minutes, unplanned, waiting for material."""
    intervals = intervals_for(
        (t(6), RUNNING, None), (t(9), IDLE, IdleCause.STARVED), (t(9, 40), RUNNING, None)
    )
    assert downtime_candidates(intervals) == ()  # idle is only a candidate when asked for
    (stop,) = downtime_candidates(intervals, include_idle=True)
    assert stop.cause == "starved" and not stop.planned
    given = classify(stop, DowntimeReason("waiting for material", "logistics"))
    (bar,) = pareto([given], window=(t(6), t(14)))
    assert (bar.label, bar.minutes, bar.cumulative_share) == ("waiting for material", 40, 1)
