"""Read side of master data: look-ups by the plant's codes, returning rows or NotFound."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata.tables import (
    Certification,
    DowntimeReason,
    Equipment,
    Item,
    QualityCode,
    Skill,
    UnitOfMeasure,
)

Row = TypeVar("Row", Item, UnitOfMeasure, Equipment, Skill, QualityCode, DowntimeReason)


def _by_code(session: Session, table: type[Row], code: str, what: str) -> Row:
    row = session.scalar(select(table).where(table.code == code))
    if row is None:
        raise NotFound(f"no {what} with code '{code}'")
    return row


def item_by_code(session: Session, code: str) -> Item:
    return _by_code(session, Item, code, "item")


def uom_by_code(session: Session, code: str) -> UnitOfMeasure:
    return _by_code(session, UnitOfMeasure, code, "unit of measure")


def equipment_by_code(session: Session, code: str) -> Equipment:
    return _by_code(session, Equipment, code, "equipment or work center")


def skill_by_code(session: Session, code: str) -> Skill:
    return _by_code(session, Skill, code, "skill")


def quality_code_by_code(session: Session, code: str) -> QualityCode:
    return _by_code(session, QualityCode, code, "scrap/defect/rework code")


def downtime_reason_by_code(session: Session, code: str) -> DowntimeReason:
    return _by_code(session, DowntimeReason, code, "downtime reason")


def is_qualified(session: Session, user_id: int, skill_id: int, on: date) -> bool:
    """Whether the person holds the skill on that day: certified, not revoked, not expired."""
    found = session.scalar(
        select(Certification.id).where(
            Certification.user_id == user_id,
            Certification.skill_id == skill_id,
            Certification.revoked.is_(False),
            Certification.valid_from <= on,
            or_(Certification.expires_on.is_(None), Certification.expires_on >= on),
        )
    )
    return found is not None
