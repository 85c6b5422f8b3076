"""Maintenance tables (prefix mch_mnt_): trigger rules, the requests they raise, and the
periods equipment spends under maintenance (planned stops, out of dispatch)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, Quantity, UtcDateTime


class MaintenanceRule(Base):
    """Ask for maintenance when run hours, cycle count or repeated stops of one reason
    within a window reach `threshold` (see `machines.domain.maintenance`)."""

    __tablename__ = "mch_mnt_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # run_hours, cycle_count, repeated_downtime
    threshold: Mapped[Decimal] = mapped_column(Quantity())
    window_minutes: Mapped[int | None] = mapped_column(Integer)
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("md_downtime_reason.id"))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MaintenanceRequest(Base):
    """An item for the supervisor: maintenance asked for by a rule (or by a person)."""

    __tablename__ = "mch_mnt_request"
    __table_args__ = (Index("ix_mch_mnt_request_open", "status", "equipment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("mch_mnt_rule.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open, closed
    measured: Mapped[Decimal | None] = mapped_column(Quantity())
    threshold: Mapped[Decimal | None] = mapped_column(Quantity())
    note: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_by: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MaintenancePeriod(Base):
    """Equipment under maintenance from `started_at` until `ended_at` (open: still under
    maintenance): a planned stop, and the equipment is out of dispatch meanwhile."""

    __tablename__ = "mch_mnt_period"
    __table_args__ = (Index("ix_mch_mnt_period_equipment", "equipment_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("mch_mnt_request.id"))
    note: Mapped[str] = mapped_column(Text)
    started_by: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_by: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
