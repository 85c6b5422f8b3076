"""The ERP inbox's tables: every document ERP sent, and where each pull of ERP stands.

`int_inbox_document` holds one row per (source, message id): ERP's own id for what it said,
so a document sent again (a retried push, a feed that still lists it) is recognised and
does nothing. Statuses:

- `applied`: the master data or orders service took it (or found it already up to date);
- `waiting`: it refers to something not there yet (an order whose BOM version has not
  arrived); it is tried again after every later delivery, and never purged;
- `rejected`: the plant's rules refused it; `detail` says why. A corrected document comes
  with a new message id.

`int_erp_cursor` holds, per subscriber that pulls ERP, the adapter's cursor (an ETag, a
timestamp) written in the same transaction as the documents it brought, plus the backoff
state after failed pulls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, UtcDateTime

STATUSES = ("applied", "waiting", "rejected")
DETAIL_LENGTH = 2000


class InboxDocument(Base):
    __tablename__ = "int_inbox_document"
    __table_args__ = (
        UniqueConstraint("source", "message_id", name="uq_int_inbox_document_message"),
        Index("ix_int_inbox_document_status", "status", "id"),
        Index("ix_int_inbox_document_settled_at", "settled_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    fields: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(DETAIL_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    received_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ErpCursor(Base):
    """Where the next pull of one subscriber starts, and how its last pulls went."""

    __tablename__ = "int_erp_cursor"

    subscriber: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    pulled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    documents: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_pull_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(DETAIL_LENGTH))
