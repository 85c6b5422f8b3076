"""The floor: operations started, paused, resumed and completed; output, material, labour
and downtime reported; corrections by reversal; the exceptions inbox.

Facts are append-only. A mistake is corrected by a reasoned reversal (supervisor or
quality), never by editing. A fact recorded against an order ERP has not released (or has
closed) is kept and flagged; it shows in the exceptions inbox.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shopfloor.api import reads_floor
from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_execution import (
    ConsumptionIn,
    CorrectionIn,
    CorrectionOut,
    DowntimeIn,
    DowntimeOut,
    FlaggedFactOut,
    LaborIn,
    LaborOut,
    MomentIn,
    OperationEventOut,
    PauseIn,
    ProductionIn,
    ProductionReportOut,
    ReturnIn,
    StartIn,
)
from shopfloor.api.schemas_fields import IdPath
from shopfloor.api.schemas_orders import MoveOut
from shopfloor.execution import queries as execution_queries
from shopfloor.execution import service as execution
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["execution"])

Floor = Annotated[Actor, require("operator", "supervisor")]


# --- operations ---------------------------------------------------------------------------


@router.post(
    "/operations/{operation_id}/start",
    response_model=OperationEventOut,
    summary="Start an operation",
)
async def start_operation(
    operation_id: IdPath, run: Command, actor: Floor, body: StartIn | None = None
) -> JSONResponse:
    """Start a dispatched operation, in routing order. The operator (the signed-in person
    unless another is named) must hold the skill the operation requires, certified and not
    expired on the day: otherwise 422 `not-qualified` naming the skill."""
    start = body or StartIn()
    return await run(
        actor,
        lambda s, ctx: execution.start_operation(
            s, ctx, operation_id, operator_id=start.operator_id, at=start.at
        ),
        OperationEventOut,
    )


@router.post(
    "/operations/{operation_id}/pause",
    response_model=OperationEventOut,
    summary="Pause an operation",
)
async def pause_operation(
    operation_id: IdPath, body: PauseIn, run: Command, actor: Floor
) -> JSONResponse:
    """Pause a running operation, with a reason. The order pauses when none of its
    operations runs any more."""
    return await run(
        actor,
        lambda s, ctx: execution.pause_operation(
            s, ctx, operation_id, reason=body.reason, at=body.at
        ),
        OperationEventOut,
    )


@router.post(
    "/operations/{operation_id}/resume",
    response_model=OperationEventOut,
    summary="Resume a paused operation",
)
async def resume_operation(
    operation_id: IdPath, run: Command, actor: Floor, body: MomentIn | None = None
) -> JSONResponse:
    """Resume a paused operation; a paused order runs again."""
    at = body.at if body else None
    return await run(
        actor,
        lambda s, ctx: execution.resume_operation(s, ctx, operation_id, at=at),
        OperationEventOut,
    )


@router.post(
    "/operations/{operation_id}/complete",
    response_model=OperationEventOut,
    summary="Complete an operation",
)
async def complete_operation(
    operation_id: IdPath, run: Command, actor: Floor, body: MomentIn | None = None
) -> JSONResponse:
    """Complete a running or paused operation once every earlier operation is completed."""
    at = body.at if body else None
    return await run(
        actor,
        lambda s, ctx: execution.complete_operation(s, ctx, operation_id, at=at),
        OperationEventOut,
    )


# --- facts of the floor -------------------------------------------------------------------


@router.post(
    "/operations/{operation_id}/production",
    response_model=ProductionReportOut,
    status_code=201,
    summary="Report good, scrap or rework output",
)
async def report_production(
    operation_id: IdPath, body: ProductionIn, run: Command, actor: Floor
) -> JSONResponse:
    """Report output of a running or paused operation. Good plus scrap never exceed what
    reached the operation (the order quantity at the first, the previous operation's good
    output after). Scrap needs a scrap or defect code, rework a rework or defect code. Good
    output of the last operation goes to stock, into the named product lot or serial."""
    return await run(
        actor,
        lambda s, ctx: execution.report_production(
            s,
            ctx,
            operation_id,
            kind=body.kind,
            quantity=body.quantity,
            uom_code=body.uom_code,
            lot_code=body.lot_code,
            serial=body.serial,
            quality_code=body.quality_code,
            reason=body.reason,
            occurred_at=body.occurred_at,
        ),
        ProductionReportOut,
        status_code=201,
    )


@router.post(
    "/orders/{order_id}/consumption",
    response_model=MoveOut,
    status_code=201,
    summary="Consume material for an order",
)
async def consume_material(
    order_id: IdPath, body: ConsumptionIn, run: Command, actor: Floor
) -> JSONResponse:
    """Consume a component of the order's execution BOM (or an approved alternative of one,
    naming the component it replaces). Above norm * (1 + tolerance %) for the whole order an
    overuse reason is needed: otherwise 422 naming the norm. A lot-tracked component is
    consumed from a released, unexpired lot; `into_lot`/`into_serial` record genealogy."""
    return await run(
        actor,
        lambda s, ctx: reads_floor.move_view(
            s,
            execution.consume_material(
                s,
                ctx,
                order_id,
                item_code=body.item_code,
                quantity=body.quantity,
                lot_code=body.lot_code,
                uom_code=body.uom_code,
                operation_no=body.operation_no,
                overuse_reason=body.overuse_reason,
                substitute_for=body.substitute_for,
                into_serial=body.into_serial,
                into_lot=body.into_lot,
                occurred_at=body.occurred_at,
            ),
        ),
        MoveOut,
        status_code=201,
    )


@router.post(
    "/orders/{order_id}/returns",
    response_model=MoveOut,
    status_code=201,
    summary="Return unused material from an order",
)
async def return_material(
    order_id: IdPath, body: ReturnIn, run: Command, actor: Floor
) -> JSONResponse:
    """Return material to stores, up to what the order consumed of it (of that lot, when a
    lot is named)."""
    return await run(
        actor,
        lambda s, ctx: reads_floor.move_view(
            s,
            execution.return_material(
                s,
                ctx,
                order_id,
                item_code=body.item_code,
                quantity=body.quantity,
                lot_code=body.lot_code,
                uom_code=body.uom_code,
                operation_no=body.operation_no,
                reason=body.reason,
                occurred_at=body.occurred_at,
            ),
        ),
        MoveOut,
        status_code=201,
    )


@router.post(
    "/operations/{operation_id}/labor",
    response_model=LaborOut,
    status_code=201,
    summary="Record labour time on an operation",
)
async def record_labor(
    operation_id: IdPath, body: LaborIn, run: Command, actor: Floor
) -> JSONResponse:
    """Time a person worked on an operation that has started; the end after the start, not
    in the future, and not overlapping time already recorded for the same person there."""
    worker_id = body.worker_id or actor.user_id
    return await run(
        actor,
        lambda s, ctx: execution.record_labor(
            s,
            ctx,
            operation_id,
            worker_id=worker_id,
            started_at=body.started_at,
            ended_at=body.ended_at,
        ),
        LaborOut,
        status_code=201,
    )


@router.post(
    "/downtimes",
    response_model=DowntimeOut,
    status_code=201,
    summary="Record a stop of a work center",
)
async def record_downtime(body: DowntimeIn, run: Command, actor: Floor) -> JSONResponse:
    """A manual stop of a work center with its reason (planned or not, as the reason says),
    optionally of an order or operation running there. A work center is never recorded
    down twice for overlapping periods."""
    return await run(
        actor,
        lambda s, ctx: execution.record_downtime(
            s,
            ctx,
            work_center_code=body.work_center_code,
            reason_code=body.reason_code,
            started_at=body.started_at,
            ended_at=body.ended_at,
            order_id=body.order_id,
            operation_id=body.operation_id,
            note=body.note,
        ),
        DowntimeOut,
        status_code=201,
    )


# --- corrections and exceptions -----------------------------------------------------------


def _correction(fact: str, reversal: Any) -> CorrectionOut:
    return CorrectionOut(
        fact=fact,
        fact_id=reversal.reverses_id,
        reversal_id=reversal.id,
        quantity=getattr(reversal, "quantity", None),
        minutes=getattr(reversal, "minutes", None),
        reason=getattr(reversal, "reason", None),
        discrepancy=reversal.discrepancy,
        recorded_at=reversal.recorded_at,
    )


@router.post(
    "/corrections",
    response_model=CorrectionOut,
    status_code=201,
    summary="Correct a recorded fact by reversing it",
)
async def reverse_fact(
    body: CorrectionIn, run: Command, actor: Annotated[Actor, require("supervisor", "quality")]
) -> JSONResponse:
    """Reverse one production report, material move, labour record or downtime, with a
    reason: a new entry with the negated quantity (or minutes) pointing at the original.
    A fact is reversed once; a reversal is never reversed. Record the right fact afterwards."""
    return await run(
        actor,
        lambda s, ctx: execution.reverse_fact(s, ctx, body.fact, body.fact_id, body.reason),
        lambda reversal: _correction(body.fact, reversal),
        status_code=201,
    )


@router.get(
    "/exceptions",
    response_model=list[FlaggedFactOut],
    summary="Exceptions inbox: facts against orders ERP has not released",
)
def exceptions_inbox(
    session: ReadSession,
    actor: Annotated[Actor, require("supervisor", "quality", "planner")],
) -> list[execution_queries.FlaggedFact]:
    """Every fact kept although ERP had not released its order (or had closed it), oldest
    first. They are never dropped or forced into ERP; the reconciliation settles them."""
    return execution_queries.exceptions_inbox(session)
