"""Reads for the order, execution and material endpoints that the domain query modules do not
offer: material moves and lots with their plant codes, and the order detail page (summary
plus plan against actual). Plain values; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from shopfloor.bootstrap import Runtime
from shopfloor.execution import queries as execution_queries
from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata.tables import Item, UnitOfMeasure
from shopfloor.materials import queries as material_queries
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.orders import queries as order_queries
from shopfloor.orders.tables import ProductionOrder
from shopfloor.platform.db import noted_codes

# --- material moves -----------------------------------------------------------------------


@dataclass(frozen=True)
class MoveView:
    """One line of the move ledger, in plant codes."""

    id: int
    kind: str
    order_id: int | None
    operation_id: int | None
    item_code: str
    lot_code: str | None
    serial: str | None
    quantity: Decimal
    uom_code: str
    substitute_for: str | None
    overuse_reason: str | None
    into_lot_code: str | None
    into_serial: str | None
    reverses_id: int | None
    reason: str | None
    discrepancy: str | None
    user_id: int
    occurred_at: datetime
    recorded_at: datetime


def _codes(session: Session, table: Any, column: Any, ids: set[int | None]) -> dict[int, str]:
    """Code per id: from the rows the command already has in its session (as entities or
    as noted codes), else one query."""
    found: dict[int, str] = {}
    noted = noted_codes(session, table.__tablename__)
    for row_id in {i for i in ids if i is not None}:
        loaded = session.identity_map.get(identity_key(table, row_id))
        if loaded is not None:
            found[row_id] = getattr(loaded, column.key)
        elif row_id in noted:
            found[row_id] = noted[row_id]
    missing = {i for i in ids if i is not None} - found.keys()
    if missing:
        found.update(session.execute(select(table.id, column).where(table.id.in_(missing))).all())
    return found


def move_views(session: Session, moves: Sequence[MaterialMove]) -> list[MoveView]:
    """The moves with item, unit, lot and serial codes resolved (in a few queries)."""
    item_ids: set[int | None] = {m.item_id for m in moves}
    items = _codes(
        session,
        Item,
        Item.code,
        item_ids | {m.substitute_for_item_id for m in moves},
    )
    units = _codes(session, UnitOfMeasure, UnitOfMeasure.code, {m.uom_id for m in moves})
    lots = _codes(
        session, Lot, Lot.code, {m.lot_id for m in moves} | {m.into_lot_id for m in moves}
    )
    serials = _codes(
        session,
        SerialNumber,
        SerialNumber.serial,
        {m.serial_id for m in moves} | {m.into_serial_id for m in moves},
    )

    def code(table: dict[int, str], key: int | None) -> str | None:
        return table.get(key) if key is not None else None

    return [
        MoveView(
            m.id,
            m.kind,
            m.order_id,
            m.operation_id,
            items[m.item_id],
            code(lots, m.lot_id),
            code(serials, m.serial_id),
            m.quantity,
            units[m.uom_id],
            code(items, m.substitute_for_item_id),
            m.overuse_reason,
            code(lots, m.into_lot_id),
            code(serials, m.into_serial_id),
            m.reverses_id,
            m.reason,
            m.discrepancy,
            m.user_id,
            m.occurred_at,
            m.recorded_at,
        )
        for m in moves
    ]


def move_view(session: Session, move: MaterialMove) -> MoveView:
    return move_views(session, [move])[0]


def moves_of_order(session: Session, order_id: int) -> list[MoveView]:
    """Every move of the order, reversals included, oldest first; NotFound for no order."""
    order_queries.order_summary(session, order_id)
    return move_views(session, material_queries.moves_of_order(session, order_id))


# --- lots ---------------------------------------------------------------------------------


def lot_entry(session: Session, lot_id: int) -> material_queries.LotRow:
    """One lot by id, with its item code; NotFound when there is none."""
    found = session.execute(
        select(Lot, Item.code).join(Item, Item.id == Lot.item_id).where(Lot.id == lot_id)
    ).first()
    if found is None:
        raise NotFound(f"no lot with id {lot_id}")
    lot, item_code = found
    return material_queries.LotRow(
        lot.id, item_code, lot.code, lot.status, lot.origin, lot.expires_on, lot.order_id
    )


def lot_detail(session: Session, lot_id: int) -> dict[str, Any]:
    """A lot with every move from, of or into it, as one flat record."""
    lot = lot_entry(session, lot_id)
    moves = move_views(session, material_queries.moves_of_lot(session, lot_id))
    return {**asdict(lot), "moves": [asdict(move) for move in moves]}


def lot_genealogy(session: Session, lot_id: int, direction: str) -> dict[str, Any]:
    """The lot and every lot and serial linked to it in one direction, nearest first."""
    lot = lot_entry(session, lot_id)
    entries = material_queries.genealogy(session, lot_id=lot_id, direction=direction)
    return {
        "lot": asdict(lot),
        "direction": direction,
        "entries": [asdict(entry) for entry in entries],
    }


def check_lot_and_order(session: Session, lot_id: int | None, order_id: int | None) -> None:
    """NotFound for a lot or order id that names nothing (before a serial points at it)."""
    if lot_id is not None:
        lot_entry(session, lot_id)
    if order_id is not None:
        order_queries.order_summary(session, order_id)


# --- the order page -----------------------------------------------------------------------


def order_detail(session: Session, order_id: int) -> dict[str, Any]:
    """The order summary with its plan against actual (operations, components, downtime,
    labour), as one flat record."""
    summary = order_queries.order_summary(session, order_id)
    progress = execution_queries.order_progress(session, order_id)
    return {
        **asdict(summary),
        "good": progress.good,
        "scrap": progress.scrap,
        "operations": [asdict(op) for op in progress.operations],
        "components": [asdict(c) for c in progress.components],
        "downtime_minutes": dict(progress.downtime_minutes),
        "labor_minutes": progress.labor_minutes,
    }


def order_received(runtime: Runtime, erp_order_id: str) -> bool:
    """Whether an order with this ERP order id is already recorded, read in a short session
    of its own (closed before the command's transaction begins)."""
    with runtime.sessions() as session:
        found = session.scalar(
            select(ProductionOrder.id).where(ProductionOrder.erp_order_id == erp_order_id)
        )
    return found is not None
