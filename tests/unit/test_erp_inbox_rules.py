"""The inbox's pure rules, the pull cadence in the subscriber configuration, and the REST
adapter's cursor: no database, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shopfloor.integration.erp.rest import _cursor, _validators
from shopfloor.integration.inbox.domain import (
    erp_kind,
    next_pull_after_failure,
    plain_text,
    purge_before,
)
from shopfloor.integration.subscribers import (
    SubscriberConfigError,
    erp_postings,
    parse_subscribers,
    receivers,
)

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_erp_sends_items_boms_routings_and_orders_only():
    assert [erp_kind(k) for k in ("item", "bom", "routing", "order", "orders")] == [
        "items",
        "boms",
        "routings",
        "orders",
        "orders",
    ]
    for other in ("uom", "certifications", "user"):
        with pytest.raises(ValueError, match="not something ERP sends"):
            erp_kind(other)


def test_documents_are_kept_at_least_a_week():
    assert purge_before(NOW) == NOW - timedelta(days=7)
    assert purge_before(NOW, keep_days=1) == NOW - timedelta(days=7)
    assert purge_before(NOW, keep_days=30) == NOW - timedelta(days=30)


def test_a_failing_pull_backs_off_doubling_up_to_an_hour():
    waits = [(next_pull_after_failure(NOW, 30, n) - NOW).total_seconds() for n in (1, 2, 3)]
    assert waits == [30, 60, 120]
    assert next_pull_after_failure(NOW, 30, 10_000) - NOW == timedelta(hours=1)
    assert next_pull_after_failure(NOW, 0.5, 1) - NOW == timedelta(seconds=5)


def test_stored_text_has_no_control_characters_and_fits():
    assert plain_text("bad\x00value", 100) == "bad?value"
    assert plain_text("x" * 50, 10) == "x" * 9 + "…"


def test_pull_seconds_only_for_erp_subscribers():
    (erp,) = parse_subscribers(
        [{"name": "erp", "transport": "erp", "adapter": "rest", "pull_seconds": "15"}]
    )
    assert erp.pull_seconds == 15.0 and erp.url == ""
    for wrong in (
        {"name": "a", "transport": "erp", "adapter": "rest", "pull_seconds": -1},
        {"name": "b", "transport": "erp", "adapter": "rest", "pull_seconds": "nan"},
        {"name": "c", "transport": "nats", "url": "nats://x", "pull_seconds": 5},
    ):
        with pytest.raises(SubscriberConfigError, match="pull_seconds"):
            parse_subscribers([wrong])


def test_the_rest_cursor_keeps_etag_and_last_modified():
    response = httpx.Response(
        200, headers={"etag": '"abc"', "last-modified": "Mon, 02 Mar 2026 05:00:00 GMT"}
    )
    cursor = _cursor(response)
    assert _validators(cursor) == {
        "etag": '"abc"',
        "last_modified": "Mon, 02 Mar 2026 05:00:00 GMT",
    }
    assert _cursor(httpx.Response(200)) is None
    assert _validators(None) == {} and _validators("not json") == {} and _validators("[1]") == {}


def test_a_pull_only_erp_posts_nothing_and_only_an_erp_that_pulls_may_be_one():
    (tryton, bus) = parse_subscribers([
        {"name": "tryton", "transport": "erp", "adapter": "tryton", "pull_seconds": 60,
         "post_facts": False},
        {"name": "bus", "transport": "nats", "url": "nats://127.0.0.1:4222"},
    ])  # fmt: skip
    assert not tryton.post_facts and bus.post_facts
    assert receivers([tryton, bus]) == (bus,)
    assert erp_postings([tryton, bus]) == []  # nothing reaches ERP through it
    for wrong, says in (
        ({"name": "a", "transport": "erp", "adapter": "rest", "post_facts": False}, "pulls"),
        ({"name": "b", "transport": "nats", "url": "nats://x", "post_facts": False}, "pulls"),
        ({"name": "c", "transport": "erp", "adapter": "rest", "pull_seconds": 9,
          "post_facts": "false"}, "true or false"),
    ):  # fmt: skip
        with pytest.raises(SubscriberConfigError, match=says):
            parse_subscribers([wrong])
