"""The seven boundary decisions as pure rules: values, refusals, and the subscriber default."""

from __future__ import annotations

import pytest

from shopfloor.integration.subscribers import (
    SubscriberConfigError,
    erp_postings,
    parse_subscribers,
)
from shopfloor.kernel.boundary import DEFAULT_BOUNDARY, Boundary, BoundaryConfigError
from shopfloor.kernel.context import SYSTEM, CommandContext
from shopfloor.kernel.errors import RuleViolation
from shopfloor.platform.settings import load_settings

ERP_FEED = {"name": "erp-feed", "transport": "erp", "adapter": "rest"}


# --- values and their defaults --------------------------------------------------------------


def test_defaults_keep_a_plant_that_configures_nothing_working_as_before():
    assert (
        Boundary(
            order_origin="both",
            bom_owner="erp",
            lot_creation="erp",
            erp_posting="realtime",
            batch_record="shopfloor",
            deviations="shopfloor",
            finished_goods_cost="erp",
        )
        == DEFAULT_BOUNDARY
    )
    assert CommandContext(actor=SYSTEM).boundary == DEFAULT_BOUNDARY


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("order_origin", "sap", "SHOPFLOOR_ORDER_ORIGIN must be one of erp, mes, both"),
        ("lot_creation", "supplier", "SHOPFLOOR_LOT_CREATION must be one of erp, mes, both"),
        ("erp_posting", "daily", "SHOPFLOOR_ERP_POSTING must be one of realtime, operation"),
        ("bom_owner", "mes", "SHOPFLOOR_BOM_OWNER is fixed at 'erp'"),
        ("batch_record", "erp", "SHOPFLOOR_BATCH_RECORD is fixed at 'shopfloor'"),
        ("deviations", "qms", "SHOPFLOOR_DEVIATIONS is fixed at 'shopfloor'"),
        ("finished_goods_cost", "mes", "SHOPFLOOR_FINISHED_GOODS_COST is fixed at 'erp'"),
    ],
)
def test_values_shopfloor_does_not_offer_are_refused(field, value, message):
    with pytest.raises(BoundaryConfigError, match=message):
        Boundary(**{field: value})


def test_settings_read_the_decisions_from_the_environment_and_refuse_at_start(monkeypatch):
    monkeypatch.setenv("SHOPFLOOR_ORDER_ORIGIN", "mes")
    monkeypatch.setenv("SHOPFLOOR_LOT_CREATION", "both")
    monkeypatch.setenv("SHOPFLOOR_ERP_POSTING", "shift")
    boundary = load_settings().boundary
    assert (boundary.order_origin, boundary.lot_creation, boundary.erp_posting) == (
        "mes",
        "both",
        "shift",
    )
    monkeypatch.setenv("SHOPFLOOR_FINISHED_GOODS_COST", "shopfloor")
    with pytest.raises(ValueError, match="SHOPFLOOR_FINISHED_GOODS_COST is fixed at 'erp'"):
        load_settings()


def test_the_seven_decisions_are_listed_in_order_with_meanings():
    decisions = Boundary(lot_creation="mes").decisions()
    assert [d.number for d in decisions] == [1, 2, 3, 4, 5, 6, 7]
    assert [d.fixed for d in decisions] == [False, True, False, False, True, True, True]
    lots = decisions[2]
    assert (lots.setting, lots.value, lots.options) == (
        "SHOPFLOOR_LOT_CREATION",
        "mes",
        ("erp", "mes", "both"),
    )
    assert "first use" in lots.meaning
    assert all(d.meaning for d in decisions)


# --- 1. where orders originate ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "accepted", "refused"),
    [("erp", ["erp"], ["mes"]), ("mes", ["mes"], ["erp"]), ("both", ["erp", "mes"], [])],
)
def test_order_origin(setting, accepted, refused):
    boundary = Boundary(order_origin=setting)
    for origin in accepted:
        boundary.check_order_origin(origin)
    for origin in refused:
        with pytest.raises(RuleViolation, match=f"SHOPFLOOR_ORDER_ORIGIN={setting}") as raised:
            boundary.check_order_origin(origin)
        assert raised.value.extra["setting"] == "SHOPFLOOR_ORDER_ORIGIN"


# --- 3. where lots are created ------------------------------------------------------------

# (setting, origin, made here) → allowed
LOT_RULES = [
    ("erp", "erp_receipt", False, True),
    ("erp", "floor", True, True),  # the floor always creates lots of what it makes
    ("erp", "floor", False, False),  # purchased material: only from ERP goods receipt
    ("mes", "erp_receipt", False, False),  # ERP lots are refused, not ignored
    ("mes", "erp_receipt", True, False),
    ("mes", "floor", False, True),
    ("mes", "floor", True, True),
    ("both", "erp_receipt", False, True),
    ("both", "floor", False, True),
    ("both", "floor", True, True),
]


@pytest.mark.parametrize(("setting", "origin", "made_here", "allowed"), LOT_RULES)
def test_lot_creation(setting, origin, made_here, allowed):
    boundary = Boundary(lot_creation=setting)
    if allowed:
        boundary.check_new_lot(origin, made_here=made_here)
        return
    with pytest.raises(RuleViolation, match=f"SHOPFLOOR_LOT_CREATION={setting}") as raised:
        boundary.check_new_lot(origin, made_here=made_here)
    assert raised.value.extra["setting"] == "SHOPFLOOR_LOT_CREATION"


def test_lots_are_registered_at_first_use_only_where_the_floor_creates_them():
    assert [Boundary(lot_creation=m).lots_at_first_use for m in ("erp", "mes", "both")] == [
        False,
        True,
        True,
    ]


# --- 4. how inventory movements reach ERP -------------------------------------------------


@pytest.mark.parametrize(
    ("posting", "aggregation"),
    [("realtime", "event"), ("operation", "operation"), ("shift", "shift")],
)
def test_erp_posting_is_the_default_aggregation_of_erp_subscribers(posting, aggregation):
    boundary = Boundary(erp_posting=posting)
    assert boundary.erp_aggregation == aggregation
    entry = {**ERP_FEED, "shift_starts": ["06:00", "14:00", "22:00"]}
    nats = {"name": "bus", "transport": "nats", "url": "nats://x"}
    feed, bus = parse_subscribers([entry, nats], erp_aggregation=boundary.erp_aggregation)
    assert (feed.aggregation, feed.aggregation_from) == (aggregation, "SHOPFLOOR_ERP_POSTING")
    assert (feed.shifts is not None) == (aggregation == "shift")
    # only transport erp follows the plant's posting; other subscribers stay per event
    assert (bus.aggregation, bus.aggregation_from) == ("event", "default")
    assert erp_postings([feed, bus]) == [("erp-feed", aggregation, "SHOPFLOOR_ERP_POSTING")]


def test_an_explicit_aggregation_on_the_subscriber_wins():
    (feed,) = parse_subscribers([{**ERP_FEED, "aggregation": "event"}], erp_aggregation="shift")
    assert (feed.aggregation, feed.aggregation_from, feed.shifts) == ("event", "subscriber", None)
    (feed,) = parse_subscribers([{**ERP_FEED, "aggregation": "operation"}], erp_aggregation="event")
    assert (feed.aggregation, feed.aggregation_from) == ("operation", "subscriber")


def test_shift_posting_needs_the_shift_starts_and_says_where_shift_came_from():
    with pytest.raises(SubscriberConfigError, match="from SHOPFLOOR_ERP_POSTING=shift"):
        parse_subscribers([ERP_FEED], erp_aggregation="shift")
    with pytest.raises(SubscriberConfigError, match="unknown setting"):
        parse_subscribers([{**ERP_FEED, "aggregation_from": "subscriber"}])
