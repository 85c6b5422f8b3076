"""Execution fact tables (prefix exe_). Append-only: corrections reverse, never edit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, Quantity, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class OperationEvent(Base):
    """A status change of an operation: who moved it from what to what, and when."""

    __tablename__ = "exe_operation_event"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("ord_operation.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"))
    command: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    work_center_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"))
    user_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    discrepancy: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProductionReport(Base):
    """Good, scrap or rework quantity of one operation, per lot or serial, with its code."""

    __tablename__ = "exe_production_report"
    __table_args__ = (
        Index("ix_exe_production_report_order", "order_id", "operation_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"))
    operation_id: Mapped[int] = mapped_column(ForeignKey("ord_operation.id"))
    kind: Mapped[str] = mapped_column(String(8))  # good, scrap, rework
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("mat_lot.id"))
    serial_id: Mapped[int | None] = mapped_column(ForeignKey("mat_serial.id"))
    quality_code_id: Mapped[int | None] = mapped_column(ForeignKey("md_quality_code.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("exe_production_report.id"))
    discrepancy: Mapped[str | None] = mapped_column(String(32))
    bom_version: Mapped[str] = mapped_column(String(64))
    routing_version: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OperationOutput(Base):
    """Running total of the reports of one operation per kind (good, scrap, rework):
    Σ quantity of its `exe_production_report` rows, reversals included, kept by every report
    and reversal. The flow check reads it instead of summing the operation's history."""

    __tablename__ = "exe_operation_output"

    operation_id: Mapped[int] = mapped_column(ForeignKey("ord_operation.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())


class LaborRecord(Base):
    """Time a person spent on an operation."""

    __tablename__ = "exe_labor"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"), index=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("ord_operation.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("id_user.id"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    minutes: Mapped[Decimal] = mapped_column(Quantity())
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("exe_labor.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    discrepancy: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Downtime(Base):
    """A stop of a work center, manual or machine-detected, with its reason."""

    __tablename__ = "exe_downtime"
    __table_args__ = (
        Index("ix_exe_downtime_wc", "work_center_id", "started_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    work_center_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ord_production_order.id"))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("ord_operation.id"))
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("md_downtime_reason.id"))
    planned: Mapped[bool] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))  # manual, machine
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    minutes: Mapped[Decimal] = mapped_column(Quantity())
    note: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("exe_downtime.id"))
    discrepancy: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
