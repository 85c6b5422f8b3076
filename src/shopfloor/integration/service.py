"""The relay's use cases: claim what is due, then settle what the receivers answered.

Claiming is one short transaction; settling is another; sending happens between them,
outside any transaction. The worker loop (`shopfloor.workers.relay`) owns both commits —
nothing here commits.

1. Fan-out: outbox events still `pending` (the outbox's own status) are locked — on
   PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite under the write lock — and marked
   `dispatched`. Because the outbox status is read, not a position cursor, an event whose
   transaction commits after a later-numbered one is never skipped. Events an aggregating
   subscriber waits for get `held` rows; the others are claimed for their first attempt by
   one `int_claim` row (positions per subscriber, claim time, lease).
2. Claim of retries: due delivery rows (`pending`, `next_attempt_at` passed) are locked the
   same way, their attempt counted and stamped, their lease started (`next_attempt_at` =
   now + lease, `claim` = this pass's token). Claims of dead relays whose lease ran out
   become `pending` rows first.
3. Settle: acknowledged messages become `delivered`; failed ones wait with exponential
   backoff, or become `dead` after the subscriber's maximum attempts. First attempts are
   written as rows only now, and only if this pass still owns its claim; retries only
   where the row still holds this pass's token — a relay whose lease ran out never
   overwrites the work of the one that took over.

Every attempt's time is committed before anything is sent, so the first attempt's time
survives a crash (the JetStream window rule needs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, select, update
from sqlalchemy.orm import Session

from shopfloor.integration import domain
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.statements import (
    DELIVERY,
    EVENT_COLUMNS,
    D,
    E,
    among,
    dispatch_new,
    event_message,
    insert_from_outbox,
    insert_held,
    is_postgres,
    message_columns,
    row_bodies,
    row_body,
)
from shopfloor.integration.subscribers import Subscriber
from shopfloor.integration.tables import IntClaim
from shopfloor.platform.db import to_json
from shopfloor.platform.outbox import SCHEMA_VERSION

_POSITION = attrgetter("position")
LEASE_LOST = "its relay stopped before recording the outcome; sent again"


def claim(
    session: Session,
    subscribers: Sequence[Subscriber],
    *,
    now: datetime,
    limit: int,
    token: str,
    lease: timedelta,
) -> list[Outgoing]:
    """Recover expired claims, fan new events out, close complete aggregation groups, and
    claim up to `limit` due messages per subscriber. Returns the messages to send now."""
    recover_expired(session, now=now)
    claimed = fan_out(session, subscribers, now=now, limit=limit, token=token, lease=lease)
    fresh: dict[str, int] = {}
    for message in claimed:
        fresh[message.subscriber] = fresh.get(message.subscriber, 0) + 1
    for subscriber in subscribers:
        if subscriber.aggregation != "event":
            close_groups(session, subscriber, now=now)
        room = limit - fresh.get(subscriber.name, 0)
        if room > 0:
            claimed += claim_due(session, subscriber, now=now, limit=room, token=token, lease=lease)
    return claimed


def fan_out(
    session: Session,
    subscribers: Sequence[Subscriber],
    *,
    now: datetime,
    limit: int,
    token: str,
    lease: timedelta,
) -> list[Outgoing]:
    """Take new outbox events: `held` rows for the groups they wait for, the rest claimed
    for their first attempt under this pass's token."""
    if not subscribers:
        return []
    grouping = any(s.aggregation != "event" for s in subscribers)
    rows = sorted(dispatch_new(session, limit, grouping), key=_POSITION)
    if not rows:
        return []
    bodies = row_bodies(rows)
    names = rows[0]._fields  # fields by position: a Row's attributes cost more than the rest
    fields = itemgetter(*(names.index(f) for f in ("position", "event_id", "type", "site")))
    plain = [fields(row) for row in rows]
    outgoing: list[Outgoing] = []
    claimed: dict[str, list[int]] = {}
    for subscriber in subscribers:
        name = subscriber.name
        picked: Sequence[int] = range(len(rows))
        if subscriber.aggregation != "event":
            keys = [domain.group_key(subscriber, row.glue, row.occurred_at) for row in rows]
            held = [(row, key) for row, key in zip(rows, keys, strict=True) if key]
            insert_held(session, name, held)
            picked = [n for n, key in enumerate(keys) if key is None]
        if not picked:
            continue
        claimed[name] = [plain[n][0] for n in picked]
        for n in picked:
            position, event_id, event_type, site = plain[n]
            outgoing.append(Outgoing(name, event_id, event_type, site, bodies[n], position, 1,
                                     None, False, True))  # fmt: skip
    if claimed:
        session.add(IntClaim(token=token, claimed_at=now, lease_until=now + lease,
                             positions=claimed))  # fmt: skip
    return outgoing


def recover_expired(session: Session, *, now: datetime) -> int:
    """Claims whose relay did not settle them within the lease (it died, or hangs) become
    `pending` rows, due now, their first attempt counted: at least once, same ids."""
    expired = session.scalars(
        select(IntClaim)
        .where(IntClaim.lease_until <= now)
        .order_by(IntClaim.lease_until)
        .limit(20)
        .with_for_update(skip_locked=True)
    ).all()
    for lost in expired:
        for name, positions in lost.positions.items():
            insert_from_outbox(session, name, positions, status="pending",
                               first_attempt_at=lost.claimed_at, next_attempt_at=now,
                               last_error=LEASE_LOST)  # fmt: skip
        session.delete(lost)
    return len(expired)


def claim_due(
    session: Session,
    subscriber: Subscriber,
    *,
    now: datetime,
    limit: int,
    token: str,
    lease: timedelta,
) -> list[Outgoing]:
    """Lock and claim this subscriber's due rows (retries, released aggregates, retried
    dead letters, replays, rows whose relay died during its lease)."""
    due = session.execute(
        select(D.position, D.message_id, D.group_key, D.attempts, D.first_attempt_at)
        .where(D.subscriber == subscriber.name, D.status == "pending", D.next_attempt_at <= now)
        .order_by(D.next_attempt_at, D.position)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return []
    positions = [row.position for row in due]
    session.execute(
        update(D)
        .where(D.subscriber == subscriber.name, among(session, D.position, positions, BigInteger))
        .values(claim=token, attempts=D.attempts + 1, last_attempt_at=now,
                next_attempt_at=now + lease)
    )  # fmt: skip
    session.execute(
        update(D)
        .where(D.subscriber == subscriber.name, among(session, D.position, positions, BigInteger),
               D.first_attempt_at.is_(None))
        .values(first_attempt_at=now)
    )  # fmt: skip
    singles = [row for row in due if row.group_key is None]
    leads = [row for row in due if row.group_key is not None]
    events = {
        row.position: row
        for row in session.execute(
            select(*message_columns(session)).where(
                among(session, E.position, [r.position for r in singles], BigInteger)
            )
        )
    }
    written = is_postgres(session)
    messages = [
        Outgoing(subscriber.name, row.message_id, events[row.position].type,
                 events[row.position].site, row_body(events[row.position], written),
                 row.position, row.attempts + 1, row.first_attempt_at)
        for row in singles
    ]  # fmt: skip
    messages += [_aggregate(session, subscriber, lead) for lead in leads]
    return messages


def _aggregate(session: Session, subscriber: Subscriber, lead: Any) -> Outgoing:
    """The aggregated message of a group: its events in outbox order, with their counts.
    Built from the same rows every time, so a retry sends the same content."""
    rows = session.execute(
        select(*EVENT_COLUMNS)
        .join(D, D.position == E.position)
        .where(
            D.subscriber == subscriber.name,
            D.message_id == lead.message_id,
            D.group_key.is_not(None),
        )
        .order_by(E.position)
    ).all()
    events = [event_message(row) for row in rows]
    kind = domain.aggregate_type(subscriber)
    site = rows[-1].site
    body = {
        "id": lead.message_id,
        "type": kind,
        "site": site,
        "group": lead.group_key,
        "occurred_from": min(row.occurred_at for row in rows).isoformat(),
        "occurred_to": max(row.occurred_at for row in rows).isoformat(),
        "counts": domain.summarise(events),
        "events": events,
        "schema_version": SCHEMA_VERSION,
    }
    return Outgoing(subscriber.name, lead.message_id, kind, site, to_json(body).encode(),
                    lead.position, lead.attempts + 1, lead.first_attempt_at,
                    aggregated=True)  # fmt: skip


def close_groups(session: Session, subscriber: Subscriber, *, now: datetime) -> int:
    """Release the held groups of an aggregating subscriber that are complete: the lead
    row becomes `pending` (due now) under the group's stable id, the others `grouped`."""
    held = session.execute(
        select(D.position, E.event_id, E.type, D.group_key, E.occurred_at)
        .join(E, E.position == D.position)
        .where(D.subscriber == subscriber.name, D.status == "held")
        .with_for_update(skip_locked=True, of=D)
    ).all()
    if not held:
        return 0
    members = [domain.Member(r.position, r.event_id, r.type, str(r.group_key), r.occurred_at)
               for r in held]  # fmt: skip
    completed = session.scalars(
        select(D.group_key)
        .join(E, E.position == D.position)
        .where(
            D.subscriber == subscriber.name,
            D.status != "held",
            D.group_key.in_({m.group_key for m in members}),
            E.type == domain.OPERATION_COMPLETED,
        )
    ).all()
    groups = domain.close_groups(
        subscriber, members, completed_keys=[k for k in completed if k], now=now
    )
    for group in groups:
        session.execute(
            update(D)
            .where(D.subscriber == subscriber.name, D.position.in_(group.positions))
            .values(message_id=group.message_id, status="grouped")
        )
        session.execute(
            update(D)
            .where(D.subscriber == subscriber.name, D.position == group.lead_position)
            .values(status="pending", next_attempt_at=now)
        )
    return len(groups)


def settle(
    session: Session,
    subscribers: Sequence[Subscriber],
    messages: Sequence[Outgoing],
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    token: str,
    claimed_at: datetime,
) -> None:
    """Record the receivers' answers for the messages this pass claimed. A first attempt
    that was not sent (its lease was nearly over) waits as `pending`, due now."""
    by_name = {s.name: s for s in subscribers}
    fresh: list[Outcome] = []
    retried: list[Outcome] = []
    for outcome in outcomes:
        (fresh if outcome.message.fresh else retried).append(outcome)
    unsent: list[Outgoing] = []
    if len(outcomes) < len(messages):  # one outcome per message sent
        answered = {(o.message.subscriber, o.message.message_id) for o in outcomes}
        unsent = [m for m in messages if m.fresh and (m.subscriber, m.message_id) not in answered]
    if (fresh or unsent) and _release_claim(session, token):
        _settle_first_attempts(session, by_name, fresh, unsent, now=now, claimed_at=claimed_at)
    if retried:
        _settle_retries(session, by_name, retried, now, token)
        _follow_leads(session, [o.message for o in retried if o.message.aggregated], now)


def _release_claim(session: Session, token: str) -> bool:
    """Whether this pass still owned its claim (not recovered after its lease)."""
    result = session.execute(delete(IntClaim).where(IntClaim.token == token))
    return bool(getattr(result, "rowcount", 0))


def _failure(subscriber: Subscriber, outcome: Outcome, now: datetime) -> tuple[str, Any]:
    """Dead after the last allowed attempt (or a failure no retry can fix); else pending,
    due after the backoff."""
    message = outcome.message
    if outcome.give_up or message.attempts >= subscriber.max_attempts:
        return "dead", None
    wait = domain.backoff_delay(
        message.attempts, base=subscriber.backoff_base_seconds,
        cap=subscriber.backoff_cap_seconds, seed=message.message_id,
    )  # fmt: skip
    return "pending", now + wait


def _settle_first_attempts(
    session: Session,
    by_name: dict[str, Subscriber],
    outcomes: Sequence[Outcome],
    unsent: Sequence[Outgoing],
    *,
    now: datetime,
    claimed_at: datetime,
) -> None:
    delivered: dict[str, list[int]] = {}
    for outcome in outcomes:
        message = outcome.message
        if outcome.ok:
            delivered.setdefault(message.subscriber, []).append(message.lead)
            continue
        status, due = _failure(by_name[message.subscriber], outcome, now)
        insert_from_outbox(session, message.subscriber, [message.lead], status=status,
                           first_attempt_at=claimed_at, next_attempt_at=due,
                           last_error=outcome.error)  # fmt: skip
    for name, positions in delivered.items():
        insert_from_outbox(session, name, positions, status="delivered",
                           first_attempt_at=claimed_at, delivered_at=now)  # fmt: skip
    for message in unsent:
        insert_from_outbox(session, message.subscriber, [message.lead], status="pending",
                           first_attempt_at=claimed_at, next_attempt_at=now)  # fmt: skip


def _settle_retries(
    session: Session,
    by_name: dict[str, Subscriber],
    outcomes: Sequence[Outcome],
    now: datetime,
    token: str,
) -> None:
    delivered: dict[str, list[int]] = {}
    changes: list[dict[str, Any]] = []
    for outcome in outcomes:
        message = outcome.message
        if outcome.ok:
            delivered.setdefault(message.subscriber, []).append(message.lead)
            continue
        status, due = _failure(by_name[message.subscriber], outcome, now)
        changes.append({"p": message.lead, "s": message.subscriber, "st": status, "nx": due,
                        "er": outcome.error})  # fmt: skip
    for name, positions in delivered.items():
        session.execute(
            update(D)
            .where(D.subscriber == name, among(session, D.position, positions, BigInteger),
                   D.claim == token)
            .values(status="delivered", delivered_at=now, claim=None, next_attempt_at=None,
                    last_error=None)
        )  # fmt: skip
    if changes:
        session.connection().execute(
            update(DELIVERY)
            .where(D.position == bindparam("p"), D.subscriber == bindparam("s"),
                   D.claim == token)
            .values(status=bindparam("st"), next_attempt_at=bindparam("nx"),
                    last_error=bindparam("er"), claim=None),
            changes,
        )  # fmt: skip


def _follow_leads(session: Session, leads: Sequence[Outgoing], now: datetime) -> None:
    """The other rows of an aggregated message share its fate once it is settled."""
    for lead in leads:
        status = session.scalar(
            select(D.status).where(D.subscriber == lead.subscriber, D.position == lead.lead)
        )
        if status in ("delivered", "dead"):
            session.execute(
                update(D)
                .where(D.subscriber == lead.subscriber, D.message_id == lead.message_id,
                       D.group_key.is_not(None),
                       D.status == "grouped")
                .values(status=status, delivered_at=now if status == "delivered" else None)
            )  # fmt: skip
