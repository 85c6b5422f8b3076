"""ISA-95 B2MML (V07) over HTTP: ERP posts an OperationsSchedule, and reads the
OperationsPerformance of an order back.

A schedule is checked against the official schema and mapped whole before anything is
saved: an invalid document is refused with 422 and a problem listing every violation with
its line. The orders of a valid one go to the ERP inbox (each filed once per message id).
Like every POST, an `Idempotency-Key` makes a retry return the stored answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from shopfloor.api import problems
from shopfloor.api.deps import Command, ReadSession, RuntimeDep, require
from shopfloor.api.schemas_erp import InboxPushOut
from shopfloor.integration.b2mml import service
from shopfloor.integration.b2mml.validation import InvalidDocument
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.inbox.domain import OUTCOMES
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["ERP B2MML"])

Sender = Annotated[Actor, require("integration", "planner")]
Reader = Annotated[Actor, require("planner", "supervisor", "quality", "integration")]
XML = "application/xml"
PROBLEM: dict[str, Any] = {"content": {problems.MEDIA_TYPE: {}}}
SCHEDULE_BODY = {
    "requestBody": {
        "required": True,
        "content": {XML: {"schema": {"type": "string", "format": "binary"}}},
        "description": "A B2MML V07 OperationsSchedule (or Process/Sync/Change message)",
    }
}


def _refused(request: Request, exc: InvalidDocument) -> JSONResponse:
    violations = [{"line": v.line, "path": v.path, "message": v.message} for v in exc.violations]
    return problems.problem(
        request, exc.status, exc.code, exc.title, exc.detail, violations=violations
    )


def _answer(received: list[inbox.Received]) -> dict[str, Any]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for item in received:
        counts[item.outcome] += 1
    return {**counts, "documents": received}


@router.post(
    "/erp/b2mml/schedule",
    response_model=InboxPushOut,
    summary="Receive production orders as a B2MML OperationsSchedule",
    openapi_extra=SCHEDULE_BODY,
    responses={422: {"description": "Not a valid B2MML OperationsSchedule", **PROBLEM}},
)
async def receive_schedule(request: Request, run: Command, actor: Sender) -> Any:
    """Every OperationsRequest becomes an order (ERP order id, version, item, quantity, unit,
    due date, priority, ERP status, BOM and routing version; see docs/b2mml.md) filed in the
    ERP inbox: `applied`, `duplicate` (sent before), `waiting` (its item, BOM or routing
    version is not there yet) or `rejected`. An invalid document changes nothing: 422 with
    `violations`, each with `line`, `path` and `message`."""
    body = await request.body()
    try:
        documents = await run_in_threadpool(service.schedule_documents, body)
    except InvalidDocument as exc:
        return _refused(request, exc)
    return await run(
        actor,
        lambda s, ctx: _answer(inbox.receive(s, ctx, service.SOURCE, documents)),
        InboxPushOut,
    )


@router.get(
    "/erp/b2mml/performance",
    response_class=Response,
    summary="The B2MML OperationsPerformance of an order, or of the orders completed in a range",
    responses={
        200: {"content": {XML: {"schema": {"type": "string"}}}, "description": "Valid B2MML"},
        404: {"description": "No such order, or none completed in the range", **PROBLEM},
        422: {"description": "Neither an order nor a whole range", **PROBLEM},
    },
)
def performance(
    session: ReadSession,
    runtime: RuntimeDep,
    actor: Reader,
    order: Annotated[str | None, Query(max_length=64, description="ERP order id")] = None,
    since: Annotated[datetime | None, Query(description="Completed from (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="…until before (UTC)")] = None,
) -> Response:
    """Per order and operation: actual start and end, good / scrap / rework counts, produced
    good with lot, scrap with defect code, net consumption with lots, labour minutes per
    person, work-center time and downtime by reason — validated against the official
    schema before it is returned."""
    xml = service.performance_for(
        session,
        erp_order_id=order,
        since=_utc(since),
        until=_utc(until),
        published=utc_now(),
        site=runtime.settings.site,
    )
    return Response(xml, media_type=XML)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
