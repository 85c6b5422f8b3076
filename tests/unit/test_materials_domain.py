from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shopfloor.kernel.errors import InvalidTransition, RuleViolation
from shopfloor.materials import domain
from shopfloor.materials.domain import Edge, walk

D = Decimal
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


# ---- lot status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "status", "expected"),
    [
        ("released", "on_hold", "on_hold"),
        ("released", "quarantined", "quarantined"),
        ("on_hold", "quarantined", "quarantined"),
        ("on_hold", "released", "released"),
        ("quarantined", "released", "released"),
        ("released", "consumed", "consumed"),
        ("quarantined", "expired", "expired"),
    ],
)
def test_lot_status_machine_allows(current, status, expected):
    command = domain.lot_status_command(status)
    assert domain.LOT_FLOW.target(command, current) == expected


@pytest.mark.parametrize(
    ("current", "status"),
    [
        ("consumed", "released"),
        ("expired", "released"),
        ("on_hold", "consumed"),
        ("released", "released"),
        ("quarantined", "on_hold"),
    ],
)
def test_lot_status_machine_refuses(current, status):
    with pytest.raises(InvalidTransition):
        domain.LOT_FLOW.target(domain.lot_status_command(status), current)


def test_unknown_lot_status_is_refused():
    with pytest.raises(RuleViolation, match="not a lot status"):
        domain.lot_status_command("blocked")


def test_new_lot_must_start_usable_or_blocked_and_have_known_origin():
    domain.check_initial_lot("released", "erp_receipt")
    domain.check_initial_lot("quarantined", "floor")
    with pytest.raises(RuleViolation):
        domain.check_initial_lot("consumed", "floor")
    with pytest.raises(RuleViolation):
        domain.check_initial_lot("released", "supplier")


def test_only_released_unexpired_lots_may_be_consumed():
    today = date(2026, 3, 2)
    assert domain.consumption_problem("L1", "released", None, today) is None
    assert domain.consumption_problem("L1", "released", today, today) is None
    assert "expired on 2026-03-01" in (
        domain.consumption_problem("L1", "released", date(2026, 3, 1), today) or ""
    )
    assert "on hold" in (domain.consumption_problem("L1", "on_hold", None, today) or "")
    assert "quarantined" in (domain.consumption_problem("L1", "quarantined", None, today) or "")


# ---- norm and overuse --------------------------------------------------------------------


def test_within_norm_needs_no_reason():
    result = domain.check_norm("CABLE", D(38), D(2), D(40), D(0), None)
    assert (result.actual, result.excess, result.over) == (D(40), D(0), False)


def test_above_norm_without_reason_is_refused_with_the_numbers():
    with pytest.raises(RuleViolation) as refused:
        domain.check_norm("CABLE", D(40), D(2), D(40), D(0), "  ")
    assert "42 against a norm of 40 (tolerance 0%)" in refused.value.detail
    assert refused.value.extra["excess"] == "2"


def test_above_norm_with_reason_is_accepted_and_reports_excess():
    result = domain.check_norm("CABLE", D(40), D(2), D(40), D(0), "repair")
    assert result.over and result.excess == D(2)
    assert result.describe() == "42 against a norm of 40 (tolerance 0%)"


def test_tolerance_widens_the_norm():
    assert not domain.check_norm("FASTENER", D(160), D(8), D(160), D(5), None).over
    with pytest.raises(RuleViolation, match=r"168\.5 against a norm of 160"):
        domain.check_norm("FASTENER", D(160), D("8.5"), D(160), D(5), None)


def test_taking_back_never_needs_a_reason():
    result = domain.check_norm("CABLE", D(45), D(-2), D(40), D(0), None)
    assert result.actual == D(43)


# ---- substitution ------------------------------------------------------------------------


def test_only_approved_alternatives_substitute():
    assert domain.check_substitution("BOARD", "BOARD-B", {"BOARD-B": D(1)}) == D(1)
    with pytest.raises(RuleViolation, match="not an approved alternative for CABLE"):
        domain.check_substitution("CABLE", "CABLE-X", {})


def test_substitute_quantity_follows_the_ratio():
    assert domain.substitute_quantity(D(10), D(2)) == D(20)
    assert domain.as_original_quantity(D(20), D(2)) == D(10)
    with pytest.raises(RuleViolation):
        domain.substitute_quantity(D(1), D(0))


# ---- move kinds and signs ------------------------------------------------------------------


def test_moves_are_positive_and_reversals_negative():
    for kind in domain.MOVE_KINDS:
        domain.check_move(kind, D(1), reversal=False)
        domain.check_move(kind, D(-1), reversal=True)
    with pytest.raises(RuleViolation):
        domain.check_move("consume", D(0), reversal=False)
    with pytest.raises(RuleViolation):
        domain.check_move("consume", D(-1), reversal=False)
    with pytest.raises(RuleViolation):
        domain.check_move("consume", D(1), reversal=True)
    with pytest.raises(RuleViolation):
        domain.check_move("transfer", D(1), reversal=False)


def test_sign_of_each_move_kind():
    assert domain.stock_effect("produce", D(3)) == D(3)
    assert domain.stock_effect("return", D(3)) == D(3)
    assert domain.stock_effect("consume", D(3)) == D(-3)
    assert domain.stock_effect("scrap", D(3)) == D(-3)
    assert domain.stock_effect("issue", D(3)) == D(0)
    assert domain.consumption_effect("consume", D(3)) == D(3)
    assert domain.consumption_effect("return", D(3)) == D(-3)
    assert domain.consumption_effect("consume", D(-3)) == D(-3)  # a reversal negates
    assert domain.consumption_effect("produce", D(3)) == D(0)


def test_returns_and_consumption_reversals_stay_within_what_was_consumed():
    domain.check_return("CABLE", D(2), D(2))
    with pytest.raises(RuleViolation, match="consumed only 1 net"):
        domain.check_return("CABLE", D(2), D(1))
    with pytest.raises(RuleViolation):
        domain.check_consumption_reversal("CABLE", D(5), D(3))


def test_a_fact_is_reversed_once_with_a_reason():
    assert (
        domain.check_reversal("x", 1, is_reversal=False, already_reversed=False, reason=" typo ")
        == "typo"
    )
    with pytest.raises(RuleViolation, match="already been reversed"):
        domain.check_reversal("x", 1, is_reversal=False, already_reversed=True, reason="r")
    with pytest.raises(RuleViolation, match="itself a reversal"):
        domain.check_reversal("x", 1, is_reversal=True, already_reversed=False, reason="r")
    with pytest.raises(RuleViolation, match="needs a reason"):
        domain.check_reversal("x", 1, is_reversal=False, already_reversed=False, reason="")


def test_fact_time_defaults_to_server_clock_and_refuses_the_future():
    assert domain.fact_time(None, NOW) == NOW
    earlier = NOW - timedelta(hours=1)
    assert domain.fact_time(earlier, NOW) == earlier
    assert domain.fact_time(NOW + timedelta(minutes=4), NOW)  # within clock skew
    with pytest.raises(RuleViolation, match="in the future"):
        domain.fact_time(NOW + timedelta(minutes=10), NOW)
    with pytest.raises(RuleViolation, match="time zone"):
        domain.fact_time(datetime(2026, 3, 2, 5, 0), NOW)


def test_order_keys_give_the_glue():
    keys = domain.OrderKeys("PO-1", 10, "WC-1", "B1", "R1", None)
    assert keys.glue() == {"erp_order_id": "PO-1", "operation_no": 10, "work_center": "WC-1"}


# ---- genealogy ---------------------------------------------------------------------------

BOARD, CABLE, FG, PALLET, SCREW = ("lot", 1), ("lot", 2), ("lot", 3), ("lot", 4), ("lot", 5)
EDGES = [Edge(BOARD, FG), Edge(CABLE, FG), Edge(SCREW, BOARD), Edge(FG, PALLET)]


def test_backward_walk_finds_everything_that_went_in():
    found = walk(EDGES, FG, "backward")
    assert [(r.node, r.depth, r.via) for r in found] == [
        (BOARD, 1, FG),
        (CABLE, 1, FG),
        (SCREW, 2, BOARD),
    ]


def test_forward_walk_finds_where_a_lot_went():
    found = walk(EDGES, SCREW, "forward")
    assert [r.node for r in found] == [BOARD, FG, PALLET]


def test_walk_is_cycle_safe_and_lists_each_node_once():
    edges = [*EDGES, Edge(PALLET, SCREW), Edge(BOARD, FG)]
    found = walk(edges, FG, "backward")
    assert sorted(r.node for r in found) == [BOARD, CABLE, PALLET, SCREW]


def test_walk_from_a_leaf_finds_nothing_and_direction_is_checked():
    assert walk(EDGES, SCREW, "backward") == []
    with pytest.raises(RuleViolation):
        walk(EDGES, FG, "sideways")
