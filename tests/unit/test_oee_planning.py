"""Planned stops, recorded stops and execution context laid over machine intervals, and the
maintenance rules — pure, in milliseconds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.domain import (
    Context,
    EquipmentState,
    PlannedBreak,
    ShiftWindow,
    StateInterval,
    apply_calendar,
)
from shopfloor.machines.domain.maintenance import check_rule, is_due, run_hours, stops_in_window
from shopfloor.machines.domain.planning import (
    ContextSpan,
    RecordedStop,
    apply_context,
    overlay_recorded_stops,
    round_the_clock,
    spans_from_events,
    uncovered,
    with_planned_stops,
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)


def interval(state: EquipmentState, start: datetime, end: datetime) -> StateInterval:
    return StateInterval(Context("M1"), state, start, end)


SHIFT = ShiftWindow("A", at(6), at(14), date(2026, 3, 1), (PlannedBreak(at(10), at(10, 30)),))


def test_uncovered_leaves_the_gaps() -> None:
    covered = [(at(7), at(8)), (at(7, 30), at(9)), (at(12), at(13))]
    assert uncovered(at(6), at(14), covered) == [(at(6), at(7)), (at(9), at(12)), (at(13), at(14))]
    assert uncovered(at(7), at(8), covered) == []


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(1, 120)), max_size=8))
def test_uncovered_and_covered_add_up_to_the_window(pieces: list[tuple[int, int]]) -> None:
    covered = [(at(0, a), at(0, a + b)) for a, b in pieces]
    free = uncovered(at(1), at(9), covered)
    inside = [(max(a, at(1)), min(b, at(9))) for a, b in covered if a < at(9) and b > at(1)]
    edges = sorted({t for period in [*free, *inside] for t in period})
    for lo, hi in pairwise(edges):
        middle = lo + (hi - lo) / 2
        in_free = any(a <= middle < b for a, b in free)
        in_covered = any(a <= middle < b for a, b in inside)
        assert in_free != in_covered


def test_maintenance_joins_the_breaks_and_the_break_keeps_its_name() -> None:
    (shift,) = with_planned_stops([SHIFT], [PlannedBreak(at(9, 30), at(11), "maintenance")])
    assert [(b.start, b.end, b.name) for b in shift.breaks] == [
        (at(9, 30), at(10), "maintenance"),
        (at(10), at(10, 30), "break"),
        (at(10, 30), at(11), "maintenance"),
    ]
    placed = apply_calendar([interval(EquipmentState.RUNNING, at(6), at(14))], [shift])
    planned = sum(i.duration_ms for i in placed if i.state is EquipmentState.PLANNED_STOP)
    assert planned == 90 * 60_000


def test_stops_outside_the_shift_are_ignored_and_no_calendar_is_round_the_clock() -> None:
    assert with_planned_stops([SHIFT], [PlannedBreak(at(15), at(16), "x")]) == (SHIFT,)
    days = round_the_clock(date(2026, 3, 1), date(2026, 3, 2))
    assert [(w.start, w.end) for w in days] == [(at(0), at(24)), (at(24), at(48))]


def test_recorded_stops_fill_offline_time_only() -> None:
    intervals = [
        interval(EquipmentState.RUNNING, at(6), at(7)),
        interval(EquipmentState.OFFLINE, at(7), at(8)),
        interval(EquipmentState.RUNNING, at(8), at(9)),
    ]
    result = overlay_recorded_stops(intervals, [RecordedStop(at(6, 30), at(7, 30), "material")])
    states = [(i.state, i.start, i.end, i.cause) for i in result]
    assert states == [
        (EquipmentState.RUNNING, at(6), at(6, 30), None),
        (EquipmentState.RUNNING, at(6, 30), at(7), None),
        (EquipmentState.DOWN, at(7), at(7, 30), "material"),
        (EquipmentState.OFFLINE, at(7, 30), at(8), None),
        (EquipmentState.RUNNING, at(8), at(9), None),
    ]


def test_execution_spans_carry_order_operation_and_product() -> None:
    opened = ContextSpan(at(0), at(0), "PO-1", "10", "WS-100")
    other = ContextSpan(at(0), at(0), "PO-2", "10", "WS-200")
    spans = spans_from_events(
        [(at(7), "1", opened), (at(9), "1", None), (at(10), "1", opened), (at(11), "2", other)],
        until=at(12),
    )
    assert [(s.start, s.end, s.order) for s in spans] == [
        (at(7), at(9), "PO-1"),
        (at(10), at(11), "PO-1"),  # a new start closes the operation running
        (at(11), at(12), "PO-2"),
    ]
    tagged = apply_context([interval(EquipmentState.RUNNING, at(6), at(12))], spans)
    assert [(i.start, i.context.order) for i in tagged] == [
        (at(6), None),
        (at(7), "PO-1"),
        (at(9), None),
        (at(10), "PO-1"),
        (at(11), "PO-2"),
    ]


def test_maintenance_rules() -> None:
    assert check_rule("run_hours", Decimal(100), None, None).value == "run_hours"
    with pytest.raises(RuleViolation, match="takes neither"):
        check_rule("cycle_count", Decimal(5), timedelta(hours=1), None)
    intervals = [
        interval(EquipmentState.RUNNING, at(6), at(8)),
        StateInterval(
            Context("M1"),
            EquipmentState.PLANNED_STOP,
            at(8),
            at(9),
            machine_state=EquipmentState.RUNNING,
        ),
        interval(EquipmentState.DOWN, at(9), at(10)),
    ]
    assert run_hours(intervals) == 3
    assert stops_in_window([at(1), at(5), at(9)], at(10), timedelta(hours=6)) == 2
    assert is_due(Decimal(2), Decimal(2), open_request=False)
    assert not is_due(Decimal(2), Decimal(3), open_request=True)
