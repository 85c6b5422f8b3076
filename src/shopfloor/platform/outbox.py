"""The transactional outbox: domain events written in the same transaction as the facts.

A relay delivers them later, at least once; receivers deduplicate on the event id.
Event shape follows the data contract: id, type, occurred_at, recorded_at, site, glue keys,
BOM/routing version, payload, schema_version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Table, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.ids import new_event_id
from shopfloor.platform import deferred
from shopfloor.platform.db import Base, UtcDateTime

SCHEMA_VERSION = 1

EVENT_TYPES = frozenset(
    {
        "work_order.received",
        "work_order.released_to_floor",
        "operation.started",
        "operation.paused",
        "operation.resumed",
        "operation.completed",
        "production.reported",
        "material.consumed",
        "material.returned",
        "labor.reported",
        "downtime.recorded",
        "lot.created",
        "work_order.completed",
        "work_order.aborted",
        "fact.reversed",
        "maintenance.requested",
        "maintenance.started",
        "maintenance.completed",
    }
)


class OutboxEvent(Base):
    __tablename__ = "platform_outbox_event"
    __table_args__ = (
        # Partial: only the events still waiting for the relay, in outbox order; dispatched
        # and delivered ones leave it, so it stays small however long the outbox grows.
        Index(
            "ix_platform_outbox_event_pending",
            "position",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        {"sqlite_autoincrement": True},
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    site: Mapped[str] = mapped_column(String(64))
    glue: Mapped[dict[str, Any]] = mapped_column(JSON)
    bom_version: Mapped[str | None] = mapped_column(String(64))
    routing_version: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    schema_version: Mapped[int] = mapped_column(Integer, default=SCHEMA_VERSION)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(2000))

    def as_message(self) -> dict[str, Any]:
        """The event as it leaves shopfloor (the data contract of DESIGN §5)."""
        return {
            "id": self.event_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "site": self.site,
            **self.glue,
            "bom_version": self.bom_version,
            "routing_version": self.routing_version,
            "payload": self.payload,
            "schema_version": self.schema_version,
        }


_OUTBOX = cast(Table, OutboxEvent.__table__)


def emit(
    session: Session,
    ctx: CommandContext,
    event_type: str,
    payload: dict[str, Any],
    *,
    glue: dict[str, Any],
    occurred_at: datetime | None = None,
    bom_version: str | None = None,
    routing_version: str | None = None,
) -> str:
    """Append one event to the outbox inside the caller's transaction (deferred to its end:
    the command never reads the event back). Returns the event id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    event_id = new_event_id()
    deferred.defer(
        session,
        _OUTBOX,
        {
            "event_id": event_id,
            "type": event_type,
            "occurred_at": occurred_at or ctx.now,
            "recorded_at": ctx.now,
            "site": ctx.site,
            "glue": {k: v for k, v in glue.items() if v is not None},
            "bom_version": bom_version,
            "routing_version": routing_version,
            "payload": payload,
            "schema_version": SCHEMA_VERSION,
            "status": "pending",
            "attempts": 0,
        },
    )
    return event_id


def events_for(session: Session, **glue: Any) -> list[OutboxEvent]:
    """Events whose glue keys match, oldest first (for reads and tests)."""
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.position)).all()
    return [e for e in rows if all(e.glue.get(k) == v for k, v in glue.items())]
