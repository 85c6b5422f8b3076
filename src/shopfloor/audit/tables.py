"""The audit_entry table: append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, UtcDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_record", "entity_type", "entity_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[int] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)
    # Filled by the sealer, in commit order: position in the chain and the hashes.
    seq: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), unique=True
    )
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    def content(self) -> dict[str, Any]:
        """What the hash covers."""
        return content_of(self)


CONTENT = ("id", "recorded_at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
           "old_value", "new_value", "reason")  # fmt: skip


def content_of(entry: Any) -> dict[str, Any]:
    """What the hash covers, of an entry or of a row with the `CONTENT` columns."""
    return {
        "id": entry.id,
        "recorded_at": entry.recorded_at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "old_value": entry.old_value,
        "new_value": entry.new_value,
        "reason": entry.reason,
    }


class AuditChainHead(Base):
    """The newest seal (one row): shows whether entries were cut off the end of the chain."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
