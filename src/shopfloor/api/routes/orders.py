"""Production orders: received from ERP, released to the floor, followed to completion.

ERP's business status (created → released → closed) and the floor's execution status
(queued → dispatched → running/paused → completed, or aborted) are kept side by side.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from shopfloor.api import reads_floor
from shopfloor.api.deps import Command, ReadSession, RuntimeDep, require
from shopfloor.api.schemas_fields import EVERY_ROLE, CodePath, IdPath, Limit, Offset
from shopfloor.api.schemas_orders import (
    AbortIn,
    DispatchEntryOut,
    ErpStatus,
    ExecutionStatus,
    MoveOut,
    OperationOut,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    ReleaseIn,
)
from shopfloor.execution import service as execution
from shopfloor.kernel.context import Actor
from shopfloor.orders import queries as order_queries
from shopfloor.orders import service as orders

router = APIRouter(tags=["orders"])

Anyone = Annotated[Actor, require(*EVERY_ROLE)]
Planner = Annotated[Actor, require("supervisor", "planner")]


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=201,
    summary="Receive a production order from ERP",
    responses={200: {"model": OrderOut, "description": "Already known: unchanged or updated"}},
)
async def upsert_order(
    body: OrderIn,
    run: Command,
    runtime: RuntimeDep,
    actor: Annotated[Actor, require("integration", "planner")],
) -> JSONResponse:
    """ERP pushes an order (or a planner opens unplanned work with `origin: mes`). Idempotent
    on ERP order id + ERP version: the same version again changes nothing, an older one is
    refused (409), a newer one updates the plan — quantity, unit, BOM and routing only while
    the order is still queued. Answers 201 when the order is new, 200 when it was known.
    A new order from an origin the plant does not accept (`SHOPFLOOR_ORDER_ORIGIN`: erp, mes
    or both) is refused with 422, the problem naming the setting."""
    known = await run_in_threadpool(reads_floor.order_received, runtime, body.erp_order_id)
    return await run(
        actor,
        lambda s, ctx: order_queries.order_summary(
            s,
            orders.upsert_order(
                s,
                ctx,
                erp_order_id=body.erp_order_id,
                erp_version=body.erp_version,
                item_code=body.item_code,
                quantity=body.quantity,
                uom_code=body.uom_code,
                due_date=body.due_date,
                priority=body.priority,
                erp_status=body.erp_status,
                bom_version=body.bom_version,
                routing_version=body.routing_version,
                origin=body.origin,
            ).id,
        ),
        OrderOut,
        status_code=200 if known else 201,
    )


@router.get("/orders", response_model=list[OrderOut], summary="List production orders")
def list_orders(
    session: ReadSession,
    actor: Anyone,
    execution_status: ExecutionStatus | None = None,
    erp_status: ErpStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[order_queries.OrderSummary]:
    """Orders by due date, then priority; filter by the floor's or ERP's status."""
    return order_queries.list_orders(
        session,
        execution_status=execution_status,
        erp_status=erp_status,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderDetailOut,
    summary="One order with its progress, plan against actual",
)
def get_order(order_id: IdPath, session: ReadSession, actor: Anyone) -> dict[str, Any]:
    """The order with, per operation, planned, good, scrap and rework quantities and status;
    per component, the norm against what was consumed and returned, with overuse reasons;
    downtime minutes by reason and labour minutes. Reversals are netted in."""
    return reads_floor.order_detail(session, order_id)


@router.get(
    "/orders/{order_id}/operations",
    response_model=list[OperationOut],
    summary="Operations of an order",
)
def order_operations(
    order_id: IdPath, session: ReadSession, actor: Anyone
) -> list[order_queries.OperationLine]:
    """The operations in routing order: where each runs, the skill it needs, its status."""
    return order_queries.order_operations(session, order_id)


@router.get(
    "/orders/{order_id}/moves",
    response_model=list[MoveOut],
    summary="Material moves of an order",
)
def order_moves(
    order_id: IdPath, session: ReadSession, actor: Anyone
) -> list[reads_floor.MoveView]:
    """The order's lines of the material ledger — consumption, returns, output to stock,
    scrap — with reversals, oldest first."""
    return reads_floor.moves_of_order(session, order_id)


@router.post(
    "/orders/{order_id}/release",
    response_model=OrderOut,
    summary="Release an order to the floor",
)
async def release_order(
    order_id: IdPath, run: Command, actor: Planner, body: ReleaseIn | None = None
) -> JSONResponse:
    """Dispatch a queued order and all its operations to their work centers. An order ERP
    has closed is never released; one ERP has not released yet needs a reason and is flagged
    in the exceptions inbox."""
    reason = body.reason if body else None
    return await run(
        actor,
        lambda s, ctx: order_queries.order_summary(
            s, orders.release_to_floor(s, ctx, order_id, reason).id
        ),
        OrderOut,
    )


@router.post("/orders/{order_id}/abort", response_model=OrderOut, summary="Abort an order")
async def abort_order(
    order_id: IdPath, body: AbortIn, run: Command, actor: Planner
) -> JSONResponse:
    """Stop the order for good, with a reason; its unfinished operations are aborted too.
    Facts already recorded stay; ERP keeps its own business status."""
    return await run(
        actor,
        lambda s, ctx: order_queries.order_summary(
            s, orders.abort_order(s, ctx, order_id, body.reason).id
        ),
        OrderOut,
    )


@router.post("/orders/{order_id}/complete", response_model=OrderOut, summary="Complete an order")
async def complete_order(order_id: IdPath, run: Command, actor: Planner) -> JSONResponse:
    """Complete the order once every operation that was not aborted is completed. ERP is
    told the good quantity of the last operation and the scrap of every operation."""
    return await run(
        actor,
        lambda s, ctx: order_queries.order_summary(
            s, execution.complete_order(s, ctx, order_id).id
        ),
        OrderOut,
    )


@router.get(
    "/work-centers/{code}/dispatch-list",
    response_model=list[DispatchEntryOut],
    summary="What a work center should work on",
)
def dispatch_list(
    code: CodePath, session: ReadSession, actor: Anyone
) -> list[order_queries.DispatchEntry]:
    """Dispatched, running and paused operations at the work center, most urgent priority
    first, then earliest due date."""
    return order_queries.dispatch_list(session, code)
