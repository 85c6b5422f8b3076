"""Master data about people and time, and the shared code lists: skills and certifications,
shift calendars, shifts and crews, downtime reasons and quality (scrap/defect/rework) codes.

Planners and admins write, every role reads.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from shopfloor.api import reads
from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_fields import EVERY_ROLE, CodeQuery, IdPath
from shopfloor.api.schemas_masterdata import (
    BreakOut,
    CalendarIn,
    CalendarOut,
    CertificationIn,
    CertificationOut,
    CrewIn,
    CrewOut,
    DowntimeReasonIn,
    DowntimeReasonOut,
    QualityCodeIn,
    QualityCodeOut,
    QualityKind,
    ReasonNodeOut,
    RevokeIn,
    ShiftIn,
    ShiftOut,
    SkillIn,
    SkillOut,
)
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.masterdata import queries
from shopfloor.masterdata import service as masterdata
from shopfloor.masterdata.domain import BreakSpec
from shopfloor.masterdata.tables import QualityCode, ShiftCalendar, Skill

router = APIRouter(tags=["master data"])

Planner = Annotated[Actor, require("planner")]
Anyone = Annotated[Actor, require(*EVERY_ROLE)]


# --- skills and certifications ------------------------------------------------------------


@router.post("/skills", response_model=SkillOut, summary="Create or rename a skill")
async def upsert_skill(body: SkillIn, run: Command, actor: Planner) -> JSONResponse:
    """A skill an operation may require (e.g. soldering); people are certified for it."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_skill(s, ctx, code=body.code, name=body.name),
        SkillOut,
    )


@router.get("/skills", response_model=list[SkillOut], summary="List skills")
def list_skills(session: ReadSession, actor: Anyone) -> list[Skill]:
    """Every skill, by code."""
    return queries.list_skills(session)


@router.post(
    "/certifications", response_model=CertificationOut, summary="Certify a person for a skill"
)
async def grant_certification(body: CertificationIn, run: Command, actor: Planner) -> JSONResponse:
    """Certify a person (by user id or user name) for a skill from a date, until an expiry
    date or for good. Granting the same again changes nothing; a new expiry extends or
    shortens it. A revoked certification stays revoked: grant it with a new start date."""
    return await run(
        actor,
        lambda s, ctx: reads.certification_view(
            s,
            masterdata.grant_certification(
                s,
                ctx,
                skill_code=body.skill_code,
                valid_from=body.valid_from,
                expires_on=body.expires_on,
                username=body.username,
                user_id=body.user_id,
            ),
            ctx.now.date(),
        ),
        CertificationOut,
    )


@router.post(
    "/certifications/{certification_id}/revoke",
    response_model=list[CertificationOut],
    summary="Revoke a person's certification for a skill",
)
async def revoke_certification(
    certification_id: IdPath, body: RevokeIn, run: Command, actor: Planner
) -> JSONResponse:
    """Withdraw the certification, with a reason. This revokes every grant the person holds
    for the same skill, and returns those it revoked (none when already revoked)."""

    def revoke(s: Session, ctx: CommandContext) -> list[reads.CertificationView]:
        user_id, skill_code = reads.certification_holder(s, certification_id)
        revoked = masterdata.revoke_certification(
            s, ctx, skill_code=skill_code, reason=body.reason, user_id=user_id
        )
        return [reads.certification_view(s, row, ctx.now.date()) for row in revoked]

    return await run(
        actor, revoke, lambda rows: [CertificationOut.model_validate(row) for row in rows]
    )


@router.get(
    "/users/{user_id}/certifications",
    response_model=list[CertificationOut],
    summary="Certifications of a person",
)
def certifications_of_user(
    user_id: IdPath, session: ReadSession, actor: Anyone
) -> list[reads.CertificationView]:
    """Every certification of the person, by skill, newest first, and whether it holds
    today (not revoked, started, not expired)."""
    return reads.certifications_of_user(session, user_id, utc_now().date())


# --- calendars, shifts, crews -------------------------------------------------------------


@router.post("/calendars", response_model=CalendarOut, summary="Create or change a calendar")
async def upsert_calendar(body: CalendarIn, run: Command, actor: Planner) -> JSONResponse:
    """A shift calendar with its time zone (e.g. Europe/Berlin); shift start times are local
    times in it."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_shift_calendar(
            s, ctx, code=body.code, name=body.name, timezone=body.timezone
        ),
        CalendarOut,
    )


@router.get("/calendars", response_model=list[CalendarOut], summary="List shift calendars")
def list_calendars(session: ReadSession, actor: Anyone) -> list[ShiftCalendar]:
    """Every shift calendar with its time zone."""
    return reads.list_calendars(session)


@router.post("/shifts", response_model=ShiftOut, summary="Create or change a shift pattern")
async def upsert_shift(body: ShiftIn, run: Command, actor: Planner) -> JSONResponse:
    """A shift of a calendar: local start time, length in minutes, the weekdays it runs
    (0 = Monday) and its planned breaks, which lie inside the shift and do not overlap.
    Planned breaks are taken out of planned production time for OEE."""
    breaks = [BreakSpec(b.name, b.offset_minutes, b.minutes) for b in body.breaks]
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_shift(
            s,
            ctx,
            calendar_code=body.calendar_code,
            code=body.code,
            name=body.name,
            starts_at=body.starts_at,
            minutes=body.minutes,
            weekdays=body.weekdays,
            breaks=breaks,
        ),
        lambda row: ShiftOut(
            calendar_code=body.calendar_code,
            code=row.code,
            name=row.name,
            starts_at=row.starts_at,
            minutes=row.minutes,
            weekdays=list(row.weekdays),
            breaks=[BreakOut.model_validate(b) for b in body.breaks],
        ),
    )


@router.get("/shifts", response_model=list[ShiftOut], summary="List shift patterns")
def list_shifts(
    session: ReadSession,
    actor: Anyone,
    calendar_code: CodeQuery = None,
) -> list[queries.ShiftEntry]:
    """Shift patterns with their planned breaks, by calendar and start time."""
    return queries.list_shifts(session, calendar_code)


@router.post("/crews", response_model=CrewOut, summary="Create or change a crew")
async def upsert_crew(body: CrewIn, run: Command, actor: Planner) -> JSONResponse:
    """A crew, the shift it works and its members by user name (the list replaces the
    previous members)."""
    return await run(
        actor,
        lambda s, ctx: reads.crew_entry(
            s,
            masterdata.upsert_crew(
                s,
                ctx,
                code=body.code,
                name=body.name,
                shift_code=body.shift_code,
                calendar_code=body.calendar_code,
                members=body.members,
            ).code,
        ),
        CrewOut,
    )


@router.get("/crews", response_model=list[CrewOut], summary="List crews")
def list_crews(session: ReadSession, actor: Anyone) -> list[queries.CrewEntry]:
    """Every crew with its shift and the user names of its members."""
    return queries.list_crews(session)


# --- downtime reasons and quality codes ---------------------------------------------------


@router.post(
    "/downtime-reasons",
    response_model=DowntimeReasonOut,
    summary="Create or change a downtime reason",
)
async def upsert_downtime_reason(
    body: DowntimeReasonIn, run: Command, actor: Planner
) -> JSONResponse:
    """A node of the reason tree (category → reason → detail). `planned` marks planned
    stops (changeover, maintenance plan), which OEE does not count as a loss."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_downtime_reason(
            s,
            ctx,
            code=body.code,
            name=body.name,
            level=body.level,
            parent_code=body.parent_code,
            planned=body.planned,
        ),
        lambda row: DowntimeReasonOut(
            id=row.id,
            code=row.code,
            name=row.name,
            level=row.level,
            parent_code=body.parent_code,
            planned=row.planned,
        ),
    )


@router.get(
    "/downtime-reasons", response_model=list[ReasonNodeOut], summary="The downtime reason tree"
)
def reason_tree(session: ReadSession, actor: Anyone) -> list[queries.ReasonNode]:
    """Categories, the reasons under them and the details of each reason."""
    return queries.reason_tree(session)


@router.post(
    "/quality-codes", response_model=QualityCodeOut, summary="Create or change a quality code"
)
async def upsert_quality_code(body: QualityCodeIn, run: Command, actor: Planner) -> JSONResponse:
    """A scrap, defect or rework code, shared by every line so that analyses line up."""
    return await run(
        actor,
        lambda s, ctx: masterdata.upsert_quality_code(
            s, ctx, code=body.code, name=body.name, kind=body.kind
        ),
        QualityCodeOut,
    )


@router.get("/quality-codes", response_model=list[QualityCodeOut], summary="List quality codes")
def list_quality_codes(
    session: ReadSession, actor: Anyone, kind: QualityKind | None = None
) -> list[QualityCode]:
    """Scrap, defect and rework codes, optionally of one kind."""
    return queries.list_quality_codes(session, kind)
