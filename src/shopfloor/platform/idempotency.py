"""Stored responses of POST requests, keyed by caller and `Idempotency-Key`.

The record is written in the same transaction as the command it answers, so a retried
request either finds the stored response or runs the command for the first time. The
record's key is unique: a retry that ran its command again cannot store a second answer
(`remember` raises `IntegrityError`), and the caller answers with the first one instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import JSON, Integer, String, Table, bindparam, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shopfloor.platform import deferred
from shopfloor.platform.db import Base, UtcDateTime


class IdempotencyRecord(Base):
    __tablename__ = "platform_idempotency"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Stored(NamedTuple):
    request_hash: str
    status_code: int
    response: Any


_R = IdempotencyRecord
_FIND = select(_R.request_hash, _R.status_code, _R.response).where(
    _R.principal == bindparam("principal"), _R.key == bindparam("key")
)
_STORED = cast(Table, _R.__table__)


def find(session: Session, principal: str, key: str) -> Stored | None:
    """The stored answer to this caller's key, if any."""
    row = session.execute(_FIND, {"principal": principal, "key": key}).first()
    return Stored(*row) if row else None


def remember(
    session: Session,
    *,
    principal: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    status_code: int,
    response: Any,
    now: datetime,
) -> None:
    """Store the answer with the command's other deferred rows: its commit fails with
    `IntegrityError` when this caller's key already has one."""
    deferred.defer(
        session,
        _STORED,
        {
            "principal": principal,
            "key": key,
            "method": method,
            "path": path,
            "request_hash": request_hash,
            "status_code": status_code,
            "response": response,
            "created_at": now,
        },
    )


def purge(session: Session, now: datetime, keep_hours: int) -> int:
    """Forget responses older than the retention (at least 24 h by policy)."""
    cutoff = now - timedelta(hours=max(keep_hours, 24))
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
