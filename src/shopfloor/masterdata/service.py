"""Master-data use cases: idempotent upserts keyed on the plant's codes. Never commits.

Sending the same record again changes nothing and writes no audit entry; a changed record
writes one entry with the old and the new values. This module is the one entry to every
master-data command: BOM and routing versions live in `service_versions`, skills,
certifications, shifts and crews in `service_personnel`, and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import domain, queries
from shopfloor.masterdata import service_personnel as _personnel
from shopfloor.masterdata import service_versions as _versions
from shopfloor.masterdata.changes import save_and_audit
from shopfloor.masterdata.tables import (
    DowntimeReason,
    Equipment,
    Item,
    QualityCode,
    ShiftCalendar,
    UnitOfMeasure,
    UomConversion,
)

# Re-exported: the other master-data commands live in `service_personnel`.
grant_certification = _personnel.grant_certification
revoke_certification = _personnel.revoke_certification
upsert_crew = _personnel.upsert_crew
upsert_shift = _personnel.upsert_shift
upsert_shift_calendar = _personnel.upsert_shift_calendar
upsert_skill = _personnel.upsert_skill

# Re-exported: the other master-data commands live in `service_versions`.
upsert_bom_version = _versions.upsert_bom_version
upsert_routing_version = _versions.upsert_routing_version


def _uom_view(row: UnitOfMeasure) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "dimension": row.dimension}


def upsert_uom(
    session: Session, ctx: CommandContext, *, code: str, name: str, dimension: str
) -> UnitOfMeasure:
    """A unit of measure; its dimension cannot change once conversions use it."""
    domain.check_dimension(dimension)
    row = session.scalar(select(UnitOfMeasure).where(UnitOfMeasure.code == code))
    before = None if row is None else _uom_view(row)
    if row is None:
        row = UnitOfMeasure(code=code)
    elif row.dimension != dimension and session.scalar(
        select(UomConversion.id).where(
            (UomConversion.from_uom_id == row.id) | (UomConversion.to_uom_id == row.id)
        )
    ):
        raise Conflict(f"unit {code} is used by conversions; its dimension cannot change")
    row.name, row.dimension = name, dimension
    save_and_audit(session, ctx, "uom", row, before, _uom_view(row))
    return row


def upsert_uom_conversion(
    session: Session,
    ctx: CommandContext,
    *,
    from_uom_code: str,
    to_uom_code: str,
    factor: Decimal,
    item_code: str | None = None,
) -> UomConversion:
    """`1 from = factor * to`, for every item or for one item. One pair is recorded in one
    direction only; the inverse is derived."""
    factor = qty(factor)
    domain.check_factor(from_uom_code, to_uom_code, factor)
    source = queries.uom_by_code(session, from_uom_code)
    target = queries.uom_by_code(session, to_uom_code)
    item = queries.item_by_code(session, item_code) if item_code else None
    if item is None:
        domain.check_generic_dimensions(
            from_uom_code,
            to_uom_code,
            {source.code: source.dimension, target.code: target.dimension},
        )
    item_id = item.id if item else None
    scope = f" for item {item_code}" if item_code else ""
    reverse = _conversion(session, target.id, source.id, item_id)
    if reverse is not None:
        raise Conflict(
            f"the conversion between {from_uom_code} and {to_uom_code}{scope} is recorded as "
            f"{to_uom_code} → {from_uom_code}; change that one"
        )
    row = _conversion(session, source.id, target.id, item_id)
    before = None if row is None else {"factor": row.factor}
    if row is None:
        row = UomConversion(from_uom_id=source.id, to_uom_id=target.id, item_id=item_id)
    row.factor = factor
    view = {"from": from_uom_code, "to": to_uom_code, "item": item_code, "factor": factor}
    save_and_audit(session, ctx, "uom_conversion", row, before and {**view, **before}, view)
    return row


def _conversion(
    session: Session, from_id: int, to_id: int, item_id: int | None
) -> UomConversion | None:
    item_match = (
        UomConversion.item_id.is_(None) if item_id is None else (UomConversion.item_id == item_id)
    )
    return session.scalar(
        select(UomConversion).where(
            UomConversion.from_uom_id == from_id, UomConversion.to_uom_id == to_id, item_match
        )
    )


# --- equipment hierarchy --------------------------------------------------------------


def _equipment_view(session: Session, row: Equipment) -> dict[str, Any]:
    parent = session.get(Equipment, row.parent_id) if row.parent_id else None
    calendar = session.get(ShiftCalendar, row.calendar_id) if row.calendar_id else None
    return {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "parent": parent.code if parent else None,
        "calendar": calendar.code if calendar else None,
    }


def upsert_equipment(
    session: Session,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    level: str,
    parent_code: str | None = None,
    calendar_code: str | None = None,
) -> Equipment:
    """A node of the ISA-95 hierarchy, exactly one level below its parent."""
    parent = queries.equipment_by_code(session, parent_code) if parent_code else None
    domain.check_equipment_parent(level, parent.level if parent else None)
    calendar = queries.calendar_by_code(session, calendar_code) if calendar_code else None
    row = session.scalar(select(Equipment).where(Equipment.code == code))
    before = None if row is None else _equipment_view(session, row)
    if row is None:
        row = Equipment(code=code, active=True)
    elif row.level != level and session.scalar(
        select(Equipment.id).where(Equipment.parent_id == row.id).limit(1)
    ):
        raise Conflict(f"{code} has equipment below it; its level ({row.level}) cannot change")
    row.name, row.level = name, level
    row.parent_id = parent.id if parent else None
    row.calendar_id = calendar.id if calendar else None
    save_and_audit(session, ctx, "equipment", row, before, _equipment_view(session, row))
    return row


# --- items ----------------------------------------------------------------------------


def _item_view(session: Session, row: Item) -> dict[str, Any]:
    uom = session.get(UnitOfMeasure, row.uom_id)
    return {
        "code": row.code,
        "name": row.name,
        "uom": uom.code if uom else None,
        "lot_tracked": row.lot_tracked,
        "serial_tracked": row.serial_tracked,
        "erp_version": row.erp_version,
        "attributes": dict(row.attributes or {}),
    }


def upsert_item(
    session: Session,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    uom_code: str,
    lot_tracked: bool = False,
    serial_tracked: bool = False,
    erp_version: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Item:
    """The cached copy of an ERP item, with local attributes (line code, label template)."""
    uom = queries.uom_by_code(session, uom_code)
    row = session.scalar(select(Item).where(Item.code == code))
    before = None if row is None else _item_view(session, row)
    if row is None:
        row = Item(code=code)
    row.name, row.uom_id = name, uom.id
    row.lot_tracked, row.serial_tracked = lot_tracked, serial_tracked
    row.erp_version = erp_version
    row.attributes = dict(attributes or {})
    after = _item_view(session, row)
    if before != after:
        row.updated_at = ctx.now
    save_and_audit(session, ctx, "item", row, before, after)
    return row


# --- downtime reasons and quality codes -----------------------------------------------


def upsert_downtime_reason(
    session: Session,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    level: str,
    parent_code: str | None = None,
    planned: bool = False,
) -> DowntimeReason:
    """A node of the reason tree (category → reason → detail); `planned` marks planned stops,
    which OEE takes out of planned production time."""
    parent = queries.downtime_reason_by_code(session, parent_code) if parent_code else None
    domain.check_reason_parent(level, parent.level if parent else None)
    row = session.scalar(select(DowntimeReason).where(DowntimeReason.code == code))
    if (
        row is not None
        and row.level != level
        and session.scalar(
            select(DowntimeReason.id).where(DowntimeReason.parent_id == row.id).limit(1)
        )
    ):
        raise Conflict(f"reason {code} has reasons below it; its level ({row.level}) cannot change")
    before = None if row is None else _reason_view(session, row)
    if row is None:
        row = DowntimeReason(code=code)
    row.name, row.level, row.planned = name, level, planned
    row.parent_id = parent.id if parent else None
    save_and_audit(session, ctx, "downtime_reason", row, before, _reason_view(session, row))
    return row


def _reason_view(session: Session, row: DowntimeReason) -> dict[str, Any]:
    parent = session.get(DowntimeReason, row.parent_id) if row.parent_id else None
    return {
        "code": row.code,
        "name": row.name,
        "level": row.level,
        "parent": parent.code if parent else None,
        "planned": row.planned,
    }


def upsert_quality_code(
    session: Session, ctx: CommandContext, *, code: str, name: str, kind: str
) -> QualityCode:
    """A scrap, defect or rework code shared by every line."""
    domain.check_quality_kind(kind)
    row = session.scalar(select(QualityCode).where(QualityCode.code == code))
    before = None if row is None else {"code": code, "name": row.name, "kind": row.kind}
    if row is None:
        row = QualityCode(code=code)
    row.name, row.kind = name, kind
    save_and_audit(
        session, ctx, "quality_code", row, before, {"code": code, "name": name, "kind": kind}
    )
    return row
