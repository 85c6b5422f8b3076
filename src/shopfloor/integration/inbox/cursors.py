"""Where each pull of ERP stands. Never commits.

The cursor a pull returns (an ETag, a timestamp, any adapter state as text) is written in
the same transaction as the documents that pull brought into the inbox: either both are
kept or neither, so a crash between them makes the next pull fetch the same documents
again (and the inbox recognises them) rather than skip them. A failed pull keeps the
cursor and pushes the next attempt out (`domain.next_pull_after_failure`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.integration.inbox.domain import next_pull_after_failure, plain_text
from shopfloor.integration.inbox.tables import DETAIL_LENGTH, ErpCursor


def cursor_of(session: Session, subscriber: str) -> ErpCursor | None:
    return session.get(ErpCursor, subscriber)


def _row(session: Session, subscriber: str) -> ErpCursor:
    row = session.scalar(
        select(ErpCursor).where(ErpCursor.subscriber == subscriber).with_for_update()
    )
    if row is None:
        row = ErpCursor(subscriber=subscriber, documents=0, failures=0)
        session.add(row)
    return row


def pulled(
    session: Session,
    subscriber: str,
    cursor: str | None,
    documents: int,
    *,
    now: datetime,
    cadence_seconds: float,
) -> None:
    """A pull went through: keep its cursor, count its documents, schedule the next one."""
    row = _row(session, subscriber)
    row.cursor, row.pulled_at = cursor, now
    row.documents = (row.documents or 0) + documents
    row.failures, row.last_error = 0, None
    row.next_pull_at = now + timedelta(seconds=cadence_seconds)
    session.flush()


def pull_failed(
    session: Session, subscriber: str, error: str, *, now: datetime, cadence_seconds: float
) -> datetime:
    """A pull failed: keep the cursor, record why, and back off. Returns the next try."""
    row = _row(session, subscriber)
    row.failures = (row.failures or 0) + 1
    row.last_error = plain_text(error, DETAIL_LENGTH)
    row.next_pull_at = next_pull_after_failure(now, cadence_seconds, row.failures)
    session.flush()
    return row.next_pull_at
