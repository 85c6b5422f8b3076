"""Lots and serial numbers: registration, status (hold, quarantine, release) and genealogy.

Genealogy is read from the append-only move ledger: backward, what went into a lot;
forward, which products a lot went into.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from shopfloor.api import reads_floor
from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_execution import (
    GenealogyOut,
    LotDetailOut,
    LotIn,
    LotOut,
    LotStatusIn,
    SerialIn,
    SerialOut,
)
from shopfloor.api.schemas_fields import EVERY_ROLE, CodeQuery, IdPath
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.materials import queries as material_queries
from shopfloor.materials import service as materials
from shopfloor.materials.tables import SerialNumber

router = APIRouter(tags=["materials"])

Anyone = Annotated[Actor, require(*EVERY_ROLE)]
LotStatus = Literal["released", "on_hold", "quarantined", "consumed", "expired"]


@router.post("/lots", response_model=LotOut, summary="Register a lot")
async def register_lot(
    body: LotIn,
    run: Command,
    actor: Annotated[Actor, require("integration", "quality", "supervisor")],
) -> JSONResponse:
    """A lot of an item, received from ERP (goods receipt) or created on the floor, released,
    on hold or in quarantine from the start. Registering a known lot (same item and lot
    code) returns it unchanged."""
    return await run(
        actor,
        lambda s, ctx: reads_floor.lot_entry(
            s,
            materials.register_lot(
                s,
                ctx,
                item_code=body.item_code,
                lot_code=body.lot_code,
                origin=body.origin,
                expires_on=body.expires_on,
                status=body.status,
                order_id=body.order_id,
            ).id,
        ),
        LotOut,
    )


@router.get("/lots", response_model=list[LotOut], summary="List lots")
def list_lots(
    session: ReadSession,
    actor: Anyone,
    item_code: CodeQuery = None,
    status: LotStatus | None = None,
) -> list[material_queries.LotRow]:
    """Lots by item and code, optionally of one item or in one status."""
    return material_queries.lots(session, item_code=item_code, status=status)


@router.get("/lots/{lot_id}", response_model=LotDetailOut, summary="One lot with its moves")
def get_lot(lot_id: IdPath, session: ReadSession, actor: Anyone) -> dict[str, Any]:
    """The lot, its status and every move from, of or into it, oldest first."""
    return reads_floor.lot_detail(session, lot_id)


@router.post(
    "/lots/{lot_id}/status",
    response_model=LotOut,
    summary="Hold, quarantine or release a lot",
)
async def set_lot_status(
    lot_id: IdPath,
    body: LotStatusIn,
    run: Command,
    actor: Annotated[Actor, require("quality")],
) -> JSONResponse:
    """Quality puts a lot on hold or in quarantine (it may then not be consumed) or releases
    it again, with a reason recorded in the audit trail."""
    return await run(
        actor,
        lambda s, ctx: reads_floor.lot_entry(
            s, materials.set_lot_status(s, ctx, lot_id, body.status, body.reason).id
        ),
        LotOut,
    )


@router.get("/lots/{lot_id}/genealogy", response_model=GenealogyOut, summary="Genealogy of a lot")
def lot_genealogy(
    lot_id: IdPath,
    session: ReadSession,
    actor: Anyone,
    direction: Literal["backward", "forward"] = "backward",
) -> dict[str, Any]:
    """Backward: every lot and serial that went into this lot, and what went into those.
    Forward: every product lot and serial this lot went into. Reversed consumption no longer
    links two lots."""
    return reads_floor.lot_genealogy(session, lot_id, direction)


@router.post("/serials", response_model=SerialOut, summary="Register a serial number")
async def register_serial(
    body: SerialIn,
    run: Command,
    actor: Annotated[Actor, require("operator", "supervisor", "quality", "integration")],
) -> JSONResponse:
    """A serial number of an item, optionally in a lot and made by an order. Registering a
    known serial (same item and serial) returns it unchanged."""

    def register(s: Session, ctx: CommandContext) -> SerialNumber:
        reads_floor.check_lot_and_order(s, body.lot_id, body.order_id)
        return materials.register_serial(
            s,
            ctx,
            item_code=body.item_code,
            serial=body.serial,
            lot_id=body.lot_id,
            order_id=body.order_id,
        )

    return await run(
        actor,
        register,
        lambda row: SerialOut(
            id=row.id,
            item_code=body.item_code,
            serial=row.serial,
            lot_id=row.lot_id,
            order_id=row.order_id,
            status=row.status,
        ),
    )
