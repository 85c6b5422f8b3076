"""OEE and downtime: figures per equipment, line, shift, product, order and day (live for
the running shift, historical for any range), the downtime Pareto, the stops waiting for a
reason, and detecting, classifying, splitting and merging stops.

Every figure is recomputed from the stored events at the time of the request, so a
corrected reason or ideal cycle time shows at once, in history too. Downtime records are
append-only: classifying, splitting and merging reverse and append, never edit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from shopfloor.api.deps import Command, ReadSession, RuntimeDep, require
from shopfloor.api.schemas_execution import DowntimeOut
from shopfloor.api.schemas_fields import IdPath, Moment, PlantCode
from shopfloor.api.schemas_machines import (
    ClassifyIn,
    DetectIn,
    MergeIn,
    OeeRowOut,
    ParetoBarOut,
    SplitIn,
    UnclassifiedOut,
)
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.context import Actor
from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines import oee_queries as queries
from shopfloor.machines import service

router = APIRouter(tags=["oee and downtime"])

Reader = Annotated[Actor, require("operator", "supervisor", "planner", "quality", "integration")]
Floor = Annotated[Actor, require("operator", "supervisor")]
Detector = Annotated[Actor, require("supervisor", "integration")]
Start = Annotated[Moment | None, Query(description="From (ISO 8601); with `end`. Both left "
                                       "out: the running shift until now")]  # fmt: skip
End = Annotated[Moment | None, Query(description="Until (exclusive)")]
EquipmentFilter = Annotated[
    list[PlantCode] | None, Query(max_length=1000, description="Only these (repeat the parameter)")
]


def _window(session: Any, start: Any, end: Any, equipment: list[str] | None) -> tuple[Any, Any]:
    if start is None and end is None:
        return queries.running_shift(session, utc_now(), equipment)
    if start is None or end is None:
        raise RuleViolation("give both start and end, or neither for the running shift")
    return start, end


@router.get("/oee", response_model=list[OeeRowOut], summary="OEE, six big losses and TEEP")
def oee(
    session: ReadSession,
    runtime: RuntimeDep,
    actor: Reader,
    start: Start = None,
    end: End = None,
    group_by: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"^[a-z_, ]+$",
            description="Comma-separated: equipment, line, shift, product, order, day",
        ),
    ] = "equipment",
    equipment: EquipmentFilter = None,
) -> list[dict[str, Any]]:
    """Availability, performance, quality, OEE, utilisation and TEEP per group, with the
    minutes of each state and the six big losses, recomputed from the stored events with
    the standard definitions (see docs/oee.md). Offline time (no data) is neither planned
    production nor downtime; a ratio without a denominator is null."""
    first, last = _window(session, start, end, equipment)
    rows = queries.oee(
        session,
        start=first,
        end=last,
        group_by=group_by.split(","),
        equipment_codes=equipment,
        workers=runtime.settings.oee_workers,
    )
    return [queries.as_plain(row) for row in rows]


@router.get("/downtime/pareto", response_model=list[ParetoBarOut], summary="Downtime Pareto")
def downtime_pareto(
    session: ReadSession,
    actor: Reader,
    start: Start = None,
    end: End = None,
    by: Literal["category", "reason", "detail"] = "reason",
    planned: Annotated[bool | None, Query(description="Only planned, or only unplanned")] = None,
    equipment: EquipmentFilter = None,
) -> list[Any]:
    """Downtime minutes per category, reason or detail, largest first, with the share and
    the cumulative share; manual and machine-detected stops rank together, unclassified
    time is a bar of its own."""
    first, last = _window(session, start, end, equipment)
    return queries.downtime_pareto(
        session, start=first, end=last, by=by, equipment_codes=equipment, planned=planned
    )


@router.get(
    "/downtime/unclassified",
    response_model=list[UnclassifiedOut],
    summary="Stops waiting for a reason",
)
def unclassified_downtime(
    session: ReadSession,
    actor: Annotated[Actor, require("supervisor", "operator")],
    runtime: RuntimeDep,
    older_than_minutes: Annotated[int | None, Query(ge=0, le=525_600)] = None,
    equipment: EquipmentFilter = None,
) -> list[Any]:
    """Stops that ended more than `older_than_minutes` ago (default: the plant's
    `SHOPFLOOR_UNCLASSIFIED_AFTER_MINUTES`, 30) and still have no reason, oldest first: the
    supervisor's list."""
    if older_than_minutes is None:
        older_than_minutes = runtime.settings.unclassified_after_minutes
    return queries.unclassified_downtime(
        session,
        older_than=timedelta(minutes=older_than_minutes),
        now=utc_now(),
        equipment_codes=equipment,
    )


@router.post(
    "/downtimes/detect",
    response_model=list[DowntimeOut],
    summary="Record the machines' stops of a period",
)
async def detect_downtime(body: DetectIn, run: Command, actor: Detector) -> JSONResponse:
    """Every stop of the machines that started in the period and has ended becomes a
    downtime record without a reason. Running it again records nothing twice."""
    return await run(
        actor,
        lambda s, ctx: service.detect_downtime(
            s, ctx, start=body.start, end=body.end, equipment_codes=body.equipment
        ),
        lambda rows: [DowntimeOut.model_validate(r) for r in rows],
    )


@router.post(
    "/downtimes/{downtime_id}/classify",
    response_model=DowntimeOut,
    status_code=201,
    summary="Give a stop its reason",
)
async def classify_downtime(
    downtime_id: IdPath, body: ClassifyIn, run: Command, actor: Floor
) -> JSONResponse:
    """Classify (or reclassify) a stop with a reason or detail of the reason tree; planned
    or not as the reason says. The record is reversed and a new one appended."""
    return await run(
        actor,
        lambda s, ctx: service.classify_downtime(s, ctx, downtime_id, body.reason_code),
        status_code=201,
    )


@router.post(
    "/downtimes/{downtime_id}/split",
    response_model=list[DowntimeOut],
    status_code=201,
    summary="Split a stop in two",
)
async def split_downtime(
    downtime_id: IdPath, body: SplitIn, run: Command, actor: Floor
) -> JSONResponse:
    """Two causes in one stop: split it at a moment strictly inside, each piece with its
    own reason (or none yet)."""
    return await run(
        actor,
        lambda s, ctx: service.split_downtime(
            s,
            ctx,
            downtime_id,
            at=body.at,
            first_reason=body.first_reason_code,
            second_reason=body.second_reason_code,
        ),
        lambda rows: [DowntimeOut.model_validate(r) for r in rows],
        status_code=201,
    )


@router.post(
    "/downtimes/merge",
    response_model=DowntimeOut,
    status_code=201,
    summary="Merge touching stops",
)
async def merge_downtime(body: MergeIn, run: Command, actor: Floor) -> JSONResponse:
    """One cause recorded as several stops: merge touching stops of one equipment, with
    the given reason or the one reason they share."""
    return await run(
        actor,
        lambda s, ctx: service.merge_downtime(s, ctx, body.ids, reason_code=body.reason_code),
        status_code=201,
    )
