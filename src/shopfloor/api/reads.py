"""Reads the API needs that the domain query modules do not offer (yet).

Each one reads the owning domain's tables and returns plain values; none writes. The
masterdata ones compose `masterdata.queries` (a BOM version with its lines, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata import domain as md_domain
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import (
    Bom,
    Certification,
    Item,
    Routing,
    ShiftCalendar,
    Skill,
    UnitOfMeasure,
)

# --- items, BOMs and routings -------------------------------------------------------------


def item_entry(session: Session, code: str) -> md.ItemEntry:
    """One item by code, with the code of its unit."""
    found = session.execute(
        select(Item, UnitOfMeasure.code)
        .join(UnitOfMeasure, UnitOfMeasure.id == Item.uom_id)
        .where(Item.code == code)
    ).first()
    if found is None:
        raise NotFound(f"no item with code '{code}'")
    item, uom = found
    return md.ItemEntry(
        item.code,
        item.name,
        uom,
        item.lot_tracked,
        item.serial_tracked,
        item.erp_version,
        dict(item.attributes or {}),
    )


@dataclass(frozen=True)
class BomView:
    id: int
    item_code: str
    version: str
    quantity: Decimal
    effective_from: date
    effective_to: date | None
    recorded_at: datetime
    lines: list[md.BomLineRow]


def bom_view(session: Session, item_code: str, bom: Bom) -> BomView:
    return BomView(
        bom.id,
        item_code,
        bom.version,
        bom.quantity,
        bom.effective_from,
        bom.effective_to,
        bom.recorded_at,
        md.bom_lines(session, bom.id),
    )


def boms_of_item(session: Session, item_code: str) -> list[BomView]:
    """Every BOM version of the item with its lines, oldest effective first."""
    return [bom_view(session, item_code, bom) for bom in md.bom_versions(session, item_code)]


@dataclass(frozen=True)
class RoutingView:
    id: int
    item_code: str
    version: str
    effective_from: date
    effective_to: date | None
    recorded_at: datetime
    operations: list[md.RoutingOperationRow]


def routing_view(session: Session, item_code: str, routing: Routing) -> RoutingView:
    return RoutingView(
        routing.id,
        item_code,
        routing.version,
        routing.effective_from,
        routing.effective_to,
        routing.recorded_at,
        md.routing_operations(session, routing.id),
    )


def routings_of_item(session: Session, item_code: str) -> list[RoutingView]:
    """Every routing version of the item with its operations, oldest effective first."""
    return [
        routing_view(session, item_code, routing)
        for routing in md.routing_versions(session, item_code)
    ]


# --- calendars and certifications ---------------------------------------------------------


def list_calendars(session: Session) -> list[ShiftCalendar]:
    return list(session.scalars(select(ShiftCalendar).order_by(ShiftCalendar.code)))


@dataclass(frozen=True)
class CertificationView:
    id: int
    user_id: int
    username: str
    skill_code: str
    skill_name: str
    valid_from: date
    expires_on: date | None
    revoked: bool
    valid_today: bool


def certifications_of_user(session: Session, user_id: int, today: date) -> list[CertificationView]:
    """A person's certifications (with their ids), by skill, newest first; NotFound for an
    unknown person."""
    user = md.user_by(session, user_id=user_id)
    rows = session.execute(
        select(Certification, Skill.code, Skill.name)
        .join(Skill, Skill.id == Certification.skill_id)
        .where(Certification.user_id == user.id)
        .order_by(Skill.code, Certification.valid_from.desc())
    ).all()
    return [
        CertificationView(
            cert.id,
            user.id,
            user.username,
            code,
            name,
            cert.valid_from,
            cert.expires_on,
            cert.revoked,
            md_domain.certification_valid(cert.valid_from, cert.expires_on, cert.revoked, today),
        )
        for cert, code, name in rows
    ]


def certification_view(session: Session, cert: Certification, today: date) -> CertificationView:
    user = md.user_by(session, user_id=cert.user_id)
    skill = md.skill_by_id(session, cert.skill_id)
    return CertificationView(
        cert.id,
        user.id,
        user.username,
        skill.code,
        skill.name,
        cert.valid_from,
        cert.expires_on,
        cert.revoked,
        md_domain.certification_valid(cert.valid_from, cert.expires_on, cert.revoked, today),
    )


def certification_holder(session: Session, certification_id: int) -> tuple[int, str]:
    """(user id, skill code) of a certification; NotFound when there is none with the id."""
    found = session.execute(
        select(Certification.user_id, Skill.code)
        .join(Skill, Skill.id == Certification.skill_id)
        .where(Certification.id == certification_id)
    ).first()
    if found is None:
        raise NotFound(f"no certification with id {certification_id}")
    return found[0], found[1]


def crew_entry(session: Session, code: str) -> md.CrewEntry:
    """One crew by code, with its shift and members."""
    for crew in md.list_crews(session):
        if crew.code == code:
            return crew
    raise NotFound(f"no crew with code '{code}'")
