"""Lots and serial numbers: registered from ERP receipts or on the floor, idempotent on
item + code; a lot's status follows the lot status machine with a reason for each change.
Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.masterdata import queries as md
from shopfloor.materials import domain
from shopfloor.materials.domain import OrderKeys
from shopfloor.materials.tables import Lot, SerialNumber
from shopfloor.platform import deferred, direct, outbox
from shopfloor.platform.db import note_codes


def register_lot(
    session: Session,
    ctx: CommandContext,
    *,
    item_code: str,
    lot_code: str,
    origin: str,
    expires_on: date | None = None,
    status: str = "released",
    order_id: int | None = None,
    keys: OrderKeys | None = None,
) -> Lot:
    """Register a lot of an item, received from ERP or created on the floor.

    Idempotent on item + lot code: registering a known lot returns it unchanged.
    A new lot must come from where the plant creates lots (`SHOPFLOOR_LOT_CREATION`, in
    `ctx.boundary`): ERP receipts are refused when lots are created on the floor, and a floor
    lot of purchased material when lots come from ERP — a lot of an item the plant makes (it
    has a BOM, as every order's product has) is always the floor's to create. A new lot is
    audited and announced as `lot.created`.
    """
    item = md.item_by_code(session, item_code)
    found = _lot(session, item.id, lot_code)
    if found is not None:
        return found
    domain.check_initial_lot(status, origin)
    made_here = origin == "floor" and bool(md.bom_versions(session, item_code))
    ctx.boundary.check_new_lot(origin, made_here=made_here)
    if not lot_code.strip():
        raise RuleViolation("a lot needs a code")
    lot = Lot(
        code=lot_code,
        item_id=item.id,
        status=status,
        origin=origin,
        expires_on=expires_on,
        order_id=order_id,
        created_at=ctx.now,
    )
    try:
        with deferred.savepoint(session):
            session.add(lot)
    except IntegrityError:  # registered at the same moment by another command
        return _lot_or_fail(session, item.id, lot_code)
    new = {
        "item": item_code,
        "lot": lot_code,
        "origin": origin,
        "status": status,
        "expires_on": expires_on.isoformat() if expires_on else None,
        "order_id": order_id,
    }
    audit.record(session, ctx, "lot.created", "lot", lot.id, new=new)
    keys = keys or OrderKeys()
    outbox.emit(
        session,
        ctx,
        "lot.created",
        {**new, "discrepancy": keys.discrepancy},
        glue={**keys.glue(), "item": item_code, "lot": lot_code},
        bom_version=keys.bom_version,
        routing_version=keys.routing_version,
    )
    return lot


_LOT = select(Lot).where(Lot.item_id == bindparam("item_id"), Lot.code == bindparam("code"))


def _lot(session: Session, item_id: int, lot_code: str) -> Lot | None:
    return session.scalar(_LOT, {"item_id": item_id, "code": lot_code})


def _lot_or_fail(session: Session, item_id: int, lot_code: str) -> Lot:
    lot = _lot(session, item_id, lot_code)
    if lot is None:
        raise NotFound(f"no lot '{lot_code}' of item {item_id}")
    return lot


class LotState(Protocol):
    """What a move checks of its lot: a `Lot` entity, or a `LotHead`."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def item_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def expires_on(self) -> date | None: ...


@dataclass(frozen=True)
class LotHead:
    """A lot read as plain columns, for a command that consumes from it and changes none."""

    id: int
    code: str
    item_id: int
    status: str
    expires_on: date | None


_LOT_HEAD = select(Lot.id, Lot.code, Lot.item_id, Lot.status, Lot.expires_on).where(
    Lot.item_id == bindparam("item_id"), Lot.code == bindparam("code")
)


def lot_head(session: Session, item_id: int, item_code: str, lot_code: str) -> LotHead:
    """`find_lot` as plain columns (its code noted for the views of the command)."""
    row = direct.first(session, _LOT_HEAD, {"item_id": item_id, "code": lot_code})
    if row is None:
        raise NotFound(f"no lot '{lot_code}' of {item_code} is registered")
    lot = LotHead(*row)
    note_codes(session, Lot.__tablename__, {lot.id: lot.code})
    return lot


def find_lot(session: Session, item_code: str, lot_code: str, *, item_id: int | None = None) -> Lot:
    """The lot by item and lot code; NotFound says which lot of which item is unknown.
    `item_id`, when the caller has the item, spares looking it up by code."""
    if item_id is None:
        item_id = md.item_by_code(session, item_code).id
    lot = _lot(session, item_id, lot_code)
    if lot is None:
        raise NotFound(f"no lot '{lot_code}' of {item_code} is registered")
    return lot


def set_lot_status(
    session: Session, ctx: CommandContext, lot_id: int, status: str, reason: str
) -> Lot:
    """Hold, quarantine, release (or expire, consume) a lot, with a mandatory reason.

    Only the transitions of the lot status machine are allowed; the change is audited.
    """
    if not (reason or "").strip():
        raise RuleViolation("changing a lot's status needs a reason")
    lot = session.scalar(
        select(Lot)
        .where(Lot.id == lot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if lot is None:
        raise NotFound(f"no lot with id {lot_id}")
    before = lot.status
    lot.status = domain.LOT_FLOW.target(domain.lot_status_command(status), before)
    audit.record(
        session,
        ctx,
        "lot.status_changed",
        "lot",
        lot.id,
        old={"status": before},
        new={"status": lot.status},
        reason=reason.strip(),
    )
    return lot


def register_serial(
    session: Session,
    ctx: CommandContext,
    *,
    item_code: str,
    serial: str,
    lot_id: int | None = None,
    order_id: int | None = None,
) -> SerialNumber:
    """Register a serial number of an item (idempotent on item + serial); audited."""
    item = md.item_by_code(session, item_code)
    found = _serial(session, item.id, serial)
    if found is not None:
        return found
    if not serial.strip():
        raise RuleViolation("a serial number cannot be empty")
    row = SerialNumber(
        serial=serial,
        item_id=item.id,
        lot_id=lot_id,
        status="active",
        order_id=order_id,
        created_at=ctx.now,
    )
    try:
        with deferred.savepoint(session):
            session.add(row)
    except IntegrityError:
        found = _serial(session, item.id, serial)
        if found is None:
            raise
        return found
    audit.record(
        session,
        ctx,
        "serial.created",
        "serial",
        row.id,
        new={"item": item_code, "serial": serial, "lot_id": lot_id, "order_id": order_id},
    )
    return row


def _serial(session: Session, item_id: int, serial: str) -> SerialNumber | None:
    return session.scalar(
        select(SerialNumber).where(SerialNumber.item_id == item_id, SerialNumber.serial == serial)
    )


def find_serial(session: Session, item_code: str, serial: str) -> SerialNumber:
    item = md.item_by_code(session, item_code)
    row = _serial(session, item.id, serial)
    if row is None:
        raise NotFound(f"no serial number '{serial}' of {item_code} is registered")
    return row
