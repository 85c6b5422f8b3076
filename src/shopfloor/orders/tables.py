"""Order tables (prefix ord_)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, Quantity, UtcDateTime


class ProductionOrder(Base):
    """An order, keyed by the ERP order id (the glue key) and versioned by ERP."""

    __tablename__ = "ord_production_order"
    __table_args__ = (Index("ix_ord_dispatch", "execution_status", "priority", "due_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    erp_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    erp_version: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(8))  # erp or mes
    site: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    due_date: Mapped[date] = mapped_column()
    priority: Mapped[int] = mapped_column(Integer)  # 1 = most urgent
    bom_id: Mapped[int] = mapped_column(ForeignKey("md_bom.id"))
    routing_id: Mapped[int] = mapped_column(ForeignKey("md_routing.id"))
    erp_status: Mapped[str] = mapped_column(String(16))  # created, released, closed
    execution_status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Operation(Base):
    """One routing operation of one order, with its own execution status."""

    __tablename__ = "ord_operation"
    __table_args__ = (UniqueConstraint("order_id", "operation_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"), index=True)
    operation_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    work_center_id: Mapped[int] = mapped_column(ForeignKey("md_equipment.id"), index=True)
    required_skill_id: Mapped[int | None] = mapped_column(ForeignKey("md_skill.id"))
    setup_minutes: Mapped[Decimal] = mapped_column(Quantity())
    ideal_cycle_seconds: Mapped[Decimal] = mapped_column(Quantity())
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OrderComponent(Base):
    """The execution BOM: the norm of one component for the whole order quantity."""

    __tablename__ = "ord_component"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    bom_line_id: Mapped[int] = mapped_column(ForeignKey("md_bom_line.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"))
    norm_quantity: Mapped[Decimal] = mapped_column(Quantity())
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    tolerance_pct: Mapped[Decimal] = mapped_column(Quantity())
    operation_no: Mapped[int | None] = mapped_column(Integer)
