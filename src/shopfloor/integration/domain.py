"""The rules of outbound delivery, pure: who subscribes how, when to try again, how a
webhook is signed and checked, and which events travel together in one message.

No database, no network: the relay (`service.py`) and the transports apply these rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shopfloor.integration.subscribers import ShiftPattern, Subscriber

__all__ = [
    "AGGREGATE_NAMESPACE",
    "Group",
    "Member",
    "ShiftPattern",
    "Subscriber",
    "WebhookVerificationError",
    "aggregate_id",
    "backoff_delay",
    "close_groups",
    "group_key",
    "nats_subject",
    "needs_stream_check",
    "sign",
    "signature_header",
    "signing_key",
    "verify_webhook",
]

# --------------------------------------------------------------------------- backoff


def backoff_delay(attempts: int, *, base: float, cap: float, seed: str = "") -> timedelta:
    """How long to wait after the `attempts`-th failed try: base · 2^(attempts-1), at most
    `cap`, plus up to 25 % jitter derived from `seed` (the message id) so a receiver coming
    back from an outage is not hit by every retry in the same second, yet the schedule of
    one message is reproducible."""
    exponent = max(attempts - 1, 0)
    delay = cap if exponent >= 60 else min(cap, base * (2**exponent))
    digest = hashlib.sha256(f"{seed}:{attempts}".encode()).digest()
    jitter = int.from_bytes(digest[:4], "big") / 2**32 * 0.25
    return timedelta(seconds=delay * (1 + jitter))


def backoff_schedule(subscriber: Subscriber, seed: str = "") -> list[timedelta]:
    """The waits between the tries of one message, until it would be dead-lettered."""
    return [
        backoff_delay(n, base=subscriber.backoff_base_seconds, cap=subscriber.backoff_cap_seconds,
                      seed=seed)
        for n in range(1, subscriber.max_attempts)
    ]  # fmt: skip


# ------------------------------------------------------------------ Standard Webhooks

TOLERANCE_SECONDS = 300


class WebhookVerificationError(ValueError):
    """The request is not a genuine, fresh webhook from shopfloor: do not process it."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_`."""
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is base64 text, optionally prefixed whsec_") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` (the Standard Webhooks scheme)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per configured secret, space-separated: during a rotation the old and
    the new secret both sign, so a receiver holding either one accepts the message."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets)


def verify_webhook(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received webhook; returns its `webhook-id` (the key to deduplicate on).

    For receivers: pass the raw body exactly as received and every secret you accept.
    A timestamp more than `tolerance` seconds (5 minutes) away from `now` is refused, so a
    captured request cannot be replayed later; so is a request no secret signed.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("missing or malformed webhook headers") from exc
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("webhook timestamp is too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("webhook timestamp is too far in the future")
    expected = {sign(secret, message_id, timestamp, body) for secret in secrets}
    for candidate in offered:
        if any(hmac.compare_digest(candidate, wanted) for wanted in expected):
            return message_id
    raise WebhookVerificationError("no valid webhook signature")


# ------------------------------------------------------------------- NATS JetStream


def nats_subject(prefix: str, site: str, event_type: str) -> str:
    """`<prefix>.<site>.<event type>`; a site code's dots and wildcards become `_` so that
    the site is always exactly one subject token."""
    token = "".join("_" if ch in ". *>\t" else ch for ch in site) or "_"
    return f"{prefix}.{token}.{event_type}"


def needs_stream_check(
    first_attempt_at: datetime | None, now: datetime, window: timedelta, margin: timedelta
) -> bool:
    """JetStream drops a repeated `Nats-Msg-Id` only within its duplicate window. A message
    first tried so long ago that an earlier publish may have left the window must not be
    published again blindly: the stream is searched for it first."""
    return first_attempt_at is not None and now - first_attempt_at >= window - margin


# ----------------------------------------------------------------------- aggregation

AGGREGATE_NAMESPACE = uuid.UUID("6f1d7c1e-3b0a-5d55-9a53-5e0e1f5a0b11")
OPERATION_COMPLETED = "operation.completed"


@dataclass(frozen=True)
class Member:
    """An event waiting, for one aggregating subscriber, for its group to close."""

    position: int
    event_id: str
    event_type: str
    group_key: str
    occurred_at: datetime


@dataclass(frozen=True)
class Group:
    """Events that leave as one message; the lead (the newest) carries the attempts."""

    message_id: str
    group_key: str
    lead_position: int
    positions: tuple[int, ...]


def aggregate_id(group_key: str, event_ids: Iterable[str]) -> str:
    """A UUIDv5 over the group and the sorted ids of its events: the same events always
    make the same message id, so a receiver deduplicates a re-sent aggregate too."""
    name = group_key + "|" + ",".join(sorted(event_ids))
    return str(uuid.uuid5(AGGREGATE_NAMESPACE, name))


def group_key(
    subscriber: Subscriber, glue: Mapping[str, object], occurred_at: datetime
) -> str | None:
    """Which group an event waits in for this subscriber; None: it goes on its own.

    Per completed operation: events carrying an order and an operation number wait for that
    operation's `operation.completed`. Per shift: every event waits for the end of the shift
    it occurred in (plus the grace time for late reports).
    """
    if subscriber.aggregation == "operation":
        order, operation = glue.get("erp_order_id"), glue.get("operation_no")
        if order is None or operation is None:
            return None
        return f"operation|{order}|{operation}"
    if subscriber.aggregation == "shift" and subscriber.shifts is not None:
        start, _end = subscriber.shifts.window(occurred_at)
        return f"shift|{start.isoformat()}"
    return None


def close_groups(
    subscriber: Subscriber,
    held: Sequence[Member],
    *,
    completed_keys: Iterable[str],
    now: datetime,
) -> list[Group]:
    """The groups that are complete now.

    An operation's group closes with its `operation.completed`; events arriving for an
    operation that completed before (`completed_keys`) leave as a group of their own.
    A shift's group closes once the shift has ended and its grace time has passed; reports
    recorded later for that shift leave as a further group with its own id.
    """
    by_key: dict[str, list[Member]] = defaultdict(list)
    for member in held:
        by_key[member.group_key].append(member)
    done = set(completed_keys)
    groups = []
    for key, members in sorted(by_key.items()):
        if not _is_closed(subscriber, key, members, done, now):
            continue
        ordered = sorted(members, key=lambda m: m.position)
        groups.append(
            Group(
                message_id=aggregate_id(key, (m.event_id for m in ordered)),
                group_key=key,
                lead_position=ordered[-1].position,
                positions=tuple(m.position for m in ordered),
            )
        )
    return groups


def _is_closed(
    subscriber: Subscriber, key: str, members: list[Member], done: set[str], now: datetime
) -> bool:
    if subscriber.aggregation == "operation":
        return key in done or any(m.event_type == OPERATION_COMPLETED for m in members)
    if subscriber.aggregation == "shift" and subscriber.shifts is not None:
        _start, end = subscriber.shifts.window(members[0].occurred_at)
        return now >= end + subscriber.shifts.grace
    return True


def aggregate_type(subscriber: Subscriber) -> str:
    """The event type of an aggregated message."""
    return "shift.summary" if subscriber.aggregation == "shift" else "operation.summary"


def summarise(events: Sequence[Mapping[str, object]]) -> dict[str, int]:
    """How many events of each type an aggregated message carries."""
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        counts[str(event["type"])] += 1
    return dict(sorted(counts.items()))
