"""Read side of master data: look-ups by the plant's codes (rows or NotFound), effective
BOM and routing versions, unit conversion, and plain listings of every directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from shopfloor.identity.tables import User
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.masterdata import domain
from shopfloor.masterdata import queries_directory as _directory
from shopfloor.masterdata.tables import (
    Bom,
    BomAlternative,
    BomLine,
    Certification,
    DowntimeReason,
    Equipment,
    Item,
    QualityCode,
    Routing,
    RoutingOperation,
    ShiftCalendar,
    Skill,
    UnitOfMeasure,
    UomConversion,
)

Row = TypeVar("Row", Item, UnitOfMeasure, Equipment, Skill, QualityCode, DowntimeReason)

# Re-exported: the directory listings live in `queries_directory`.
CertificationEntry = _directory.CertificationEntry
CrewEntry = _directory.CrewEntry
EquipmentNode = _directory.EquipmentNode
ItemEntry = _directory.ItemEntry
ReasonNode = _directory.ReasonNode
ShiftEntry = _directory.ShiftEntry
certifications_of = _directory.certifications_of
equipment_tree = _directory.equipment_tree
list_crews = _directory.list_crews
list_items = _directory.list_items
list_quality_codes = _directory.list_quality_codes
list_shifts = _directory.list_shifts
list_skills = _directory.list_skills
list_work_centers = _directory.list_work_centers
reason_tree = _directory.reason_tree


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


# --- look-ups by id and for execution (appended for execution/materials) -------------------


def _by_id(session: Session, table: type[Row], row_id: int, what: str) -> Row:
    row = session.get(table, row_id)
    if row is None:
        raise NotFound(f"no {what} with id {row_id}")
    return row


def item_by_id(session: Session, item_id: int) -> Item:
    return _by_id(session, Item, item_id, "item")


def uom_by_id(session: Session, uom_id: int) -> UnitOfMeasure:
    return _by_id(session, UnitOfMeasure, uom_id, "unit of measure")


def equipment_by_id(session: Session, equipment_id: int) -> Equipment:
    return _by_id(session, Equipment, equipment_id, "equipment or work center")


def skill_by_id(session: Session, skill_id: int) -> Skill:
    return _by_id(session, Skill, skill_id, "skill")


def work_center_for_update(session: Session, code: str) -> Equipment:
    """The work center by code, row-locked (PostgreSQL) so stops on it are recorded in turn."""
    row = session.scalar(select(Equipment).where(Equipment.code == code).with_for_update())
    if row is None:
        raise NotFound(f"no equipment or work center with code '{code}'")
    return row


def certifications_for(session: Session, user_id: int, skill_id: int) -> list[Certification]:
    """Every certification of a person for a skill, newest validity first (for messages)."""
    return list(
        session.scalars(
            select(Certification)
            .where(Certification.user_id == user_id, Certification.skill_id == skill_id)
            .order_by(Certification.valid_from.desc())
        )
    )


def bom_and_routing_versions(session: Session, bom_id: int, routing_id: int) -> tuple[str, str]:
    """The exact BOM and routing version strings an order was expanded from."""
    bom = session.get(Bom, bom_id)
    routing = session.get(Routing, routing_id)
    if bom is None or routing is None:
        raise NotFound(f"no BOM {bom_id} or routing {routing_id}")
    return bom.version, routing.version


def calendar_by_code(session: Session, code: str) -> ShiftCalendar:
    row = session.scalar(select(ShiftCalendar).where(ShiftCalendar.code == code))
    if row is None:
        raise NotFound(f"no shift calendar with code '{code}'")
    return row


def user_by(session: Session, username: str | None = None, user_id: int | None = None) -> User:
    """A person named by user name or by id (exactly one of the two)."""
    if (username is None) == (user_id is None):
        raise RuleViolation("name the person by user name or by user id, not both")
    where = User.username == username if username is not None else User.id == user_id
    user = session.scalar(select(User).where(where))
    if user is None:
        raise NotFound(f"no user {username if username is not None else f'with id {user_id}'}")
    return user


# --- unit conversion ------------------------------------------------------------------


def convert_quantity(
    session: Session,
    quantity: Decimal,
    from_uom_code: str,
    to_uom_code: str,
    item_id: int | None = None,
) -> Decimal:
    """`quantity` in another unit, over the recorded conversions; those of the item (when
    given) take precedence over generic ones."""
    dimensions = dict(session.execute(select(UnitOfMeasure.code, UnitOfMeasure.dimension)).all())
    for code in (from_uom_code, to_uom_code):
        if code not in dimensions:
            raise NotFound(f"no unit of measure with code '{code}'")
    source, target = aliased(UnitOfMeasure), aliased(UnitOfMeasure)
    scope = or_(UomConversion.item_id.is_(None), UomConversion.item_id == item_id)
    rows = session.execute(
        select(source.code, target.code, UomConversion.factor, UomConversion.item_id)
        .join(source, source.id == UomConversion.from_uom_id)
        .join(target, target.id == UomConversion.to_uom_id)
        .where(scope)
    ).all()
    conversions = [
        domain.Conversion(from_code, to_code, factor, item_specific=owner is not None)
        for from_code, to_code, factor, owner in rows
    ]
    return domain.convert(quantity, from_uom_code, to_uom_code, conversions, dimensions)


def list_uoms(session: Session) -> list[UnitOfMeasure]:
    return list(session.scalars(select(UnitOfMeasure).order_by(UnitOfMeasure.code)))


# --- BOM and routing versions ---------------------------------------------------------


def bom_versions(session: Session, item_code: str) -> list[Bom]:
    """Every recorded BOM version of the item, oldest effective first."""
    item = item_by_code(session, item_code)
    return list(
        session.scalars(
            select(Bom).where(Bom.item_id == item.id).order_by(Bom.effective_from, Bom.id)
        )
    )


def bom_by_id(session: Session, bom_id: int) -> Bom:
    bom = session.get(Bom, bom_id)
    if bom is None:
        raise NotFound(f"no BOM with id {bom_id}")
    return bom


def routing_by_id(session: Session, routing_id: int) -> Routing:
    routing = session.get(Routing, routing_id)
    if routing is None:
        raise NotFound(f"no routing with id {routing_id}")
    return routing


def bom_of_version(session: Session, item_code: str, version: str) -> Bom:
    for bom in bom_versions(session, item_code):
        if bom.version == version:
            return bom
    raise NotFound(f"no BOM version {version} of item {item_code}")


def effective_bom(session: Session, item_code: str, on: date) -> Bom:
    """The BOM version of the item effective on the day (the latest to take effect wins)."""
    versions = bom_versions(session, item_code)
    chosen = domain.effective_version(
        ((b.version, b.effective_from, b.effective_to) for b in versions), on
    )
    if chosen is None:
        raise NotFound(f"no BOM version of item {item_code} is effective on {on}")
    return next(b for b in versions if b.version == chosen)


def routing_versions(session: Session, item_code: str) -> list[Routing]:
    item = item_by_code(session, item_code)
    return list(
        session.scalars(
            select(Routing)
            .where(Routing.item_id == item.id)
            .order_by(Routing.effective_from, Routing.id)
        )
    )


def routing_of_version(session: Session, item_code: str, version: str) -> Routing:
    for routing in routing_versions(session, item_code):
        if routing.version == version:
            return routing
    raise NotFound(f"no routing version {version} of item {item_code}")


def effective_routing(session: Session, item_code: str, on: date) -> Routing:
    """The routing version of the item effective on the day (the latest to take effect wins)."""
    versions = routing_versions(session, item_code)
    chosen = domain.effective_version(
        ((r.version, r.effective_from, r.effective_to) for r in versions), on
    )
    if chosen is None:
        raise NotFound(f"no routing version of item {item_code} is effective on {on}")
    return next(r for r in versions if r.version == chosen)


@dataclass(frozen=True)
class AlternativeRow:
    item_id: int
    item_code: str
    ratio: Decimal


@dataclass(frozen=True)
class BomLineRow:
    bom_line_id: int
    line_no: int
    item_id: int
    item_code: str
    item_name: str
    quantity: Decimal
    uom_id: int
    uom_code: str
    tolerance_pct: Decimal
    operation_no: int | None
    alternatives: tuple[AlternativeRow, ...]


def bom_lines(session: Session, bom_id: int) -> list[BomLineRow]:
    """The lines of one BOM version with their approved substitutes, by line number."""
    rows = session.execute(
        select(BomLine, Item.code, Item.name, UnitOfMeasure.code)
        .join(Item, Item.id == BomLine.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == BomLine.uom_id)
        .where(BomLine.bom_id == bom_id)
        .order_by(BomLine.line_no)
    ).all()
    substitutes: dict[int, list[AlternativeRow]] = {}
    for line_id, item_id, code, ratio in session.execute(
        select(BomAlternative.bom_line_id, Item.id, Item.code, BomAlternative.ratio)
        .join(Item, Item.id == BomAlternative.item_id)
        .where(BomAlternative.bom_line_id.in_([line.id for line, *_ in rows]))
        .order_by(Item.code)
    ):
        substitutes.setdefault(line_id, []).append(AlternativeRow(item_id, code, ratio))
    return [
        BomLineRow(
            line.id,
            line.line_no,
            line.item_id,
            item_code,
            item_name,
            line.quantity,
            line.uom_id,
            uom_code,
            line.tolerance_pct,
            line.operation_no,
            tuple(substitutes.get(line.id, ())),
        )
        for line, item_code, item_name, uom_code in rows
    ]


@dataclass(frozen=True)
class RoutingOperationRow:
    routing_operation_id: int
    operation_no: int
    name: str
    work_center_id: int
    work_center_code: str
    setup_minutes: Decimal
    ideal_cycle_seconds: Decimal
    required_skill_id: int | None
    required_skill_code: str | None


def routing_operations(session: Session, routing_id: int) -> list[RoutingOperationRow]:
    """The operations of one routing version, in routing order."""
    rows = session.execute(
        select(RoutingOperation, Equipment.code, Skill.code)
        .join(Equipment, Equipment.id == RoutingOperation.work_center_id)
        .outerjoin(Skill, Skill.id == RoutingOperation.required_skill_id)
        .where(RoutingOperation.routing_id == routing_id)
        .order_by(RoutingOperation.operation_no)
    ).all()
    return [
        RoutingOperationRow(
            op.id,
            op.operation_no,
            op.name,
            op.work_center_id,
            work_center_code,
            op.setup_minutes,
            op.ideal_cycle_seconds,
            op.required_skill_id,
            skill_code,
        )
        for op, work_center_code, skill_code in rows
    ]
