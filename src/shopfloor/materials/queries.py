"""Read side of materials: the move ledger by order and lot, lots, genealogy, totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shopfloor.kernel.errors import RuleViolation
from shopfloor.masterdata.tables import Item
from shopfloor.materials import domain
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber


def moves_of_order(session: Session, order_id: int, kind: str | None = None) -> list[MaterialMove]:
    """Every move of an order (reversals included), oldest first, optionally of one kind."""
    stmt = select(MaterialMove).where(MaterialMove.order_id == order_id)
    if kind is not None:
        stmt = stmt.where(MaterialMove.kind == kind)
    return list(session.scalars(stmt.order_by(MaterialMove.id)))


def moves_of_lot(session: Session, lot_id: int) -> list[MaterialMove]:
    """Every move from, of or into a lot, oldest first."""
    return list(
        session.scalars(
            select(MaterialMove)
            .where(or_(MaterialMove.lot_id == lot_id, MaterialMove.into_lot_id == lot_id))
            .order_by(MaterialMove.id)
        )
    )


@dataclass(frozen=True)
class LotRow:
    id: int
    item: str
    code: str
    status: str
    origin: str
    expires_on: date | None
    order_id: int | None


def lots(
    session: Session, *, item_code: str | None = None, status: str | None = None
) -> list[LotRow]:
    """Lots with their status, by item and code, optionally filtered."""
    stmt = select(Lot, Item.code).join(Item, Item.id == Lot.item_id)
    if item_code is not None:
        stmt = stmt.where(Item.code == item_code)
    if status is not None:
        stmt = stmt.where(Lot.status == status)
    return [
        LotRow(lot.id, code, lot.code, lot.status, lot.origin, lot.expires_on, lot.order_id)
        for lot, code in session.execute(stmt.order_by(Item.code, Lot.code))
    ]


def consumed_totals(session: Session, order_id: int) -> dict[int, Decimal]:
    """Net consumption per item id of an order: consumed minus returned, reversals included."""
    totals: dict[int, Decimal] = defaultdict(Decimal)
    rows = session.execute(
        select(MaterialMove.item_id, MaterialMove.kind, MaterialMove.quantity).where(
            MaterialMove.order_id == order_id, MaterialMove.kind.in_(("consume", "return"))
        )
    )
    for item_id, kind, quantity in rows:
        totals[item_id] += domain.consumption_effect(kind, quantity)
    return dict(totals)


@dataclass(frozen=True)
class GenealogyEntry:
    """A lot or serial found by a genealogy walk, with the one it was reached from."""

    kind: str  # lot or serial
    id: int
    item: str
    code: str
    depth: int
    via_kind: str
    via_id: int


def genealogy_edges(session: Session, start: domain.Node, direction: str) -> list[domain.Edge]:
    """The consumed → product links reachable from `start`, loaded level by level.

    Only links whose net quantity is still positive count: a reversed consumption no
    longer links two lots.
    """
    net: dict[domain.Edge, Decimal] = defaultdict(Decimal)
    frontier, expanded = {start}, set()
    while frontier:
        expanded |= frontier
        for edge, quantity in _edges_touching(session, frontier, direction):
            net[edge] += quantity
        reached = {e.source if direction == "backward" else e.target for e in net}
        frontier = reached - expanded
    return [edge for edge, quantity in net.items() if quantity > 0]


def _edges_touching(
    session: Session, nodes: set[domain.Node], direction: str
) -> list[tuple[domain.Edge, Decimal]]:
    """Consume moves into (backward) or out of (forward) any of `nodes`."""
    lots = [i for kind, i in nodes if kind == "lot"]
    serials = [i for kind, i in nodes if kind == "serial"]
    if direction == "backward":
        lot_col, serial_col = MaterialMove.into_lot_id, MaterialMove.into_serial_id
    else:
        lot_col, serial_col = MaterialMove.lot_id, MaterialMove.serial_id
    rows = session.execute(
        select(
            MaterialMove.lot_id,
            MaterialMove.serial_id,
            MaterialMove.into_lot_id,
            MaterialMove.into_serial_id,
            MaterialMove.quantity,
        ).where(
            MaterialMove.kind == "consume",
            or_(MaterialMove.into_lot_id.is_not(None), MaterialMove.into_serial_id.is_not(None)),
            or_(MaterialMove.lot_id.is_not(None), MaterialMove.serial_id.is_not(None)),
            or_(lot_col.in_(lots), serial_col.in_(serials)),
        )
    )
    found = []
    for lot_id, serial_id, into_lot, into_serial, quantity in rows:
        source: domain.Node = ("serial", serial_id) if serial_id else ("lot", lot_id or 0)
        target: domain.Node = ("serial", into_serial) if into_serial else ("lot", into_lot or 0)
        found.append((domain.Edge(source, target), quantity))
    return found


def genealogy(
    session: Session,
    *,
    lot_id: int | None = None,
    serial_id: int | None = None,
    direction: str = "backward",
) -> list[GenealogyEntry]:
    """Backward: every lot and serial that went into the given one; forward: every product
    lot and serial the given one went into. Read from the append-only move ledger."""
    if (lot_id is None) == (serial_id is None):
        raise RuleViolation("genealogy starts from one lot or one serial number")
    if direction not in ("backward", "forward"):
        raise RuleViolation("genealogy direction is 'backward' or 'forward'")
    start: domain.Node = ("lot", lot_id) if lot_id is not None else ("serial", serial_id or 0)
    reached = domain.walk(genealogy_edges(session, start, direction), start, direction)
    names = _names(session, [r.node for r in reached])
    return [
        GenealogyEntry(r.node[0], r.node[1], *names[r.node], r.depth, r.via[0], r.via[1])
        for r in reached
    ]


def _names(session: Session, nodes: list[domain.Node]) -> dict[domain.Node, tuple[str, str]]:
    """Item code and lot code / serial number of each node."""
    lot_ids = [i for kind, i in nodes if kind == "lot"]
    serial_ids = [i for kind, i in nodes if kind == "serial"]
    names: dict[domain.Node, tuple[str, str]] = {}
    if lot_ids:
        for lot_id, lot_code, item_code in session.execute(
            select(Lot.id, Lot.code, Item.code)
            .join(Item, Item.id == Lot.item_id)
            .where(Lot.id.in_(lot_ids))
        ):
            names[("lot", lot_id)] = (item_code, lot_code)
    if serial_ids:
        for serial_id, serial, item_code in session.execute(
            select(SerialNumber.id, SerialNumber.serial, Item.code)
            .join(Item, Item.id == SerialNumber.item_id)
            .where(SerialNumber.id.in_(serial_ids))
        ):
            names[("serial", serial_id)] = (item_code, serial)
    return names
