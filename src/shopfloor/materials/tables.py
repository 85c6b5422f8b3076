"""Material tables (prefix mat_)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.platform.db import Base, Quantity, UtcDateTime


class Lot(Base):
    """A lot of one item; created at ERP goods receipt or on the floor."""

    __tablename__ = "mat_lot"
    __table_args__ = (UniqueConstraint("item_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"), index=True)
    status: Mapped[str] = mapped_column(
        String(16)
    )  # released, on_hold, quarantined, consumed, expired
    origin: Mapped[str] = mapped_column(String(16))  # erp_receipt, floor
    expires_on: Mapped[date | None] = mapped_column(Date)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ord_production_order.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SerialNumber(Base):
    __tablename__ = "mat_serial"
    __table_args__ = (UniqueConstraint("item_id", "serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("mat_lot.id"))
    status: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ord_production_order.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MaterialMove(Base):
    """One line of the append-only ledger. A correction is a new move with `reverses_id`.

    `into_lot_id` / `into_serial_id` on a consume move say what the material went into:
    genealogy is a walk over these rows.
    """

    __tablename__ = "mat_move"
    __table_args__ = (
        Index("ix_mat_move_order", "order_id", "kind"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # issue, consume, produce, return, scrap
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ord_production_order.id"))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("ord_operation.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("md_item.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("mat_lot.id"), index=True)
    serial_id: Mapped[int | None] = mapped_column(ForeignKey("mat_serial.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    uom_id: Mapped[int] = mapped_column(ForeignKey("md_uom.id"))
    bom_version: Mapped[str | None] = mapped_column(String(64))
    routing_version: Mapped[str | None] = mapped_column(String(64))
    substitute_for_item_id: Mapped[int | None] = mapped_column(ForeignKey("md_item.id"))
    overuse_reason: Mapped[str | None] = mapped_column(Text)
    into_lot_id: Mapped[int | None] = mapped_column(ForeignKey("mat_lot.id"))
    into_serial_id: Mapped[int | None] = mapped_column(ForeignKey("mat_serial.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("mat_move.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    discrepancy: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrderMaterialTotal(Base):
    """Running total of an order's moves per kind, item and replaced component (0 when the
    move replaces none): Σ quantity of its `mat_move` rows, reversals included, kept by
    the ledger with every move. The norm check reads it instead of summing the history.
    The item ids carry no foreign key: every order's moves would lock the same item rows."""

    __tablename__ = "mat_order_total"

    order_id: Mapped[int] = mapped_column(ForeignKey("ord_production_order.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    substitute_for_item_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False
    )
    quantity: Mapped[Decimal] = mapped_column(Quantity())
