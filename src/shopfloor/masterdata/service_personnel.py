"""Skills and certifications, shift calendars, shifts with their breaks, crews. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.identity.tables import User
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict, NotFound, RuleViolation
from shopfloor.masterdata import domain, queries
from shopfloor.masterdata.changes import audit_change, save_and_audit
from shopfloor.masterdata.domain import BreakSpec
from shopfloor.masterdata.tables import (
    Certification,
    Crew,
    CrewMember,
    Shift,
    ShiftBreak,
    ShiftCalendar,
    Skill,
)

# --- skills and certifications --------------------------------------------------------


def upsert_skill(session: Session, ctx: CommandContext, *, code: str, name: str) -> Skill:
    row = session.scalar(select(Skill).where(Skill.code == code))
    before = None if row is None else {"code": row.code, "name": row.name}
    if row is None:
        row = Skill(code=code)
    row.name = name
    save_and_audit(session, ctx, "skill", row, before, {"code": code, "name": name})
    return row


def grant_certification(
    session: Session,
    ctx: CommandContext,
    *,
    skill_code: str,
    valid_from: date,
    expires_on: date | None = None,
    username: str | None = None,
    user_id: int | None = None,
) -> Certification:
    """Certify a person for a skill from a date (until an expiry, or for good). Granting the
    same again changes nothing; a new expiry extends or shortens it. A revoked certification
    stays revoked: a new grant needs a new start date."""
    user = queries.user_by(session, username, user_id)
    skill = queries.skill_by_code(session, skill_code)
    domain.check_certification_dates(valid_from, expires_on)
    row = session.scalar(
        select(Certification).where(
            Certification.user_id == user.id,
            Certification.skill_id == skill.id,
            Certification.valid_from == valid_from,
        )
    )
    if row is not None and row.revoked:
        raise Conflict(
            f"the {skill_code} certification of {user.username} from {valid_from} was revoked; "
            "grant it again with a new start date"
        )
    before = None if row is None else {"expires_on": row.expires_on}
    if row is None:
        row = Certification(
            user_id=user.id, skill_id=skill.id, valid_from=valid_from, revoked=False
        )
    row.expires_on = expires_on
    view = {"user": user.username, "skill": skill_code, "valid_from": valid_from}
    save_and_audit(
        session,
        ctx,
        "certification",
        row,
        before and {**view, **before},
        {**view, "expires_on": expires_on},
    )
    return row


def revoke_certification(
    session: Session,
    ctx: CommandContext,
    *,
    skill_code: str,
    reason: str,
    username: str | None = None,
    user_id: int | None = None,
) -> list[Certification]:
    """Withdraw a person's certification for a skill (every grant not yet revoked), with a
    reason. Revoking again changes nothing; a person never certified is NotFound."""
    if not reason or not reason.strip():
        raise RuleViolation("revoking a certification needs a reason")
    user = queries.user_by(session, username, user_id)
    skill = queries.skill_by_code(session, skill_code)
    rows = session.scalars(
        select(Certification).where(
            Certification.user_id == user.id, Certification.skill_id == skill.id
        )
    ).all()
    if not rows:
        raise NotFound(f"{user.username} holds no certification for skill {skill_code}")
    revoked = [row for row in rows if not row.revoked]
    for row in revoked:
        row.revoked = True
        audit.record(
            session,
            ctx,
            "certification.revoked",
            "certification",
            row.id,
            old={"revoked": False},
            new={"revoked": True},
            reason=reason,
        )
    session.flush()
    return revoked


# --- calendars, shifts, crews ---------------------------------------------------------


def upsert_shift_calendar(
    session: Session, ctx: CommandContext, *, code: str, name: str, timezone: str = "UTC"
) -> ShiftCalendar:
    """A shift calendar; shift start times are local times in its time zone."""
    domain.check_timezone(timezone)
    row = session.scalar(select(ShiftCalendar).where(ShiftCalendar.code == code))
    before = None if row is None else {"code": code, "name": row.name, "timezone": row.timezone}
    if row is None:
        row = ShiftCalendar(code=code)
    row.name, row.timezone = name, timezone
    save_and_audit(
        session,
        ctx,
        "shift_calendar",
        row,
        before,
        {"code": code, "name": name, "timezone": timezone},
    )
    return row


def _shift_view(calendar_code: str, code: str, pattern: domain.ShiftPattern) -> dict[str, Any]:
    return {
        "calendar": calendar_code,
        "code": code,
        "name": pattern.name,
        "starts_at": pattern.starts_at,
        "minutes": pattern.minutes,
        "weekdays": list(pattern.weekdays),
        "breaks": [vars(pause) for pause in pattern.breaks],
    }


def upsert_shift(
    session: Session,
    ctx: CommandContext,
    *,
    calendar_code: str,
    code: str,
    name: str,
    starts_at: time,
    minutes: int,
    weekdays: Sequence[int],
    breaks: Sequence[BreakSpec] = (),
) -> Shift:
    """A shift pattern of a calendar with its planned breaks, which lie inside the shift."""
    calendar = queries.calendar_by_code(session, calendar_code)
    domain.check_shift(code, minutes, weekdays, breaks)
    row = session.scalar(select(Shift).where(Shift.calendar_id == calendar.id, Shift.code == code))
    content = domain.shift_pattern(name, starts_at, minutes, weekdays, breaks)
    before = None
    if row is not None:
        recorded = [
            BreakSpec(b.name, b.offset_minutes, b.minutes) for b in _breaks(session, row.id)
        ]
        old = domain.shift_pattern(row.name, row.starts_at, row.minutes, row.weekdays, recorded)
        if old == content:
            return row
        before = _shift_view(calendar_code, code, old)
        session.execute(delete(ShiftBreak).where(ShiftBreak.shift_id == row.id))
    else:
        row = Shift(calendar_id=calendar.id, code=code)
        session.add(row)
    row.name, row.starts_at, row.minutes = name, starts_at, minutes
    row.weekdays = sorted(weekdays)
    session.flush()
    for pause in breaks:
        session.add(
            ShiftBreak(
                shift_id=row.id,
                name=pause.name,
                offset_minutes=pause.offset_minutes,
                minutes=pause.minutes,
            )
        )
    save_and_audit(session, ctx, "shift", row, before, _shift_view(calendar_code, code, content))
    return row


def _breaks(session: Session, shift_id: int) -> list[ShiftBreak]:
    return list(session.scalars(select(ShiftBreak).where(ShiftBreak.shift_id == shift_id)))


def _shift(session: Session, shift_code: str, calendar_code: str | None) -> Shift:
    stmt = select(Shift).where(Shift.code == shift_code)
    if calendar_code is not None:
        stmt = stmt.where(Shift.calendar_id == queries.calendar_by_code(session, calendar_code).id)
    found = session.scalars(stmt).all()
    if not found:
        raise NotFound(f"no shift with code '{shift_code}'")
    if len(found) > 1:
        raise RuleViolation(
            f"shift code '{shift_code}' exists in several calendars; name the calendar"
        )
    return found[0]


def upsert_crew(
    session: Session,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    shift_code: str | None = None,
    calendar_code: str | None = None,
    members: Sequence[str] = (),
) -> Crew:
    """A crew working one shift, with its members by user name (the list replaces the old)."""
    shift = _shift(session, shift_code, calendar_code) if shift_code else None
    users = [queries.user_by(session, username, None) for username in dict.fromkeys(members)]
    row = session.scalar(select(Crew).where(Crew.code == code))
    before = None
    if row is not None:
        before = _crew_view(session, row)
    else:
        row = Crew(code=code)
        session.add(row)
    row.name, row.shift_id = name, shift.id if shift else None
    session.flush()
    present = set(session.scalars(select(CrewMember.user_id).where(CrewMember.crew_id == row.id)))
    wanted = {user.id for user in users}
    if present - wanted:
        session.execute(
            delete(CrewMember).where(
                CrewMember.crew_id == row.id, CrewMember.user_id.in_(present - wanted)
            )
        )
    session.add_all(CrewMember(crew_id=row.id, user_id=uid) for uid in sorted(wanted - present))
    session.flush()
    audit_change(session, ctx, "crew", row.id, before, _crew_view(session, row))
    return row


def _crew_view(session: Session, row: Crew) -> dict[str, Any]:
    shift = session.get(Shift, row.shift_id) if row.shift_id else None
    members = session.scalars(
        select(User.username)
        .join(CrewMember, CrewMember.user_id == User.id)
        .where(CrewMember.crew_id == row.id)
        .order_by(User.username)
    )
    return {
        "code": row.code,
        "name": row.name,
        "shift": shift.code if shift else None,
        "members": list(members),
    }
