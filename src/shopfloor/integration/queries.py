"""Read side of delivery: where each subscriber stands, and its dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopfloor.integration.tables import IntDelivery as D
from shopfloor.kernel.clock import as_utc
from shopfloor.platform.outbox import OutboxEvent as E


@dataclass(frozen=True)
class SubscriberStatus:
    subscriber: str
    counts: dict[str, int]
    oldest_pending: datetime | None

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class DeadLetter:
    subscriber: str
    position: int
    event_id: str
    message_id: str
    event_type: str
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None


def not_fanned_out(session: Session) -> int:
    """Outbox events no relay has picked up yet (no subscriber has a row for them)."""
    return int(session.scalar(select(func.count()).where(E.status == "pending")) or 0)


def status(session: Session, names: list[str]) -> list[SubscriberStatus]:
    """Per subscriber: rows by status, and the recording time of the oldest event still
    waiting (pending or held) — how far behind the receiver is."""
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for name, state, count in session.execute(
        select(D.subscriber, D.status, func.count()).group_by(D.subscriber, D.status)
    ):
        counts.setdefault(name, {})[state] = int(count)
    oldest = dict(
        session.execute(
            select(D.subscriber, func.min(E.recorded_at))
            .join(E, E.position == D.position)
            .where(D.status.in_(("pending", "held", "grouped")))
            .group_by(D.subscriber)
        ).all()
    )
    return [
        SubscriberStatus(name, by_status, _aware(oldest.get(name)))
        for name, by_status in sorted(counts.items())
    ]


def _aware(moment: object) -> datetime | None:
    """min() over a UTC column comes back without the column's type on SQLite (text)."""
    if moment is None:
        return None
    return as_utc(moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment)))


def dead_letters(
    session: Session, subscriber: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """Dead deliveries, newest attempt first, with the error the receiver last gave."""
    query = (
        select(D.subscriber, D.position, E.event_id, D.message_id, E.type, D.attempts,
               D.last_attempt_at, D.last_error)
        .join(E, E.position == D.position)
        .where(D.status == "dead")
        .order_by(D.last_attempt_at.desc(), D.position.desc())
        .limit(limit)
    )  # fmt: skip
    if subscriber:
        query = query.where(D.subscriber == subscriber)
    return [DeadLetter(*row) for row in session.execute(query)]
