"""Applying one inbound record through the same service function as the API. Never commits.

The file import and the ERP inbox both call `apply_record`: the record is checked
(`records.service_call`), then the master data, materials or orders service runs it, which
validates, writes and appends its audit entry. A record that changed nothing (the same item
sent again) is reported as unchanged: the services write an audit entry exactly when
something changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.integration.records import Record, service_call
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, ShopfloorError
from shopfloor.masterdata import service as masterdata
from shopfloor.materials import service as materials
from shopfloor.orders import service as orders

SERVICES: dict[str, Callable[..., Any]] = {
    "upsert_uom": masterdata.upsert_uom,
    "upsert_uom_conversion": masterdata.upsert_uom_conversion,
    "upsert_shift_calendar": masterdata.upsert_shift_calendar,
    "upsert_shift": masterdata.upsert_shift,
    "upsert_equipment": masterdata.upsert_equipment,
    "upsert_skill": masterdata.upsert_skill,
    "upsert_item": masterdata.upsert_item,
    "upsert_downtime_reason": masterdata.upsert_downtime_reason,
    "upsert_quality_code": masterdata.upsert_quality_code,
    "upsert_crew": masterdata.upsert_crew,
    "grant_certification": masterdata.grant_certification,
    "upsert_bom_version": masterdata.upsert_bom_version,
    "upsert_routing_version": masterdata.upsert_routing_version,
    "register_lot": materials.register_lot,
    "upsert_order": orders.upsert_order,
}


class Rejection(Exception):
    """The record was refused, with the plant-readable reason.

    `missing` is true when the refusal is only that something the record refers to is not
    there yet (an order's item, BOM or routing version; a BOM's component): the ERP inbox
    keeps such a record waiting instead of rejecting it.
    """

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


def apply_record(session: Session, ctx: CommandContext, record: Record) -> bool:
    """Run one record through its service; True when it changed something.

    Raises `Rejection` when the record is refused. The caller runs it in a savepoint (or a
    transaction of its own) so that a refused record leaves nothing behind.
    """
    try:
        call = service_call(record)
        before = audit.appended(session)
        SERVICES[call.service](session, ctx, **call.kwargs)
        session.flush()
        return audit.appended(session) > before
    except NotFound as exc:
        raise Rejection(exc.detail, missing=True) from exc
    except ShopfloorError as exc:
        raise Rejection(exc.detail) from exc
    except (ValueError, ArithmeticError) as exc:
        raise Rejection(str(exc) or type(exc).__name__) from exc
    except DBAPIError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise Rejection(f"the database refused it: {first_line}") from exc
