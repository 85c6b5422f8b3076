from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shopfloor.execution import domain
from shopfloor.execution.domain import Certificate
from shopfloor.kernel.errors import RuleViolation
from shopfloor.orders.domain import Output

D = Decimal
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


# ---- qualification -----------------------------------------------------------------------


def test_open_ended_or_unexpired_certificate_qualifies():
    assert (
        domain.qualification_problem("Olga", "assembly", [Certificate(date(2025, 1, 1), None)], DAY)
        is None
    )
    assert domain.qualification_problem("Olga", "assembly", [Certificate(DAY, DAY)], DAY) is None


def test_expired_certificate_names_skill_and_expiry():
    problem = domain.qualification_problem(
        "Tom", "assembly", [Certificate(date(2025, 3, 1), date(2026, 2, 28))], DAY
    )
    assert problem == "Tom is not qualified for 'assembly': the certificate expired on 2026-02-28"


def test_revoked_future_or_missing_certificates_do_not_qualify():
    revoked = [Certificate(date(2025, 1, 1), None, revoked=True)]
    assert "holds no certificate for 'assembly'" in (
        domain.qualification_problem("Nina", "assembly", revoked, DAY) or ""
    )
    future = [Certificate(date(2026, 4, 1), None)]
    assert "valid from 2026-04-01" in (
        domain.qualification_problem("Nina", "assembly", future, DAY) or ""
    )
    assert domain.qualification_problem("Nina", "assembly", [], DAY)


def test_a_renewed_certificate_wins_over_an_expired_one():
    certificates = [Certificate(date(2024, 1, 1), date(2025, 1, 1)), Certificate(DAY, None)]
    assert domain.qualification_problem("Tom", "assembly", certificates, DAY) is None


# ---- the order follows its operations -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "order_status", "any_running", "expected"),
    [
        ("start", "dispatched", True, "start"),
        ("start", "paused", True, "start"),
        ("start", "running", True, None),
        ("resume", "paused", True, "start"),
        ("pause", "running", False, "pause"),
        ("pause", "running", True, None),
        ("complete", "running", False, "pause"),
        ("complete", "paused", False, None),
    ],
)
def test_order_command_after_operation_change(command, order_status, any_running, expected):
    assert domain.order_command_after(command, order_status, any_running) == expected


def test_order_completes_only_when_every_live_operation_is_completed():
    domain.check_order_complete({10: "completed", 20: "aborted", 30: "completed"})
    with pytest.raises(RuleViolation, match=r"operation 20 \(running\)"):
        domain.check_order_complete({10: "completed", 20: "running"})
    with pytest.raises(RuleViolation, match="no operations"):
        domain.check_order_complete({10: "aborted"})


def test_last_previous_and_next_live_operation_skip_aborted_ones():
    statuses = {10: "completed", 20: "aborted", 30: "running", 40: "aborted"}
    assert domain.last_operation(statuses) == 30
    assert domain.previous_live_operation(statuses, 30) == 10
    assert domain.previous_live_operation(statuses, 10) is None
    assert domain.next_live_operation(statuses, 10) == 30
    assert domain.next_live_operation(statuses, 30) is None


# ---- reports -----------------------------------------------------------------------------


def test_reports_only_on_running_or_paused_operations():
    domain.check_reportable(10, "running")
    domain.check_reportable(10, "paused")
    with pytest.raises(RuleViolation, match="operation 10 is completed"):
        domain.check_reportable(10, "completed")


def test_scrap_needs_a_scrap_or_defect_code():
    domain.check_quality_code("scrap", "defect", given=True)
    domain.check_quality_code("scrap", "scrap", given=True)
    with pytest.raises(RuleViolation, match="scrap needs a defect or scrap code"):
        domain.check_quality_code("scrap", None, given=False)
    with pytest.raises(RuleViolation, match="not a rework code"):
        domain.check_quality_code("scrap", "rework", given=True)


def test_rework_needs_a_rework_or_defect_code_and_good_takes_none():
    domain.check_quality_code("rework", "rework", given=True)
    domain.check_quality_code("rework", "defect", given=True)
    with pytest.raises(RuleViolation):
        domain.check_quality_code("rework", "scrap", given=True)
    domain.check_quality_code("good", None, given=False)
    with pytest.raises(RuleViolation, match="good output carries no"):
        domain.check_quality_code("good", None, given=True)


def test_report_quantity_kind_and_serial_rules():
    with pytest.raises(RuleViolation, match="positive"):
        domain.check_report("good", D(0), serial=False)
    with pytest.raises(RuleViolation, match="not a report kind"):
        domain.check_report("bad", D(1), serial=False)
    with pytest.raises(RuleViolation, match="one unit at a time"):
        domain.check_report("good", D(2), serial=True)
    domain.check_report("good", D(1), serial=True)


def test_output_nets_reversals():
    result = domain.output_of([("good", D(10)), ("scrap", D(2)), ("good", D(-3)), ("rework", D(1))])
    assert (result.good, result.scrap, result.rework) == (D(7), D(2), D(1))


def test_good_may_be_taken_back_only_as_far_as_the_next_operation_allows():
    current = Output(good=D(20))
    domain.check_good_reversal(10, D(5), current, 20, Output(good=D(10), scrap=D(5)))
    domain.check_good_reversal(30, D(5), current, None, None)
    with pytest.raises(RuleViolation, match="operation 20 already processed 18"):
        domain.check_good_reversal(10, D(5), current, 20, Output(good=D(16), scrap=D(2)))


# ---- intervals ---------------------------------------------------------------------------


def test_interval_minutes():
    assert domain.interval_minutes(NOW - timedelta(minutes=40), NOW, NOW) == D(40)
    with pytest.raises(RuleViolation, match="after the start"):
        domain.interval_minutes(NOW, NOW, NOW)
    with pytest.raises(RuleViolation, match="in the future"):
        domain.interval_minutes(NOW, NOW + timedelta(hours=1), NOW)
    with pytest.raises(RuleViolation, match="time zone"):
        domain.interval_minutes(datetime(2026, 3, 2, 5, 0), datetime(2026, 3, 2, 5, 30), NOW)


def test_overlapping_periods():
    hour = timedelta(hours=1)
    recorded = [(NOW - 3 * hour, NOW - 2 * hour)]
    assert domain.overlapping(recorded, NOW - 2 * hour, NOW - hour) is None  # touching is fine
    assert domain.overlapping(recorded, NOW - 4 * hour, NOW - 3 * hour) is None
    assert domain.overlapping(recorded, NOW - 150 * hour / 60, NOW) == recorded[0]
