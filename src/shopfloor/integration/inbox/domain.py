"""The inbox's rules, pure: what ERP may send, how long a document is remembered, and how
long a failing pull waits before the next try."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shopfloor.integration.erp.ports import INBOUND_KINDS
from shopfloor.integration.records import UnknownKind, canonical_kind

# A repeated message id must stay recognised for at least a week: ERP retries and feeds that
# keep listing old documents fall well inside it.
KEEP_DAYS = 7
# Outcomes of one document in one delivery (the stored statuses, plus `duplicate`).
OUTCOMES = ("applied", "duplicate", "waiting", "rejected")
# The record kinds ERP owns and may send (items, boms, routings, orders).
ERP_KINDS = frozenset(canonical_kind(kind) for kind in INBOUND_KINDS)
BACKOFF_CAP = timedelta(hours=1)
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def erp_kind(kind: str) -> str:
    """The record kind of an ERP document ('order' → 'orders'); ValueError for anything ERP
    does not own (units, users, lots …), which never comes in through the ERP feed."""
    try:
        found: str | None = canonical_kind(kind)
    except UnknownKind:
        found = None
    if found not in ERP_KINDS:
        allowed = ", ".join(INBOUND_KINDS)
        raise ValueError(f"'{kind}' is not something ERP sends; ERP documents are {allowed}")
    return str(found)


def purge_before(now: datetime, keep_days: int = KEEP_DAYS) -> datetime:
    """Documents settled before this instant may be forgotten (never sooner than a week)."""
    return now - timedelta(days=max(keep_days, KEEP_DAYS))


def next_pull_after_failure(
    now: datetime, cadence_seconds: float, failures: int, cap: timedelta = BACKOFF_CAP
) -> datetime:
    """After `failures` failed pulls in a row, wait the cadence doubled per failure (at
    least 5 s), capped at an hour: ERP that is down is not hammered, and a short outage
    costs at most a few cadences."""
    base = max(cadence_seconds, 5.0)
    delay = min(timedelta(seconds=base * 2 ** min(max(failures - 1, 0), 20)), cap)
    return now + delay


def plain_text(value: str, length: int) -> str:
    """Text as a column can hold it: no control characters (PostgreSQL refuses NUL), cut
    to the column's length."""
    cleaned = _UNPRINTABLE.sub("?", value)
    return cleaned if len(cleaned) <= length else cleaned[: length - 1] + "…"
