"""Receiving ERP's documents: file each once, apply it, keep it waiting, or reject it.

Rules, and why:

- **Once per message id.** ERP (or the network) repeats itself: a push is retried, a feed
  keeps listing yesterday's documents. Each document is filed under (source, message id)
  and a repeat does nothing — for at least `KEEP_DAYS` after it was settled (`purge`).
  After that a repeat is applied again, which is still harmless: items, BOM and routing
  versions are upserts, and an order is idempotent on ERP order id + version.
- **Same rules as every route in.** A document is an import record of kind item, bom,
  routing or order; it goes through `record_apply.apply_record`, so through the same
  master data and orders services (which audit) as `shopfloor import` and the API.
- **In the caller's transaction, one savepoint per document.** A document the plant's
  rules refuse is `rejected` with the reason stored, and undoes nothing of the others.
- **Waiting, never half-imported.** A document referring to something not there yet (an
  order whose item, BOM or routing version has not arrived) is rolled back to its
  savepoint and kept `waiting`. After every delivery the waiting documents are tried
  again in the order they arrived, round after round while any of them goes through, so
  an order is applied as soon as its BOM arrives. Applying is idempotent on ERP order id +
  version, so the same order waiting twice still makes one order.

Never commits: the API's command runner or the ERP sync worker owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.integration.erp.ports import InboundDocument
from shopfloor.integration.inbox.domain import KEEP_DAYS, erp_kind, plain_text, purge_before
from shopfloor.integration.inbox.tables import DETAIL_LENGTH, InboxDocument
from shopfloor.integration.record_apply import Rejection, apply_record
from shopfloor.integration.records import Record, key_of, make_record
from shopfloor.kernel.context import CommandContext
from shopfloor.platform import deferred
from shopfloor.platform.logging import logger

log = logger("shopfloor.inbox")
MESSAGE_ID_LENGTH = 255


@dataclass(frozen=True)
class Received:
    """What became of one document of a delivery.

    `outcome` is applied, duplicate (filed before: nothing done), waiting or rejected;
    `status` is what is filed now (for a duplicate, the status of the first one).
    """

    message_id: str
    kind: str
    key: str
    outcome: str
    status: str
    detail: str | None = None


def receive(
    session: Session, ctx: CommandContext, source: str, documents: Sequence[InboundDocument]
) -> list[Received]:
    """File and apply ERP's documents in the caller's transaction, then retry the waiting
    ones; one answer per document, in the order given."""
    filed = [_file(session, ctx, source, document) for document in documents]
    new = [item[0] for item in filed if isinstance(item, tuple) and not item[1]]
    changed = any(row.status == "applied" and row.detail is None for row in new)
    # A document that just waited was tried against today's state: unless this delivery
    # changed something, trying it again at once would only repeat the same answer.
    retry_waiting(session, ctx, skip=() if changed else [row.id for row in new])
    return [item if isinstance(item, Received) else _received(item[0], item[1]) for item in filed]


def retry_waiting(
    session: Session, ctx: CommandContext, *, skip: Sequence[int] = ()
) -> list[InboxDocument]:
    """Try every waiting document again, oldest first, in rounds until a round applies
    nothing (an order waiting for a BOM waiting for its component goes through in the
    second round); `skip` leaves documents out of the first round. Returns the documents
    that are no longer waiting. On PostgreSQL a waiting document another transaction is
    retrying right now is skipped, never applied twice."""
    settled: list[InboxDocument] = []
    left_out = set(skip)
    while True:
        waiting = session.scalars(
            select(InboxDocument)
            .where(InboxDocument.status == "waiting")
            .order_by(InboxDocument.id)
            .with_for_update(skip_locked=True)
        ).all()
        progress = False
        for row in waiting:
            if row.id in left_out:
                continue
            row.attempts += 1
            _apply(session, ctx, row, _record_of(row))
            if row.status != "waiting":
                settled.append(row)
                progress = progress or row.status == "applied"
        if not progress:
            return settled
        left_out.clear()


def purge(session: Session, ctx: CommandContext, keep_days: int = KEEP_DAYS) -> int:
    """Forget applied and rejected documents settled more than `keep_days` (at least 7)
    ago; waiting documents are kept whatever their age. Returns how many were forgotten."""
    cutoff = purge_before(ctx.now, keep_days)
    result = session.execute(
        delete(InboxDocument)
        .where(InboxDocument.status != "waiting", InboxDocument.settled_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.record(
            session,
            ctx,
            "inbox.purged",
            "int_inbox_document",
            "settled-before",
            new={"documents": count, "settled_before": cutoff.isoformat()},
        )
    return count


# --- one document -------------------------------------------------------------------------


def _file(
    session: Session, ctx: CommandContext, source: str, document: InboundDocument
) -> Received | tuple[InboxDocument, bool]:
    """File a new document and apply it: the filed row, and whether it was filed before
    (a duplicate, left as it is). A document that cannot be filed at all is answered at
    once."""
    message_id = str(document.message_id)
    kind_text = plain_text(str(document.kind), 32)
    if not 0 < len(message_id) <= MESSAGE_ID_LENGTH or plain_text(message_id, 256) != message_id:
        detail = f"a message id is 1 to {MESSAGE_ID_LENGTH} printable characters"
        return Received(plain_text(message_id, 80), kind_text, "?", "rejected", "rejected", detail)
    known = _filed(session, source, message_id)
    if known is not None:
        return known, True
    fields, problem = _plain_fields(document.fields)
    record, kind_problem = _record(document.kind, fields)
    problem = problem or kind_problem
    row = InboxDocument(
        source=source,
        message_id=message_id,
        kind=record.kind if kind_problem is None else kind_text,
        key=plain_text(record.key, 200),
        fields=fields,
        status="waiting",
        attempts=1,
        received_by=plain_text(ctx.actor.username, 64),
        received_at=ctx.now,
    )
    try:
        with deferred.savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError:  # the same document, filed by a concurrent delivery just now
        known = _filed(session, source, message_id)
        if known is None:
            raise
        return known, True
    if problem is not None:
        _settle(row, ctx, "rejected", problem)
    else:
        _apply(session, ctx, row, record)
    return row, False


def _apply(session: Session, ctx: CommandContext, row: InboxDocument, record: Record) -> None:
    """Run the document through its service in a savepoint and file the result."""
    try:
        with deferred.savepoint(session):
            changed = apply_record(session, ctx, record)
    except Rejection as exc:
        if exc.missing:
            row.status, row.detail = "waiting", plain_text(exc.message, DETAIL_LENGTH)
        else:
            _settle(row, ctx, "rejected", exc.message)
    except Exception as exc:  # a fault, not a rule: this document fails, the others go on
        log.exception("inbox document failed", source=row.source, message_id=row.message_id)
        _settle(row, ctx, "rejected", f"unexpected error: {type(exc).__name__}: {exc}")
    else:
        _settle(row, ctx, "applied", None if changed else "already up to date")
    session.flush()


def _settle(row: InboxDocument, ctx: CommandContext, status: str, detail: str | None) -> None:
    row.status, row.settled_at = status, ctx.now
    row.detail = None if detail is None else plain_text(detail, DETAIL_LENGTH)


def _record(kind: str, fields: Mapping[str, Any]) -> tuple[Record, str | None]:
    """The import record a document stands for, or why it cannot be one."""
    try:
        found = erp_kind(str(kind))
    except ValueError as exc:
        return make_record("items", (), fields), str(exc)
    return make_record(found, (), fields), None


def _record_of(row: InboxDocument) -> Record:
    fields = row.fields if isinstance(row.fields, Mapping) else {}
    return Record(row.kind, (), fields, None, key_of(row.kind, fields))


def _plain_fields(fields: Any) -> tuple[dict[str, Any], str | None]:
    """The fields as plain JSON (an adapter may hand over dates or decimals): what is filed
    is exactly what is applied, now and on every retry. Or why they cannot be."""
    if not isinstance(fields, Mapping):
        return {}, "the fields of a document are an object of names and values"
    try:
        plain = json.loads(json.dumps(dict(fields), default=str, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return {}, f"the fields are not plain JSON: {exc}"
    return plain, None


def _filed(session: Session, source: str, message_id: str) -> InboxDocument | None:
    return session.scalar(
        select(InboxDocument).where(
            InboxDocument.source == source, InboxDocument.message_id == message_id
        )
    )


def _received(row: InboxDocument, duplicate: bool) -> Received:
    return Received(
        message_id=row.message_id,
        kind=row.kind,
        key=row.key,
        outcome="duplicate" if duplicate else row.status,
        status=row.status,
        detail=row.detail,
    )
