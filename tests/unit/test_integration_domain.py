"""Delivery rules without a database: signatures (Standard Webhooks), backoff, aggregation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time, timedelta

import pytest

from shopfloor.integration import domain
from shopfloor.integration.domain import Member, WebhookVerificationError
from shopfloor.integration.subscribers import (
    ShiftPattern,
    Subscriber,
    SubscriberConfigError,
    parse_subscribers,
)

# The test vector published with the Standard Webhooks specification (and its reference
# libraries): this exact secret, id, timestamp and body give exactly this signature.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def _headers(signature: str, timestamp: int = SPEC_TIMESTAMP) -> dict[str, str]:
    return {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": signature}  # fmt: skip


def test_signature_reproduces_the_standard_webhooks_test_vector():
    assert domain.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    # the whsec_ prefix is optional, as in the reference implementations
    bare = SPEC_SECRET.removeprefix("whsec_")
    assert domain.sign(bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_verifier_accepts_the_vector_and_returns_the_id_to_deduplicate_on():
    headers = _headers(SPEC_SIGNATURE)
    assert domain.verify_webhook([SPEC_SECRET], headers, SPEC_BODY, now=SPEC_TIMESTAMP) == SPEC_ID


def test_rotation_signs_with_every_secret_and_either_one_verifies():
    header = domain.signature_header([OTHER_SECRET, SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP,
                                     SPEC_BODY)  # fmt: skip
    assert header.split() == [domain.sign(OTHER_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
                              SPEC_SIGNATURE]  # fmt: skip
    for receiver_holds in ([SPEC_SECRET], [OTHER_SECRET]):
        domain.verify_webhook(receiver_holds, _headers(header), SPEC_BODY, now=SPEC_TIMESTAMP)


def test_verifier_refuses_old_or_future_timestamps_and_tampering():
    headers = _headers(SPEC_SIGNATURE)
    with pytest.raises(WebhookVerificationError, match="too old"):
        domain.verify_webhook([SPEC_SECRET], headers, SPEC_BODY, now=SPEC_TIMESTAMP + 301)
    with pytest.raises(WebhookVerificationError, match="future"):
        domain.verify_webhook([SPEC_SECRET], headers, SPEC_BODY, now=SPEC_TIMESTAMP - 301)
    domain.verify_webhook([SPEC_SECRET], headers, SPEC_BODY, now=SPEC_TIMESTAMP + 299)
    with pytest.raises(WebhookVerificationError, match="no valid"):
        domain.verify_webhook([SPEC_SECRET], headers, SPEC_BODY + b" ", now=SPEC_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="no valid"):
        domain.verify_webhook([OTHER_SECRET], headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    with pytest.raises(WebhookVerificationError, match="missing"):
        domain.verify_webhook([SPEC_SECRET], {"webhook-id": "x"}, SPEC_BODY)


def test_backoff_doubles_up_to_the_cap_with_bounded_reproducible_jitter():
    delays = [domain.backoff_delay(n, base=2, cap=60, seed="m1").total_seconds()
              for n in range(1, 10)]  # fmt: skip
    for n, delay in enumerate(delays, start=1):
        nominal = min(60, 2 * 2 ** (n - 1))
        assert nominal <= delay <= nominal * 1.25
    assert delays == [domain.backoff_delay(n, base=2, cap=60, seed="m1").total_seconds()
                      for n in range(1, 10)]  # fmt: skip
    assert domain.backoff_delay(500, base=2, cap=60).total_seconds() <= 75
    subscriber = Subscriber("erp", "webhook", "http://x", (OTHER_SECRET,), max_attempts=5)
    assert len(domain.backoff_schedule(subscriber)) == 4


def test_jetstream_window_check_only_for_old_earlier_attempts():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    window, margin = timedelta(hours=2), timedelta(minutes=10)
    assert not domain.needs_stream_check(None, now, window, margin)
    assert not domain.needs_stream_check(now - timedelta(hours=1), now, window, margin)
    assert domain.needs_stream_check(now - timedelta(minutes=111), now, window, margin)


def test_nats_subject_keeps_the_site_one_token():
    assert domain.nats_subject("shopfloor", "plant-1", "operation.completed") == (
        "shopfloor.plant-1.operation.completed"
    )
    assert domain.nats_subject("sf", "a.b *", "lot.created") == "sf.a_b__.lot.created"


def test_aggregate_ids_are_stable_and_derived_from_the_members():
    one = domain.aggregate_id("operation|A|10", ["e2", "e1"])
    assert one == domain.aggregate_id("operation|A|10", ["e1", "e2"])
    assert one != domain.aggregate_id("operation|A|10", ["e1", "e2", "e3"])
    assert one != domain.aggregate_id("operation|A|20", ["e1", "e2"])


T0 = datetime(2026, 3, 2, 7, tzinfo=UTC)


def _member(position: int, event_type: str, key: str, at: datetime = T0) -> Member:
    return Member(position, f"e{position}", event_type, key, at)


def test_operation_groups_close_with_the_completion_and_late_events_go_alone():
    sub = Subscriber("erp", "webhook", "http://x", (OTHER_SECRET,), aggregation="operation")
    assert domain.group_key(sub, {"erp_order_id": "A", "operation_no": 10}, T0) == (
        "operation|A|10"
    )
    assert domain.group_key(sub, {"erp_order_id": "A"}, T0) is None
    held = [_member(1, "operation.started", "operation|A|10"),
            _member(2, "production.reported", "operation|A|10"),
            _member(3, "production.reported", "operation|A|20")]  # fmt: skip
    assert domain.close_groups(sub, held, completed_keys=[], now=T0) == []
    held.append(_member(4, "operation.completed", "operation|A|10"))
    [group] = domain.close_groups(sub, held, completed_keys=[], now=T0)
    assert group.positions == (1, 2, 4) and group.lead_position == 4
    assert group.message_id == domain.aggregate_id("operation|A|10", ["e1", "e2", "e4"])
    late = [_member(9, "fact.reversed", "operation|A|10")]
    [alone] = domain.close_groups(sub, late, completed_keys=["operation|A|10"], now=T0)
    assert alone.positions == (9,)


def test_shift_windows_follow_the_local_clock_and_close_after_the_grace_time():
    pattern = ShiftPattern((time(6), time(14), time(22)), "Europe/Berlin",
                           timedelta(minutes=15))  # fmt: skip
    start, end = pattern.window(datetime(2026, 3, 2, 4, 30, tzinfo=UTC))  # 05:30 local
    assert start == datetime(2026, 3, 1, 21, tzinfo=UTC)
    assert end == datetime(2026, 3, 2, 5, tzinfo=UTC)
    sub = Subscriber("erp", "webhook", "http://x", (OTHER_SECRET,), aggregation="shift",
                     shifts=pattern)  # fmt: skip
    key = domain.group_key(sub, {}, T0)
    held = [_member(1, "production.reported", str(key)), _member(2, "labor.reported", str(key))]
    shift_end = datetime(2026, 3, 2, 13, tzinfo=UTC)
    assert domain.close_groups(sub, held, completed_keys=[], now=shift_end) == []
    [group] = domain.close_groups(sub, held, completed_keys=[],
                                  now=shift_end + timedelta(minutes=15))  # fmt: skip
    assert group.positions == (1, 2)


def test_subscriber_configuration_refuses_missing_or_weak_secrets_and_unknown_settings():
    with pytest.raises(SubscriberConfigError, match="no default"):
        parse_subscribers([{"name": "erp", "transport": "webhook", "url": "http://x"}])
    with pytest.raises(SubscriberConfigError, match="24 to 64"):
        parse_subscribers([{"name": "erp", "transport": "webhook", "url": "http://x",
                            "secrets": ["whsec_c2hvcnQ="]}])  # fmt: skip
    with pytest.raises(SubscriberConfigError, match="unknown setting"):
        parse_subscribers([{"name": "erp", "transport": "nats", "url": "nats://x", "colour": 1}])
    with pytest.raises(SubscriberConfigError, match="unique"):
        parse_subscribers([{"name": "a", "transport": "nats", "url": "nats://x"}] * 2)
    with pytest.raises(SubscriberConfigError, match="shift_starts"):
        parse_subscribers([{"name": "a", "transport": "nats", "url": "n", "aggregation": "shift"}])
    [nats, hook] = parse_subscribers(
        {"subscriber": [
            {"name": "bus", "transport": "nats", "url": "nats://x", "max_attempts": "3"},
            {"name": "erp", "transport": "webhook", "url": "http://x", "secrets": [SPEC_SECRET],
             "aggregation": "shift", "shift_starts": ["06:00", "18:00"], "timezone": "UTC"},
        ]}
    )  # fmt: skip
    assert nats.max_attempts == 3 and nats.duplicate_window == timedelta(hours=2)
    assert hook.shifts is not None and hook.shifts.starts == (time(6), time(18))
