"""Plain listings of every master-data directory, for the API's GET endpoints and the
supervisor pages: items, the equipment tree, work centers, skills, the reason tree, quality
codes, shifts with their breaks, crews, and the certifications of a person.

Re-exported by `shopfloor.masterdata.queries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.identity.tables import User
from shopfloor.masterdata import domain
from shopfloor.masterdata.tables import (
    Certification,
    Crew,
    CrewMember,
    DowntimeReason,
    Equipment,
    Item,
    QualityCode,
    Shift,
    ShiftBreak,
    ShiftCalendar,
    Skill,
    UnitOfMeasure,
)


@dataclass(frozen=True)
class ItemEntry:
    code: str
    name: str
    uom_code: str
    lot_tracked: bool
    serial_tracked: bool
    erp_version: str | None
    attributes: dict[str, str]


def list_items(session: Session) -> list[ItemEntry]:
    rows = session.execute(
        select(Item, UnitOfMeasure.code)
        .join(UnitOfMeasure, UnitOfMeasure.id == Item.uom_id)
        .order_by(Item.code)
    ).all()
    return [
        ItemEntry(
            i.code,
            i.name,
            uom,
            i.lot_tracked,
            i.serial_tracked,
            i.erp_version,
            dict(i.attributes or {}),
        )
        for i, uom in rows
    ]


@dataclass(frozen=True)
class EquipmentNode:
    """One node of the equipment hierarchy with the nodes directly below it."""

    code: str
    name: str
    level: str
    parent_code: str | None
    calendar_code: str | None
    children: tuple[EquipmentNode, ...] = ()


def _equipment_nodes(session: Session) -> dict[int | None, list[tuple[Equipment, str | None]]]:
    below: dict[int | None, list[tuple[Equipment, str | None]]] = {}
    for row, calendar in session.execute(
        select(Equipment, ShiftCalendar.code)
        .outerjoin(ShiftCalendar, ShiftCalendar.id == Equipment.calendar_id)
        .order_by(Equipment.code)
    ):
        below.setdefault(row.parent_id, []).append((row, calendar))
    return below


def _equipment_subtree(
    below: dict[int | None, list[tuple[Equipment, str | None]]],
    row: Equipment,
    calendar: str | None,
    parent_code: str | None,
) -> EquipmentNode:
    children = tuple(
        _equipment_subtree(below, child, cal, row.code) for child, cal in below.get(row.id, [])
    )
    return EquipmentNode(row.code, row.name, row.level, parent_code, calendar, children)


def equipment_tree(session: Session) -> list[EquipmentNode]:
    """The whole ISA-95 hierarchy, from each enterprise (or other root) down."""
    below = _equipment_nodes(session)
    return [_equipment_subtree(below, row, cal, None) for row, cal in below.get(None, [])]


def list_work_centers(session: Session) -> list[EquipmentNode]:
    """Every work center with its equipment below it."""
    below = _equipment_nodes(session)
    codes = {row.id: row.code for rows in below.values() for row, _ in rows}
    return [
        _equipment_subtree(below, row, cal, codes.get(parent_id) if parent_id else None)
        for parent_id, rows in below.items()
        for row, cal in rows
        if row.level == "work_center"
    ]


def list_skills(session: Session) -> list[Skill]:
    return list(session.scalars(select(Skill).order_by(Skill.code)))


@dataclass(frozen=True)
class ReasonNode:
    code: str
    name: str
    level: str
    planned: bool
    children: tuple[ReasonNode, ...] = ()


def reason_tree(session: Session) -> list[ReasonNode]:
    """The downtime reason tree: categories, their reasons, and the details of each reason."""
    below: dict[int | None, list[DowntimeReason]] = {}
    for row in session.scalars(select(DowntimeReason).order_by(DowntimeReason.code)):
        below.setdefault(row.parent_id, []).append(row)

    def node(row: DowntimeReason) -> ReasonNode:
        children = tuple(node(child) for child in below.get(row.id, []))
        return ReasonNode(row.code, row.name, row.level, row.planned, children)

    return [node(row) for row in below.get(None, [])]


def list_quality_codes(session: Session, kind: str | None = None) -> list[QualityCode]:
    stmt = select(QualityCode).order_by(QualityCode.kind, QualityCode.code)
    if kind is not None:
        stmt = stmt.where(QualityCode.kind == kind)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class ShiftEntry:
    calendar_code: str
    timezone: str
    code: str
    name: str
    starts_at: time
    minutes: int
    weekdays: tuple[int, ...]
    breaks: tuple[domain.BreakSpec, ...]


def list_shifts(session: Session, calendar_code: str | None = None) -> list[ShiftEntry]:
    """Shift patterns with their planned breaks, by calendar and start time."""
    stmt = (
        select(Shift, ShiftCalendar.code, ShiftCalendar.timezone)
        .join(ShiftCalendar, ShiftCalendar.id == Shift.calendar_id)
        .order_by(ShiftCalendar.code, Shift.starts_at, Shift.code)
    )
    if calendar_code is not None:
        stmt = stmt.where(ShiftCalendar.code == calendar_code)
    rows = session.execute(stmt).all()
    breaks: dict[int, list[domain.BreakSpec]] = {}
    for pause in session.scalars(
        select(ShiftBreak)
        .where(ShiftBreak.shift_id.in_([shift.id for shift, *_ in rows]))
        .order_by(ShiftBreak.offset_minutes)
    ):
        breaks.setdefault(pause.shift_id, []).append(
            domain.BreakSpec(pause.name, pause.offset_minutes, pause.minutes)
        )
    return [
        ShiftEntry(
            calendar,
            timezone,
            shift.code,
            shift.name,
            shift.starts_at,
            shift.minutes,
            tuple(shift.weekdays),
            tuple(breaks.get(shift.id, ())),
        )
        for shift, calendar, timezone in rows
    ]


@dataclass(frozen=True)
class CrewEntry:
    code: str
    name: str
    calendar_code: str | None
    shift_code: str | None
    members: tuple[str, ...]


def list_crews(session: Session) -> list[CrewEntry]:
    """Crews with their shift and the user names of their members."""
    rows = session.execute(
        select(Crew, Shift.code, ShiftCalendar.code)
        .outerjoin(Shift, Shift.id == Crew.shift_id)
        .outerjoin(ShiftCalendar, ShiftCalendar.id == Shift.calendar_id)
        .order_by(Crew.code)
    ).all()
    members: dict[int, list[str]] = {}
    for crew_id, username in session.execute(
        select(CrewMember.crew_id, User.username)
        .join(User, User.id == CrewMember.user_id)
        .order_by(User.username)
    ):
        members.setdefault(crew_id, []).append(username)
    return [
        CrewEntry(crew.code, crew.name, calendar, shift, tuple(members.get(crew.id, ())))
        for crew, shift, calendar in rows
    ]


@dataclass(frozen=True)
class CertificationEntry:
    skill_code: str
    skill_name: str
    valid_from: date
    expires_on: date | None
    revoked: bool
    valid_on_date: bool | None


def certifications_of(
    session: Session, user_id: int, on: date | None = None
) -> list[CertificationEntry]:
    """A person's certifications, newest first; with `on`, whether each holds on that day."""
    rows = session.execute(
        select(Certification, Skill.code, Skill.name)
        .join(Skill, Skill.id == Certification.skill_id)
        .where(Certification.user_id == user_id)
        .order_by(Skill.code, Certification.valid_from.desc())
    ).all()
    return [
        CertificationEntry(
            code,
            name,
            cert.valid_from,
            cert.expires_on,
            cert.revoked,
            None
            if on is None
            else domain.certification_valid(cert.valid_from, cert.expires_on, cert.revoked, on),
        )
        for cert, code, name in rows
    ]
