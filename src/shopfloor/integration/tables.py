"""The delivery state of every outbox event, per subscriber.

One row per (outbox position, subscriber), created when the relay fans an event out: each
subscriber has its own attempts, backoff and dead letter, so one receiver being down never
holds back another. Statuses:

- `held`: waits for its aggregation group to close (per operation, per shift);
- `pending`: to be sent at `next_attempt_at` (a claimed row's lease ends there too);
- `grouped`: travels inside the aggregated message its group's lead row carries;
- `delivered`: the receiver acknowledged `message_id`;
- `dead`: given up after the subscriber's maximum attempts; `shopfloor outbox retry`.

An event's first attempt needs no row before it is sent: the batch's `int_claim` row
(positions per subscriber, claim time, lease) is committed before sending and deleted when
the outcomes are written as delivery rows. A claim whose lease ran out (its relay died) is
turned into `pending` rows by the next relay. One small row per batch instead of a row per
event and subscriber written twice: the relay's hot path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, UtcDateTime

STATUSES = ("held", "pending", "grouped", "delivered", "dead")


class IntDelivery(Base):
    __tablename__ = "int_delivery"
    __table_args__ = (
        # Partial indexes: a delivered row leaves them, so marking it delivered writes the
        # row and its primary key only (the relay's hot path), and they stay small.
        Index(
            "ix_int_delivery_due",
            "subscriber",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_int_delivery_group",
            "subscriber",
            "message_id",
            postgresql_where=text("group_key IS NOT NULL"),
            sqlite_where=text("group_key IS NOT NULL"),
        ),
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("platform_outbox_event.position"),
        primary_key=True,
    )
    subscriber: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    group_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(36))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(2000))


class IntClaim(Base):
    """A batch of first attempts in flight: which events, for which subscribers, since
    when, and until when its relay holds them."""

    __tablename__ = "int_claim"

    token: Mapped[str] = mapped_column(String(36), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    positions: Mapped[dict[str, Any]] = mapped_column(JSON)
