"""Recording master-data changes: one audit entry (old → new) only when something changed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.quantities import qty


def plain(value: Any) -> Any:
    """Audit values as JSON-friendly plain values (dates and times as ISO text)."""
    if isinstance(value, date | time) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(qty(value))
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def audit_change(
    session: Session,
    ctx: CommandContext,
    entity: str,
    row_id: object,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> bool:
    """One audit entry for a created or changed record; none when nothing changed."""
    after = plain(dict(after))
    if before is None:
        audit.record(session, ctx, f"{entity}.created", entity, row_id, new=after)
        return True
    before = plain(dict(before))
    old = {key: value for key, value in before.items() if after.get(key) != value}
    if not old:
        return False
    new = {key: after.get(key) for key in old}
    audit.record(session, ctx, f"{entity}.changed", entity, row_id, old=old, new=new)
    return True


def save_and_audit(
    session: Session,
    ctx: CommandContext,
    entity: str,
    row: Any,
    before: Mapping[str, Any] | None,
    view: Mapping[str, Any],
) -> None:
    if before is None:
        session.add(row)
    session.flush()
    audit_change(session, ctx, entity, row.id, before, view)
