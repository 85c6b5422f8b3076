"""Master-data rules, without a database."""

import itertools
from datetime import date, time
from decimal import Decimal as D

import pytest

from shopfloor.kernel.errors import RuleViolation
from shopfloor.masterdata import domain
from shopfloor.masterdata.domain import (
    AlternativeSpec,
    BomLineSpec,
    BreakSpec,
    Conversion,
    OperationSpec,
)

DIMENSIONS = {
    "pcs": "count",
    "box": "count",
    "pal": "count",
    "kg": "mass",
    "g": "mass",
    "m": "length",
}
GENERIC = [
    Conversion("kg", "g", D(1000)),
    Conversion("box", "pcs", D(10)),
    Conversion("pal", "box", D(40)),
]


# --- unit conversion ---------------------------------------------------------------------


def test_direct_conversion():
    assert domain.convert(D("2.5"), "kg", "g", GENERIC, DIMENSIONS) == D("2500")


def test_inverse_conversion():
    assert domain.convert(D(250), "g", "kg", GENERIC, DIMENSIONS) == D("0.25")


def test_chained_conversion_over_two_steps_both_directions():
    assert domain.convert(D(1), "pal", "pcs", GENERIC, DIMENSIONS) == D(400)
    assert domain.convert(D(200), "pcs", "pal", GENERIC, DIMENSIONS) == D("0.5")


def test_same_unit_is_unchanged():
    assert domain.convert(D("7.25"), "m", "m", [], DIMENSIONS) == D("7.25")


def test_result_is_exact_to_six_places():
    thirds = [Conversion("box", "pcs", D(3))]
    assert domain.convert(D(1), "pcs", "box", thirds, DIMENSIONS) == D("0.333333")


def test_item_specific_conversion_takes_precedence_over_generic():
    specific = [*GENERIC, Conversion("box", "pcs", D(12), item_specific=True)]
    assert domain.convert(D(2), "box", "pcs", specific, DIMENSIONS) == D(24)
    # also when the item-specific one is recorded the other way round
    reverse = [*GENERIC, Conversion("pcs", "box", D("0.125"), item_specific=True)]
    assert domain.convert(D(2), "box", "pcs", reverse, DIMENSIONS) == D(16)


def test_no_path_is_refused_naming_both_units():
    with pytest.raises(RuleViolation, match="no conversion from m to pcs"):
        domain.convert(D(1), "m", "pcs", GENERIC, {**DIMENSIONS, "pcs": "length"})


def test_different_dimensions_need_an_item_specific_conversion():
    with pytest.raises(RuleViolation, match=r"kg \(mass\) to pcs \(count\)"):
        domain.convert(D(1), "kg", "pcs", GENERIC, DIMENSIONS)
    # a generic conversion across dimensions is never used
    sneaky = [*GENERIC, Conversion("kg", "pcs", D(4))]
    with pytest.raises(RuleViolation, match="different dimensions"):
        domain.convert(D(1), "kg", "pcs", sneaky, DIMENSIONS)
    cable = [*GENERIC, Conversion("pcs", "g", D(50), item_specific=True)]
    assert domain.convert(D(2), "kg", "pcs", cable, DIMENSIONS) == D(40)


def test_conversion_factor_rules():
    with pytest.raises(RuleViolation, match="positive"):
        domain.check_factor("kg", "g", D(0))
    with pytest.raises(RuleViolation, match="itself"):
        domain.check_factor("kg", "kg", D(1))
    with pytest.raises(RuleViolation, match="kg measures mass and pcs measures count"):
        domain.check_generic_dimensions("kg", "pcs", DIMENSIONS)
    domain.check_generic_dimensions("kg", "g", DIMENSIONS)


# --- effective versions --------------------------------------------------------------------

VERSIONS = [
    ("A", date(2026, 1, 1), date(2026, 3, 31)),
    ("B", date(2026, 4, 1), None),
]


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2025, 12, 31), None),
        (date(2026, 1, 1), "A"),
        (date(2026, 3, 31), "A"),  # the last day is inclusive
        (date(2026, 4, 1), "B"),
        (date(2030, 1, 1), "B"),
    ],
)
def test_effective_version_on_a_day(on, expected):
    assert domain.effective_version(VERSIONS, on) == expected


def test_overlapping_versions_the_latest_to_take_effect_wins():
    overlapping = [("1", date(2026, 1, 1), None), ("2", date(2026, 2, 1), None)]
    assert domain.effective_version(overlapping, date(2026, 1, 15)) == "1"
    assert domain.effective_version(overlapping, date(2026, 3, 1)) == "2"


def test_version_cannot_end_before_it_starts():
    with pytest.raises(RuleViolation, match="version 3 would end on 2026-01-01"):
        domain.check_effective_span("3", date(2026, 2, 1), date(2026, 1, 1))
    domain.check_effective_span("3", date(2026, 2, 1), date(2026, 2, 1))


# --- hierarchies ---------------------------------------------------------------------------


def test_each_equipment_level_sits_exactly_one_below_its_parent():
    chain = domain.EQUIPMENT_LEVELS
    assert chain == ("enterprise", "site", "area", "line", "work_center", "equipment")
    domain.check_equipment_parent("enterprise", None)
    for parent, child in itertools.pairwise(chain):
        domain.check_equipment_parent(child, parent)


@pytest.mark.parametrize(
    ("level", "parent", "message"),
    [
        ("enterprise", "site", "an enterprise is the top of the equipment hierarchy"),
        ("line", "site", "a line must sit under an area, not under a site"),
        ("work_center", None, "must sit under a line, not under no parent"),
        ("site", "equipment", "a site must sit under an enterprise, not under an equipment"),
        ("machine", None, "'machine' is not an equipment hierarchy level"),
    ],
)
def test_equipment_parent_refused(level, parent, message):
    with pytest.raises(RuleViolation, match=message):
        domain.check_equipment_parent(level, parent)


def test_reason_tree_levels():
    domain.check_reason_parent("category", None)
    domain.check_reason_parent("reason", "category")
    domain.check_reason_parent("detail", "reason")
    with pytest.raises(RuleViolation, match="a detail must sit under a reason"):
        domain.check_reason_parent("detail", "category")
    with pytest.raises(RuleViolation, match="has no parent"):
        domain.check_reason_parent("category", "reason")
    with pytest.raises(RuleViolation, match="not under no parent"):
        domain.check_reason_parent("reason", None)


def test_quality_kinds_and_dimensions():
    for kind in ("scrap", "defect", "rework"):
        domain.check_quality_kind(kind)
    with pytest.raises(RuleViolation, match="'waste' is not a quality code kind"):
        domain.check_quality_kind("waste")
    domain.check_dimension("mass")
    with pytest.raises(RuleViolation, match="'colour' is not a dimension"):
        domain.check_dimension("colour")


# --- certifications ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "revoked", "valid"),
    [
        (date(2026, 1, 31), False, False),  # before it starts
        (date(2026, 2, 1), False, True),  # first day
        (date(2026, 12, 31), False, True),  # expiry day still counts
        (date(2027, 1, 1), False, False),  # expired
        (date(2026, 6, 1), True, False),  # revoked
    ],
)
def test_certification_validity(on, revoked, valid):
    assert domain.certification_valid(date(2026, 2, 1), date(2026, 12, 31), revoked, on) is valid


def test_open_ended_certification_and_date_order():
    assert domain.certification_valid(date(2020, 1, 1), None, False, date(2099, 1, 1))
    with pytest.raises(RuleViolation, match="cannot expire"):
        domain.check_certification_dates(date(2026, 2, 1), date(2026, 1, 1))


# --- shifts --------------------------------------------------------------------------------


def test_shift_with_breaks_inside():
    domain.check_shift(
        "EARLY", 480, [0, 1, 2, 3, 4], [BreakSpec("lunch", 240, 30), BreakSpec("tea", 120, 15)]
    )


@pytest.mark.parametrize(
    ("minutes", "weekdays", "breaks", "message"),
    [
        (
            480,
            [0],
            [BreakSpec("late", 470, 15)],
            "ends 485 minutes in, after the shift ends at 480",
        ),
        (480, [0], [BreakSpec("a", 100, 30), BreakSpec("b", 120, 10)], "'b' overlaps 'a'"),
        (480, [0], [BreakSpec("none", 10, 0)], "positive length"),
        (480, [0], [BreakSpec("early", -5, 10)], "positive length"),
        (0, [0], [], "must last 1 to 1440 minutes"),
        (1500, [0], [], "must last 1 to 1440 minutes"),
        (480, [], [], "at least one"),
        (480, [7], [], "0 \\(Monday\\) to 6"),
        (480, [1, 1], [], "listed twice"),
    ],
)
def test_shift_refused(minutes, weekdays, breaks, message):
    with pytest.raises(RuleViolation, match=message):
        domain.check_shift("EARLY", minutes, weekdays, breaks)


def test_shift_pattern_ignores_order_of_weekdays_and_breaks():
    one = domain.shift_pattern(
        "Early", time(6), 480, [2, 0], [BreakSpec("b", 240, 30), BreakSpec("a", 120, 15)]
    )
    two = domain.shift_pattern(
        "Early", time(6), 480, [0, 2], [BreakSpec("a", 120, 15), BreakSpec("b", 240, 30)]
    )
    assert one == two
    assert one.weekdays == (0, 2)


def test_time_zone_must_be_known():
    domain.check_timezone("Europe/Berlin")
    with pytest.raises(RuleViolation, match="'Mars/Olympus' is not a known time zone"):
        domain.check_timezone("Mars/Olympus")


# --- BOM and routing versions ---------------------------------------------------------------

LINES = [
    BomLineSpec(1, "HOUSING", D(1), "pcs"),
    BomLineSpec(2, "CABLE", D(2), "pcs", D(5), 10, (AlternativeSpec("CABLE-B", D("1.5")),)),
]


def test_valid_bom_passes():
    domain.check_bom("WS-100", "1", D(1), LINES)


@pytest.mark.parametrize(
    ("quantity", "lines", "message"),
    [
        (D(0), LINES, "must be for a positive quantity, not 0"),
        (D(1), [], "has no lines"),
        (
            D(1),
            [LINES[0], BomLineSpec(1, "X", D(1), "pcs")],
            "line number 1 is not positive or repeated",
        ),
        (D(1), [BomLineSpec(1, "WS-100", D(1), "pcs")], "cannot consume itself"),
        (D(1), [BomLineSpec(1, "X", D(0), "pcs")], "quantity of X must be positive"),
        (D(1), [BomLineSpec(1, "X", D(1), "pcs", D(-1))], "tolerance cannot be negative"),
        (
            D(1),
            [BomLineSpec(1, "X", D(1), "pcs", alternatives=(AlternativeSpec("Y", D(0)),))],
            "substitute Y needs a positive ratio",
        ),
        (
            D(1),
            [BomLineSpec(1, "X", D(1), "pcs", alternatives=(AlternativeSpec("X"),))],
            "must differ from the line's item",
        ),
        (
            D(1),
            [
                BomLineSpec(
                    1, "X", D(1), "pcs", alternatives=(AlternativeSpec("Y"), AlternativeSpec("Y"))
                )
            ],
            "listed twice",
        ),
    ],
)
def test_bom_refused(quantity, lines, message):
    with pytest.raises(RuleViolation, match=message):
        domain.check_bom("WS-100", "1", quantity, lines)


def test_bom_content_ignores_line_order_and_trailing_zeros():
    reordered = [
        BomLineSpec(
            2, "CABLE", D("2.000"), "pcs", D("5.0"), 10, (AlternativeSpec("CABLE-B", D("1.50")),)
        ),
        BomLineSpec(1, "HOUSING", D("1.0"), "pcs"),
    ]
    assert domain.bom_content(D(1), LINES) == domain.bom_content(D("1.000000"), reordered)
    changed = [LINES[0], BomLineSpec(2, "CABLE", D(3), "pcs", D(5), 10)]
    assert domain.bom_content(D(1), LINES) != domain.bom_content(D(1), changed)


def test_routing_rules_and_content():
    ops = [
        OperationSpec(20, "test", "TEST"),
        OperationSpec(10, "assembly", "ASSY", D(15), D(60), "SOLDER"),
    ]
    domain.check_routing("WS-100", "1", ops)
    assert domain.routing_content(ops) == domain.routing_content(list(reversed(ops)))
    with pytest.raises(RuleViolation, match="has no operations"):
        domain.check_routing("WS-100", "1", [])
    with pytest.raises(RuleViolation, match="positive and distinct"):
        domain.check_routing(
            "WS-100", "1", [OperationSpec(10, "a", "A"), OperationSpec(10, "b", "B")]
        )
    with pytest.raises(RuleViolation, match="operation 10: times cannot be negative"):
        domain.check_routing("WS-100", "1", [OperationSpec(10, "a", "A", D(-1))])
