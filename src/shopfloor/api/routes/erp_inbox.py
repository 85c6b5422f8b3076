"""The ERP inbox over HTTP: ERP pushes its plans here; planners see what waits or failed.

A push carries one or more documents (item, BOM version, routing version, order version),
each with ERP's own message id. They are filed and applied in one transaction, each in a
savepoint: a repeat does nothing, a refused document is rejected with its reason and does
not undo the others, and one whose item, BOM or routing version has not arrived waits and
is applied as soon as it does. Like every POST, an `Idempotency-Key` makes a retry return
the stored answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_erp import (
    PUSH_EXAMPLES,
    InboxOut,
    InboxPushIn,
    InboxPushOut,
    InboxStatus,
)
from shopfloor.api.schemas_fields import Limit, Offset
from shopfloor.integration.erp.ports import InboundDocument
from shopfloor.integration.inbox import queries
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.inbox.domain import OUTCOMES
from shopfloor.integration.inbox.service import Received
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["ERP inbox"])

Integration = Annotated[Actor, require("integration")]
Reader = Annotated[Actor, require("integration", "planner", "supervisor")]


def _answer(received: list[Received]) -> dict[str, Any]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for item in received:
        counts[item.outcome] += 1
    return {**counts, "documents": received}


@router.post(
    "/erp/inbox",
    response_model=InboxPushOut,
    summary="Receive documents from ERP (items, BOM and routing versions, orders)",
)
async def push(
    body: Annotated[InboxPushIn, Body(openapi_examples=PUSH_EXAMPLES)],
    run: Command,
    actor: Integration,
) -> JSONResponse:
    """Files each document once per (source, message id) and applies it through the same
    rules as `shopfloor import`. Answers per document: `applied`, `duplicate` (received
    before: nothing done), `waiting` (refers to an item, BOM or routing version not there
    yet; applied automatically when it arrives) or `rejected` (with the reason). The same
    ERP order id + version sent under another message id is still one order."""
    documents = [InboundDocument(d.message_id, d.kind, d.fields) for d in body.documents]
    return await run(
        actor,
        lambda s, ctx: _answer(inbox.receive(s, ctx, body.source, documents)),
        InboxPushOut,
    )


@router.get("/erp/inbox", response_model=InboxOut, summary="What ERP sent, and what became of it")
def list_inbox(
    session: ReadSession,
    actor: Reader,
    status: InboxStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Documents per status, the pulls of ERP, and the documents themselves (newest first;
    only `waiting` or `rejected` ones with `status`), each with why it waits or failed."""
    found = queries.status(session)
    return {
        "counts": found.counts,
        "oldest_waiting": found.oldest_waiting,
        "pulls": queries.pulls(session),
        "documents": queries.documents(session, status, limit=limit, offset=offset),
    }
