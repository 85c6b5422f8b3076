"""Read side of the inbox: how many documents stand where, which ones, and the pulls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopfloor.integration.inbox.tables import STATUSES, ErpCursor, InboxDocument


@dataclass(frozen=True)
class InboxStatus:
    counts: dict[str, int]
    oldest_waiting: datetime | None


@dataclass(frozen=True)
class DocumentView:
    id: int
    source: str
    message_id: str
    kind: str
    key: str
    status: str
    detail: str | None
    attempts: int
    received_by: str
    received_at: datetime
    settled_at: datetime | None
    fields: Any


@dataclass(frozen=True)
class PullView:
    subscriber: str
    cursor: str | None
    pulled_at: datetime | None
    documents: int
    failures: int
    next_pull_at: datetime | None
    last_error: str | None


def status(session: Session) -> InboxStatus:
    """Documents per status (every status listed, zero included) and since when the oldest
    waiting document waits."""
    counts = dict.fromkeys(STATUSES, 0)
    for state, count in session.execute(
        select(InboxDocument.status, func.count()).group_by(InboxDocument.status)
    ):
        counts[state] = int(count)
    oldest = session.scalar(
        select(func.min(InboxDocument.received_at)).where(InboxDocument.status == "waiting")
    )
    return InboxStatus(counts, oldest)


def documents(
    session: Session,
    status: str | None = None,
    *,
    source: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DocumentView]:
    """Documents, newest first; only those of one status or source when given."""
    query = select(InboxDocument).order_by(InboxDocument.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(InboxDocument.status == status)
    if source is not None:
        query = query.where(InboxDocument.source == source)
    return [
        DocumentView(
            id=row.id,
            source=row.source,
            message_id=row.message_id,
            kind=row.kind,
            key=row.key,
            status=row.status,
            detail=row.detail,
            attempts=row.attempts,
            received_by=row.received_by,
            received_at=row.received_at,
            settled_at=row.settled_at,
            fields=row.fields,
        )
        for row in session.scalars(query)
    ]


def pulls(session: Session) -> list[PullView]:
    """Where each pulling subscriber stands."""
    return [
        PullView(
            subscriber=row.subscriber,
            cursor=row.cursor,
            pulled_at=row.pulled_at,
            documents=row.documents,
            failures=row.failures,
            next_pull_at=row.next_pull_at,
            last_error=row.last_error,
        )
        for row in session.scalars(select(ErpCursor).order_by(ErpCursor.subscriber))
    ]
