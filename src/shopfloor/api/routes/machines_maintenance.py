"""Maintenance: trigger rules, the supervisor's list of requests, and equipment put under
maintenance (a planned stop for OEE, out of dispatch) and back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_fields import CodePath
from shopfloor.api.schemas_machines import (
    MaintenanceEndIn,
    MaintenancePeriodOut,
    MaintenanceStartIn,
    RequestOut,
    RuleIn,
    RuleOut,
)
from shopfloor.kernel.context import Actor
from shopfloor.machines import maintenance

router = APIRouter(tags=["maintenance"])

Supervisor = Annotated[Actor, require("supervisor")]
Planner = Annotated[Actor, require("supervisor", "planner")]


@router.post(
    "/equipment/{code}/maintenance",
    response_model=MaintenancePeriodOut,
    status_code=201,
    summary="Put equipment under maintenance",
)
async def start_maintenance(
    code: CodePath, body: MaintenanceStartIn, run: Command, actor: Supervisor
) -> JSONResponse:
    """From `at` (default now) the equipment is under maintenance: a planned stop that
    leaves planned production time, and out of dispatch, until the maintenance ends."""
    return await run(
        actor,
        lambda s, ctx: maintenance.put_under_maintenance(
            s, ctx, code, note=body.note, request_id=body.request_id, at=body.at
        ),
        MaintenancePeriodOut,
        status_code=201,
    )


@router.post(
    "/equipment/{code}/maintenance/end",
    response_model=MaintenancePeriodOut,
    summary="End the maintenance of equipment",
)
async def end_maintenance(
    code: CodePath, run: Command, actor: Supervisor, body: MaintenanceEndIn | None = None
) -> JSONResponse:
    """The maintenance ends at `at` (default now); the equipment's open requests close."""
    when = body.at if body else None
    return await run(
        actor,
        lambda s, ctx: maintenance.end_maintenance(s, ctx, code, at=when),
        MaintenancePeriodOut,
    )


@router.get(
    "/maintenance/requests", response_model=list[RequestOut], summary="Maintenance requests"
)
def maintenance_requests(
    session: ReadSession,
    actor: Planner,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
) -> list[Any]:
    """The supervisor's list: requests raised by the maintenance rules, oldest first."""
    return maintenance.maintenance_requests(session, None if status == "all" else status)


@router.get("/maintenance/rules", response_model=list[RuleOut], summary="Maintenance rules")
def maintenance_rules(session: ReadSession, actor: Planner) -> list[dict[str, Any]]:
    return maintenance.rule_views(session)


@router.post(
    "/maintenance/rules",
    response_model=RuleOut,
    status_code=201,
    summary="Set up a maintenance rule",
)
async def add_maintenance_rule(body: RuleIn, run: Command, actor: Planner) -> JSONResponse:
    """Ask for maintenance when run hours, the cycle count, or stops of one reason within
    a window reach the threshold, measured since the last maintenance."""

    def add(session: Any, ctx: Any) -> dict[str, Any]:
        rule = maintenance.add_rule(
            session,
            ctx,
            equipment_code=body.equipment,
            kind=body.kind,
            threshold=body.threshold,
            name=body.name,
            window_minutes=body.window_minutes,
            reason_code=body.reason_code,
        )
        return next(v for v in maintenance.rule_views(session) if v["id"] == rule.id)

    return await run(actor, add, RuleOut, status_code=201)


@router.post(
    "/maintenance/evaluate",
    response_model=list[RequestOut],
    summary="Evaluate the maintenance rules now",
)
async def evaluate_rules(
    run: Command, actor: Annotated[Actor, require("supervisor", "integration")]
) -> JSONResponse:
    """Measure every active rule; each due rule without an open request raises one (and a
    `maintenance.requested` event). Returns the requests raised now."""

    def evaluate(session: Any, ctx: Any) -> list[Any]:
        raised = {r.id for r in maintenance.evaluate_maintenance_rules(session, ctx)}
        return [r for r in maintenance.maintenance_requests(session, None) if r.id in raised]

    return await run(actor, evaluate, lambda rows: [RequestOut.model_validate(r) for r in rows])
