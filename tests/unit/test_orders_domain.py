"""Order and operation rules, without a database."""

from decimal import Decimal as D

import pytest

from shopfloor.kernel.errors import InvalidTransition, RuleViolation
from shopfloor.orders import domain
from shopfloor.orders.domain import OPERATION_FLOW, ORDER_FLOW, Output

# --- the execution status of an order -----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "current", "target"),
    [
        ("release_to_floor", "queued", "dispatched"),
        ("start", "dispatched", "running"),
        ("start", "paused", "running"),
        ("pause", "running", "paused"),
        ("complete", "running", "completed"),
        ("complete", "paused", "completed"),
        ("complete", "dispatched", "completed"),
        ("abort", "queued", "aborted"),
        ("abort", "running", "aborted"),
    ],
)
def test_order_transitions(command, current, target):
    assert ORDER_FLOW.target(command, current) == target


@pytest.mark.parametrize(
    ("command", "current"),
    [
        ("release_to_floor", "dispatched"),
        ("start", "queued"),
        ("complete", "queued"),
        ("abort", "completed"),
        ("abort", "aborted"),
        ("pause", "paused"),
    ],
)
def test_order_transition_refused(command, current):
    with pytest.raises(InvalidTransition, match=f"production order that is {current}"):
        ORDER_FLOW.target(command, current)
    assert not ORDER_FLOW.can(command, current)


def test_unknown_command_and_message_names_allowed_sources():
    with pytest.raises(InvalidTransition, match="unknown command 'explode'"):
        ORDER_FLOW.target("explode", "queued")
    with pytest.raises(InvalidTransition) as refused:
        ORDER_FLOW.target("release_to_floor", "running")
    assert refused.value.detail == (
        "Cannot release to floor a production order that is running; "
        "only a production order that is queued can be."
    )
    assert refused.value.extra == {"current": "running", "command": "release_to_floor"}


def test_statuses_of_each_machine():
    assert ORDER_FLOW.statuses == {
        "queued",
        "dispatched",
        "running",
        "paused",
        "completed",
        "aborted",
    }
    assert OPERATION_FLOW.statuses == ORDER_FLOW.statuses


# --- the status of an operation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "current", "target"),
    [
        ("dispatch", "queued", "dispatched"),
        ("start", "dispatched", "running"),
        ("pause", "running", "paused"),
        ("resume", "paused", "running"),
        ("complete", "running", "completed"),
        ("complete", "paused", "completed"),
        ("abort", "dispatched", "aborted"),
    ],
)
def test_operation_transitions(command, current, target):
    assert OPERATION_FLOW.target(command, current) == target


@pytest.mark.parametrize(
    ("command", "current"),
    [
        ("start", "queued"),  # must be dispatched first
        ("start", "paused"),  # paused operations resume, they do not start again
        ("complete", "dispatched"),
        ("resume", "running"),
        ("dispatch", "dispatched"),
        ("abort", "completed"),
    ],
)
def test_operation_transition_refused(command, current):
    with pytest.raises(InvalidTransition, match=f"operation that is {current}"):
        OPERATION_FLOW.target(command, current)


# --- ERP's business status -----------------------------------------------------------------


def test_erp_status_moves_forward_or_stays():
    assert domain.erp_status_change("created", "released") is True
    assert domain.erp_status_change("created", "closed") is True
    assert domain.erp_status_change("released", "released") is False


def test_erp_status_never_goes_back_and_must_be_known():
    with pytest.raises(RuleViolation, match="cannot go back from closed to released"):
        domain.erp_status_change("closed", "released")
    with pytest.raises(RuleViolation, match="'cancelled' is not an ERP status"):
        domain.erp_status_change("created", "cancelled")


def test_discrepancy_flag_from_erp_status():
    assert domain.discrepancy("created") == "erp_not_released"
    assert domain.discrepancy("released") is None
    assert domain.discrepancy("closed") == "erp_closed"


# --- routing order -----------------------------------------------------------------------


def test_start_needs_every_earlier_operation_started():
    domain.check_routing_order(20, "start", {10: "running"})
    domain.check_routing_order(30, "start", {10: "completed", 20: "paused"})
    with pytest.raises(RuleViolation, match="operation 30 cannot start before operation 10"):
        domain.check_routing_order(30, "start", {10: "dispatched", 20: "dispatched"})


def test_complete_needs_every_earlier_operation_completed():
    domain.check_routing_order(20, "complete", {10: "completed"})
    with pytest.raises(RuleViolation, match="operation 20 cannot complete before operation 10"):
        domain.check_routing_order(20, "complete", {10: "running"})


def test_other_commands_and_first_operation_are_free():
    domain.check_routing_order(10, "start", {})
    domain.check_routing_order(20, "pause", {10: "dispatched"})
    assert domain.previous_operation([10, 20, 30], 30) == 20
    assert domain.previous_operation([10, 20, 30], 10) is None


# --- quantity flow -----------------------------------------------------------------------


def test_available_input_is_order_quantity_then_previous_good():
    assert domain.available_input(D(20), None) == D(20)
    assert domain.available_input(D(20), Output(good=D(18), scrap=D(2))) == D(18)
    assert Output(good=D(18), scrap=D(2), rework=D(1)).processed == D(20)


def test_output_within_what_reached_the_operation():
    domain.check_output(30, "good", D(18), Output(), D(20))
    domain.check_output(30, "scrap", D(2), Output(good=D(18)), D(20))
    domain.check_output(30, "rework", D(5), Output(good=D(20)), D(20))  # rework is not counted


def test_output_beyond_input_refused():
    with pytest.raises(RuleViolation, match="21 units good and scrap would exceed the 20 units"):
        domain.check_output(10, "scrap", D(3), Output(good=D(18)), D(20))


def test_reversal_may_not_take_a_total_below_zero():
    domain.check_output(10, "good", D(-2), Output(good=D(5)), D(20))
    with pytest.raises(RuleViolation, match="a scrap total cannot go below zero"):
        domain.check_output(10, "scrap", D(-1), Output(), D(20))
    with pytest.raises(RuleViolation, match="a rework total cannot go below zero"):
        domain.check_output(10, "rework", D(-1), Output(), D(20))


def test_scaled_norm_for_the_whole_order():
    assert domain.scaled_norm(D(2), D(1), D(20)) == D(40)
    assert domain.scaled_norm(D(8), D(10), D(20)) == D(16)
    with pytest.raises(RuleViolation, match="positive quantity"):
        domain.scaled_norm(D(1), D(0), D(20))


def test_the_message_reads_well_for_an_operation_with_several_allowed_statuses():
    with pytest.raises(InvalidTransition) as refused:
        OPERATION_FLOW.target("complete", "queued")
    assert refused.value.detail.startswith("Cannot complete an operation that is queued; ")
    assert refused.value.detail.endswith("only an operation that is paused or running can be.")
