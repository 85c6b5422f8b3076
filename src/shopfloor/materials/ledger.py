"""The append-only material move ledger. Never commits.

`record_move` is the only writer of `mat_move`. It appends the row and its audit entry; the
domain event (material.consumed, production.reported, ...) is emitted by the use case that
knows what the move means. A correction is a reversing move (`reverse_move`), never an edit.
Materials never reads orders: the caller hands in the order's glue keys as `OrderKeys`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import queries as md
from shopfloor.materials import domain
from shopfloor.materials.domain import OrderKeys
from shopfloor.materials.lots import LotState
from shopfloor.materials.tables import Lot, MaterialMove, OrderMaterialTotal, SerialNumber
from shopfloor.platform import outbox
from shopfloor.platform.db import append
from shopfloor.platform.totals import RunningTotal

# The event each kind of move was reported with (the original type of a reversal).
EVENT_OF_KIND = {
    "consume": "material.consumed",
    "return": "material.returned",
    "produce": "production.reported",
    "scrap": "production.reported",
    "issue": None,
}


def record_move(
    session: Session,
    ctx: CommandContext,
    *,
    kind: str,
    item_id: int,
    quantity: Decimal,
    uom_id: int,
    order_id: int | None = None,
    operation_id: int | None = None,
    lot_id: int | None = None,
    lot: LotState | None = None,
    serial_id: int | None = None,
    bom_version: str | None = None,
    routing_version: str | None = None,
    overuse_reason: str | None = None,
    substitute_for_item_id: int | None = None,
    into_lot_id: int | None = None,
    into_serial_id: int | None = None,
    reason: str | None = None,
    discrepancy: str | None = None,
    occurred_at: datetime | None = None,
) -> MaterialMove:
    """Append one move to the ledger (positive quantity) with its audit entry; the move
    returned is the row as written (not in the session: nothing changes it).

    A consume move from a lot needs a lot that may be consumed on that day (released and
    not past its expiry); `lot`, when the caller has read it, spares reading it again.
    The event is the caller's to emit.
    """
    amount = qty(quantity)
    domain.check_move(kind, amount, reversal=False)
    when = domain.fact_time(occurred_at, ctx.now)
    if lot is not None:
        lot_id = lot.id
    if lot_id is not None:
        _check_lot(session, kind, lot or _lot(session, lot_id), item_id, when)
    values: dict[str, Any] = dict(
        kind=kind,
        order_id=order_id,
        operation_id=operation_id,
        item_id=item_id,
        lot_id=lot_id,
        serial_id=serial_id,
        quantity=amount,
        uom_id=uom_id,
        bom_version=bom_version,
        routing_version=routing_version,
        substitute_for_item_id=substitute_for_item_id,
        overuse_reason=overuse_reason,
        into_lot_id=into_lot_id,
        into_serial_id=into_serial_id,
        reverses_id=None,
        reason=reason,
        discrepancy=discrepancy,
        user_id=ctx.actor.user_id,
        occurred_at=when,
        recorded_at=ctx.now,
    )
    move = MaterialMove(id=append(session, MaterialMove, values), **values)
    _count(session, move)
    audit.record(
        session,
        ctx,
        f"material_move.{kind}",
        "material_move",
        move.id,
        new=_move_values(move),
        reason=reason or overuse_reason,
    )
    return move


_TOTALS = RunningTotal(
    cast(Table, OrderMaterialTotal.__table__),
    ("order_id", "kind", "item_id", "substitute_for_item_id"),
)
_ORDER_TOTALS = select(
    OrderMaterialTotal.kind,
    OrderMaterialTotal.item_id,
    OrderMaterialTotal.substitute_for_item_id,
    OrderMaterialTotal.quantity,
).where(
    OrderMaterialTotal.order_id == bindparam("order_id")
)  # all of the order's (a few rows): picked here, and no expanding parameters to bind


def _count(session: Session, move: MaterialMove) -> None:
    """Keep the order's running total of this kind of move of this item."""
    if move.order_id is not None:
        _TOTALS.add(
            session,
            move.quantity,
            order_id=move.order_id,
            kind=move.kind,
            item_id=move.item_id,
            substitute_for_item_id=move.substitute_for_item_id or 0,
        )


def order_totals(
    session: Session, order_id: int, kinds: tuple[str, ...], item_ids: list[int]
) -> dict[tuple[str, int, int | None], Decimal]:
    """(kind, item, replaced component or None) → net quantity the order's moves of these
    kinds and items add up to, reversals included: one row per key, not the history."""
    rows = _TOTALS.read(session, _ORDER_TOTALS, order_id=order_id)
    return {
        (kind, item, replaced or None): qty(amount)
        for kind, item, replaced, amount in rows
        if kind in kinds and item in item_ids
    }


def _lot(session: Session, lot_id: int) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"no lot with id {lot_id}")
    return lot


def _check_lot(session: Session, kind: str, lot: LotState, item_id: int, when: datetime) -> None:
    """The lot belongs to the moved item; a consumed lot may be consumed on that day."""
    if lot.item_id != item_id:
        owner = md.item_by_id(session, lot.item_id).code
        raise RuleViolation(
            f"lot {lot.code} is a lot of {owner}, not of {md.item_by_id(session, item_id).code}"
        )
    if kind == "consume":
        problem = domain.consumption_problem(lot.code, lot.status, lot.expires_on, when.date())
        if problem:
            raise RuleViolation(problem)


def _move_values(move: MaterialMove) -> dict[str, object]:
    return {
        "kind": move.kind,
        "order_id": move.order_id,
        "operation_id": move.operation_id,
        "item_id": move.item_id,
        "lot_id": move.lot_id,
        "serial_id": move.serial_id,
        "quantity": move.quantity,
        "uom_id": move.uom_id,
        "substitute_for_item_id": move.substitute_for_item_id,
        "overuse_reason": move.overuse_reason,
        "into_lot_id": move.into_lot_id,
        "into_serial_id": move.into_serial_id,
        "reverses_id": move.reverses_id,
        "discrepancy": move.discrepancy,
    }


def load_move(session: Session, move_id: int, *, lock: bool = False) -> MaterialMove:
    stmt = select(MaterialMove).where(MaterialMove.id == move_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    move = session.scalar(stmt)
    if move is None:
        raise NotFound(f"no material move with id {move_id}")
    return move


def reverse_move(
    session: Session,
    ctx: CommandContext,
    move_id: int,
    reason: str,
    *,
    keys: OrderKeys | None = None,
    announce: bool = True,
) -> MaterialMove:
    """Correct a move by a new one with the negated quantity; a move is reversed only once.

    The reversal keeps everything of the original (lot, order, versions) and adds the
    reason; it is audited and announced as `fact.reversed` with the original's event type.
    `keys` carries the order's glue keys and current ERP flag when the move is an order's;
    `announce=False` when the caller announces a reversal the move is part of.
    """
    original = load_move(session, move_id, lock=True)
    text = domain.check_reversal(
        "material move",
        move_id,
        is_reversal=original.reverses_id is not None,
        already_reversed=_reversal_of(session, move_id) is not None,
        reason=reason,
    )
    keys = keys or OrderKeys(discrepancy=original.discrepancy)
    reversal = MaterialMove(
        **{
            **_copied(original),
            "quantity": -original.quantity,
            "reverses_id": original.id,
            "reason": text,
            "discrepancy": keys.discrepancy,
            "user_id": ctx.actor.user_id,
            "recorded_at": ctx.now,
        },
    )
    domain.check_move(reversal.kind, reversal.quantity, reversal=True)
    session.add(reversal)
    session.flush()
    _count(session, reversal)
    audit.record(
        session,
        ctx,
        "material_move.reversed",
        "material_move",
        original.id,
        old=_move_values(original),
        new=_move_values(reversal),
        reason=text,
    )
    if announce:
        _emit_reversal(session, ctx, original, reversal, keys)
    return reversal


def _copied(move: MaterialMove) -> dict[str, object]:
    fields = (
        "kind",
        "order_id",
        "operation_id",
        "item_id",
        "lot_id",
        "serial_id",
        "uom_id",
        "bom_version",
        "routing_version",
        "substitute_for_item_id",
        "overuse_reason",
        "into_lot_id",
        "into_serial_id",
        "occurred_at",
    )
    return {name: getattr(move, name) for name in fields}


def _reversal_of(session: Session, move_id: int) -> int | None:
    return session.scalar(select(MaterialMove.id).where(MaterialMove.reverses_id == move_id))


def _emit_reversal(
    session: Session,
    ctx: CommandContext,
    original: MaterialMove,
    reversal: MaterialMove,
    keys: OrderKeys,
) -> None:
    item = md.item_by_id(session, original.item_id)
    lot = session.get(Lot, original.lot_id) if original.lot_id else None
    serial = session.get(SerialNumber, original.serial_id) if original.serial_id else None
    outbox.emit(
        session,
        ctx,
        "fact.reversed",
        {
            "fact": "material_move",
            "fact_id": original.id,
            "reversal_id": reversal.id,
            "original_type": EVENT_OF_KIND[original.kind],
            "kind": original.kind,
            "quantity": reversal.quantity,
            "unit": md.uom_by_id(session, original.uom_id).code,
            "reason": reversal.reason,
            "discrepancy": reversal.discrepancy,
        },
        glue={
            **keys.glue(),
            "item": item.code,
            "lot": lot.code if lot else None,
            "serial": serial.serial if serial else None,
        },
        occurred_at=original.occurred_at,
        bom_version=original.bom_version or keys.bom_version,
        routing_version=original.routing_version or keys.routing_version,
    )
