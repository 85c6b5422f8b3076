"""Master-data tables (prefix md_)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, Quantity, UtcDateTime


class Equipment(Base):
    """One node of the ISA-95 hierarchy: enterprise, site, area, line, work center, equipment."""

    __tablename__ = "md_equipment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("md_equipment.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("md_shift_calendar.id"))


class UnitOfMeasure(Base):
    __tablename__ = "md_uom"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[str] = mapped_column(String(32))  # count, mass, length, volume, time


class UomConversion(Base):
    """`1 from_uom = factor * to_uom`; item-specific when item_id is set (1 box = 12 pcs)."""

    __tablename__ = "md_uom_conversion"
    __table_args__ = (UniqueConstraint("from_uom_id", "to_uom_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    to_uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    factor: Mapped[Decimal] = mapped_column(Quantity())
    item_id: Mapped[int | None] = mapped_column(ForeignKey("md_item.id"))


class Item(Base):
    """An item cached from ERP; `attributes` holds local ones (line code, label template)."""

    __tablename__ = "md_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    lot_tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    serial_tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    erp_version: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Bom(Base):
    """A BOM version: normative components per `quantity` of the item, with effective dates."""

    __tablename__ = "md_bom"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BomLine(Base):
    __tablename__ = "md_bom_line"
    __table_args__ = (UniqueConstraint("bom_id", "line_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bom_id: Mapped[int] = mapped_column(ForeignKey("md_bom.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    tolerance_pct: Mapped[Decimal] = mapped_column(Quantity())
    operation_no: Mapped[int | None] = mapped_column(Integer)


class BomAlternative(Base):
    """An approved substitute for one BOM line's component (1:1 unless `ratio` says)."""

    __tablename__ = "md_bom_alternative"
    __table_args__ = (UniqueConstraint("bom_line_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bom_line_id: Mapped[int] = mapped_column(ForeignKey("md_bom_line.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"))
    ratio: Mapped[Decimal] = mapped_column(Quantity())


class Routing(Base):
    __tablename__ = "md_routing"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RoutingOperation(Base):
    __tablename__ = "md_routing_operation"
    __table_args__ = (UniqueConstraint("routing_id", "operation_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    routing_id: Mapped[int] = mapped_column(ForeignKey("md_routing.id"), index=True)
    operation_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    work_center_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"))
    setup_minutes: Mapped[Decimal] = mapped_column(Quantity())
    ideal_cycle_seconds: Mapped[Decimal] = mapped_column(Quantity())
    required_skill_id: Mapped[int | None] = mapped_column(ForeignKey("md_skill.id"))


class Skill(Base):
    __tablename__ = "md_skill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Certification(Base):
    """A person's certified skill, valid from a date and until an expiry (or for good)."""

    __tablename__ = "md_certification"
    __table_args__ = (UniqueConstraint("user_id", "skill_id", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("id_user.id"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("md_skill.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ShiftCalendar(Base):
    __tablename__ = "md_shift_calendar"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))


class Shift(Base):
    """A shift pattern: starts at a local time, lasts `minutes`, on the given weekdays (0=Mon)."""

    __tablename__ = "md_shift"
    __table_args__ = (UniqueConstraint("calendar_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("md_shift_calendar.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[time] = mapped_column(Time)
    minutes: Mapped[int] = mapped_column(Integer)
    weekdays: Mapped[list[int]] = mapped_column(JSON)


class ShiftBreak(Base):
    """A planned break inside a shift, `offset_minutes` after the shift starts."""

    __tablename__ = "md_shift_break"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("md_shift.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    offset_minutes: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(Integer)


class Crew(Base):
    __tablename__ = "md_crew"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("md_shift.id"))


class CrewMember(Base):
    __tablename__ = "md_crew_member"

    crew_id: Mapped[int] = mapped_column(ForeignKey("md_crew.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("id_user.id"), primary_key=True)


class DowntimeReason(Base):
    """The reason tree: category → reason → detail; `planned` separates planned stops."""

    __tablename__ = "md_downtime_reason"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))  # category, reason, detail
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("md_downtime_reason.id"))
    planned: Mapped[bool] = mapped_column(Boolean, default=False)


class QualityCode(Base):
    """A scrap, defect or rework code, shared by every line so analytics line up."""

    __tablename__ = "md_quality_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # scrap, defect, rework
