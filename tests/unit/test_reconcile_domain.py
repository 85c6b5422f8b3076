"""The matching rules of reconciliation, without a database or an ERP."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal as D

import pytest

from shopfloor.integration.erp.ports import ErpPosting
from shopfloor.integration.reconcile.domain import (
    causes_of,
    per_operation_kinds,
    reconcile_order,
)
from shopfloor.integration.reconcile.report import FactEntry, OrderHead, summarise
from shopfloor.integration.reconcile.scope import (
    ShiftSpec,
    choose,
    day_window,
    plant_timezone,
    shift_window,
)
from shopfloor.kernel.errors import RuleViolation

HEAD = OrderHead("MO-1", "WS-100", "pcs", "released", "completed")
NUMBERS = iter(range(1, 10_000))


def fact(
    kind="consumption",
    quantity="1",
    *,
    item="CABLE",
    lot=None,
    op=10,
    delivery="delivered",
    flag=None,
    error=None,
    order="MO-1",
    unit="pcs",
    in_window=True,
) -> FactEntry:
    n = next(NUMBERS)
    return FactEntry(
        order,
        op,
        kind,
        item,
        lot,
        D(quantity),
        "min" if kind == "labour" else unit,
        f"fact {n}",
        f"event-{n}",
        "material.consumed",
        delivery,
        error,
        flag,
        datetime(2026, 3, 2, 6, tzinfo=UTC),
        in_window,
    )


def posting(
    kind="consumption",
    quantity="1",
    *,
    item="CABLE",
    lot=None,
    op=None,
    state="done",
    unit="pcs",
    events=(),
) -> ErpPosting:
    return ErpPosting(
        "MO-1",
        kind,
        item,
        D(quantity),
        unit,
        f"stock.move,{next(NUMBERS)}",
        op,
        lot,
        state,
        tuple(events),
    )


def only_line(facts, postings, per_operation=frozenset()):
    result = reconcile_order(HEAD, facts, postings, per_operation)
    assert len(result.lines) == 1, result.lines
    return result.lines[0]


def test_equal_quantities_match_whatever_the_deliveries_say():
    facts = [fact(quantity="24", lot="L1"), fact(quantity="16", lot="L1", delivery="pending")]
    line = only_line(facts, [posting(quantity="40", lot="L1")])
    assert line.matches and line.difference == 0 and line.causes == ()


def test_a_reversal_nets_out():
    facts = [fact(quantity="5"), fact(quantity="-5"), fact(quantity="3")]
    assert only_line(facts, [posting(quantity="3")]).matches


def test_undelivered_facts_are_named_by_why_and_add_up_to_the_difference():
    facts = [
        fact(quantity="10"),
        fact(quantity="4", delivery="dead", error="Tryton has no production MO-1"),
        fact(quantity="3", delivery="unclaimed"),
        fact(quantity="2", delivery="held"),
        fact(quantity="1", delivery="pending", flag="erp_not_released"),
        fact(quantity="6", delivery="not_sent"),
    ]
    line = only_line(facts, [posting(quantity="10")])
    by_cause = {c.cause: c for c in line.causes}
    assert list(by_cause) == [
        "fact_on_unreleased_order",
        "dead_lettered",
        "not_yet_delivered",
        "not_sent_to_subscriber",
    ]
    assert by_cause["not_yet_delivered"].quantity == 5
    assert by_cause["fact_on_unreleased_order"].quantity == 1
    dead = by_cause["dead_lettered"]
    assert dead.quantity == 4 and "Tryton has no production MO-1" in dead.detail
    assert dead.events[0].error == "Tryton has no production MO-1"
    assert sum(c.quantity for c in line.causes) == line.difference == 16


def test_a_flagged_fact_delivered_anyway_is_no_difference():
    line = only_line([fact(quantity="2", flag="erp_not_released")], [posting(quantity="2")])
    assert line.matches


def test_all_delivered_but_erp_differs_is_changed_in_erp_with_both_quantities():
    line = only_line(
        [fact("output", "18", item="WS-100", lot="WS-L1")],
        [
            posting("output", "18", item="WS-100", lot="WS-L1"),
            posting("output", "1", item="WS-100", lot="WS-L1"),
        ],
    )
    [cause] = line.causes
    assert (line.shopfloor, line.erp) == (18, 19)
    assert cause.cause == "changed_in_erp" and cause.quantity == -1
    assert cause.detail == "shopfloor delivered 18, ERP has 19"


def test_erp_posting_without_a_fact_is_not_in_shopfloor():
    line = only_line([], [posting("return", "3", item="HOUSING")])
    assert [c.cause for c in line.causes] == ["not_in_shopfloor"]
    assert line.shopfloor == 0 and line.erp == 3 and line.causes[0].quantity == -3


def test_delivered_but_still_open_in_erp_is_not_yet_booked():
    open_move = posting(quantity="20", state="draft")
    line = only_line([fact(quantity="12")], [open_move])
    assert [c.cause for c in line.causes] == ["not_yet_booked"]
    assert line.erp == 0 and line.erp_open == 20


def test_a_fact_without_an_event_is_unexplained():
    line = only_line([fact(quantity="2", delivery="no_event")], [])
    assert [c.cause for c in line.causes] == ["unexplained"]
    assert (
        summarise([reconcile_order(HEAD, [fact(delivery="no_event")], [], frozenset())]).unexplained
        == 1
    )


def test_different_units_are_never_converted():
    line = only_line([fact(quantity="2", unit="m")], [posting(quantity="200", unit="cm")])
    assert [c.cause for c in line.causes] == ["unit_differs"]


def test_causes_of_is_empty_when_the_sums_agree():
    assert causes_of([fact(quantity="2", delivery="dead")], D(2), D(0), 0) == ()


def test_erp_per_order_kinds_sum_operations_and_say_so():
    facts = [
        fact("scrap", "1", item="WS-100", op=10),
        fact("scrap", "1", item="WS-100", op=20),
        fact("labour", "55", op=10),
        fact("output", "18", item="WS-100", lot="L", op=30),
    ]
    postings = [
        posting("scrap", "2", item="WS-100"),
        posting("output", "18", item="WS-100", lot="L"),
        posting("labour", "55", item="WS-100", op="10", unit="min"),
        posting("labour", "0", item="WS-100", op="20", unit="min"),
    ]
    per_operation = per_operation_kinds(postings)
    assert per_operation == {"labour"}
    result = reconcile_order(HEAD, facts, postings, per_operation)
    lines = {(line.kind, line.operation_no): line for line in result.lines}
    assert set(lines) == {("output", None), ("scrap", None), ("labour", 10), ("labour", 20)}
    assert all(line.matches for line in result.lines)
    assert "compared per order (ERP's scrap carries no operation): operations 10, 20" in (
        lines[("scrap", None)].note or ""
    )
    assert "last operation (30)" in (lines[("output", None)].note or "")
    assert lines[("labour", 10)].note is None and lines[("labour", 20)].shopfloor == 0
    totals = {t.operation_no: t for t in result.operations}
    assert totals[10].labour_minutes == 55 and totals[10].erp_labour_minutes == 55
    assert totals[30].good == 18 and totals[20].scrap == 1


def test_open_plan_records_without_facts_are_a_note_not_a_difference():
    postings = [
        posting(quantity="40", state="draft"),
        posting("output", "20", item="WS-100", state="draft"),
    ]
    result = reconcile_order(
        HEAD, [fact(quantity="24", lot="L1", delivery="unclaimed")], postings, frozenset()
    )
    assert [(line.lot, [c.cause for c in line.causes]) for line in result.lines] == [
        ("L1", ["not_yet_delivered"])
    ]
    assert any("2 open record(s)" in note for note in result.notes)


def test_summary_counts_lines_by_cause_and_window_part():
    facts = [
        fact(quantity="3", delivery="pending"),
        fact(quantity="2", in_window=False),
        fact("return", "1", delivery="dead"),
    ]
    result = reconcile_order(HEAD, facts, [posting(quantity="2")], frozenset(), windowed=True)
    summary = summarise([result])
    assert (summary.orders_checked, summary.lines, summary.matching, summary.differences) == (
        1,
        2,
        0,
        2,
    )
    assert summary.by_cause == {"dead_lettered": 1, "not_yet_delivered": 1}
    consumption = next(line for line in result.lines if line.kind == "consumption")
    assert consumption.window == 3 and consumption.shopfloor == 5


# --- scope -------------------------------------------------------------------------------

SHIFTS = [
    ShiftSpec("2-SHIFT", "EARLY", time(6), 480, "Europe/Vienna"),
    ShiftSpec("2-SHIFT", "LATE", time(14), 480, "Europe/Vienna"),
]
NOW = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)


def test_a_shift_by_code_or_start_is_its_occurrence_in_utc():
    by_code = shift_window("2026-03-02/early", SHIFTS)
    by_start = shift_window("2026-03-02/06:00", SHIFTS)
    assert by_code.start == by_start.start == datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert by_code.end == datetime(2026, 3, 2, 13, tzinfo=UTC) and by_code.windowed
    with pytest.raises(RuleViolation, match=r"no shift 'night'.*EARLY"):
        shift_window("2026-03-02/night", SHIFTS)
    with pytest.raises(RuleViolation, match="means different times"):
        shift_window("2026-03-02/EARLY", [*SHIFTS, ShiftSpec("X", "EARLY", time(7), 60, "UTC")])


def test_a_day_is_local_to_the_calendars_and_nothing_given_is_today():
    assert plant_timezone(SHIFTS) == "Europe/Vienna" and plant_timezone([]) == "UTC"
    day = choose([], "2026-03-02", None, SHIFTS, NOW)
    assert day == day_window(datetime(2026, 3, 2).date(), "Europe/Vienna")
    assert day.start == datetime(2026, 3, 1, 23, tzinfo=UTC)
    today = choose([], None, None, SHIFTS, NOW)  # 00:30 on the 3rd in Vienna
    assert today.start == datetime(2026, 3, 2, 23, tzinfo=UTC)
    orders = choose(["MO-1", "MO-1", "MO-2"], None, None, [], NOW)
    assert orders.orders == ("MO-1", "MO-2") and not orders.windowed
    with pytest.raises(RuleViolation, match="not more than one"):
        choose(["MO-1"], "2026-03-02", None, [], NOW)
    with pytest.raises(RuleViolation, match="not a date"):
        choose([], "2026-13-02", None, [], NOW)
