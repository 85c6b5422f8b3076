"""What an operator does about deliveries: retry dead letters, replay delivered events.

Both keep the message ids: a receiver that already applied a message recognises it and
does nothing twice. Both start a fresh attempt count and forget the first-attempt time:
asking for a retry or a replay is an explicit decision to publish again, also on NATS after
the duplicate window (where a consumer deduplicating by `Nats-Msg-Id` still protects it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shopfloor.integration.tables import IntDelivery as D
from shopfloor.platform.outbox import OutboxEvent as E


def retry(session: Session, *, now: datetime, subscriber: str | None = None) -> int:
    """Dead letters back to pending, due now; returns how many messages were revived."""
    query = select(D.subscriber, D.position, D.message_id, D.group_key).where(D.status == "dead")
    if subscriber:
        query = query.where(D.subscriber == subscriber)
    return _reopen(session, session.execute(query).all(), "dead", now)


def replay(
    session: Session, *, since: datetime, now: datetime, subscriber: str | None = None
) -> int:
    """Send again every delivered message holding an event recorded at or after `since`;
    returns how many messages will be sent again."""
    query = (
        select(D.subscriber, D.position, D.message_id, D.group_key)
        .join(E, E.position == D.position)
        .where(D.status == "delivered", E.recorded_at >= since)
    )
    if subscriber:
        query = query.where(D.subscriber == subscriber)
    return _reopen(session, session.execute(query).all(), "delivered", now)


def _reopen(session: Session, rows: Sequence[Any], status: str, now: datetime) -> int:
    """Each message's lead row becomes pending, due now; the other rows of an aggregate
    travel with it again (`grouped`, the newest of them leading)."""
    fresh = {"status": "pending", "attempts": 0, "first_attempt_at": None,
             "next_attempt_at": now, "claim": None, "delivered_at": None}  # fmt: skip
    singles: dict[str, list[int]] = {}
    aggregates: set[tuple[str, str]] = set()
    for row in rows:
        if row.group_key is None:
            singles.setdefault(row.subscriber, []).append(row.position)
        else:
            aggregates.add((row.subscriber, row.message_id))
    for name, positions in singles.items():
        for start in range(0, len(positions), 1000):
            chunk = positions[start : start + 1000]
            session.execute(
                update(D).where(D.subscriber == name, D.position.in_(chunk)).values(**fresh)
            )
    for name, message_id in aggregates:
        members = (D.subscriber == name, D.message_id == message_id, D.group_key.is_not(None))
        lead = session.scalar(select(func.max(D.position)).where(*members, D.status == status))
        session.execute(
            update(D).where(*members, D.status == status).values(status="grouped",
                                                                 delivered_at=None)
        )  # fmt: skip
        session.execute(update(D).where(D.subscriber == name, D.position == lead).values(**fresh))
    return sum(len(p) for p in singles.values()) + len(aggregates)
