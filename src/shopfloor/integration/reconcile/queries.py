"""Read side of reconciliation: the orders in scope, their append-only facts, and where each
fact's outbox event stands for one subscriber.

Facts are read from their own tables, reversals included (a reversal is a row with the
negated quantity): consumption and returns from the material ledger (`mat_move`), good,
scrap and rework from the production reports, labour minutes from the labour records.
Good units of the order's last live operation are its output to stock; good units of
earlier operations only count in the operation totals.

Each fact is tied to the event that announced it by the fact's id in the event's payload
(`move_id`, `report_id`, `labor_id`; a reversal's `fact.reversed` names `reversal_id`).
The delivery of that event to the subscriber: its `int_delivery` row's status; else
`in_flight` while a relay's claim holds it; `unclaimed` while no relay has fanned it out;
`not_sent` when it was fanned out before the subscriber existed; `no_event` when no event
names the fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.execution import domain as execution_rules
from shopfloor.execution.tables import LaborRecord, ProductionReport
from shopfloor.integration.reconcile.report import FactEntry, OrderHead
from shopfloor.integration.reconcile.scope import Scope, ShiftSpec
from shopfloor.integration.tables import IntClaim
from shopfloor.integration.tables import IntDelivery as D
from shopfloor.kernel.clock import as_utc
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Item, UnitOfMeasure
from shopfloor.materials.tables import Lot, MaterialMove
from shopfloor.orders.tables import Operation, ProductionOrder
from shopfloor.platform.outbox import OutboxEvent as E

FACT_EVENTS = {
    "material.consumed": ("material_move", "move_id"),
    "material.returned": ("material_move", "move_id"),
    "production.reported": ("production_report", "report_id"),
    "labor.reported": ("labor", "labor_id"),
}
REVERSED = "fact.reversed"
CHUNK = 1000


@dataclass(frozen=True)
class ScopedOrder:
    id: int
    head: OrderHead
    last_operation: int | None


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    status: str
    error: str | None


def shift_specs(session: Session) -> list[ShiftSpec]:
    """Every configured shift pattern with its calendar's time zone."""
    return [
        ShiftSpec(s.calendar_code, s.code, s.starts_at, s.minutes, s.timezone)
        for s in md.list_shifts(session)
    ]


def orders_in_window(session: Session, start: datetime, end: datetime) -> list[str]:
    """ERP order ids of the orders with a fact that occurred in [start, end)."""
    sources: list[Any] = [
        select(MaterialMove.order_id).where(
            MaterialMove.kind.in_(("consume", "return")),
            MaterialMove.occurred_at >= start,
            MaterialMove.occurred_at < end,
        ),
        select(ProductionReport.order_id).where(
            ProductionReport.occurred_at >= start, ProductionReport.occurred_at < end
        ),
        select(LaborRecord.order_id).where(
            LaborRecord.ended_at >= start, LaborRecord.ended_at < end
        ),
    ]
    ids: set[int] = set()
    for query in sources:
        ids.update(i for i in session.scalars(query) if i is not None)
    if not ids:
        return []
    rows = session.scalars(
        select(ProductionOrder.erp_order_id)
        .where(ProductionOrder.id.in_(ids))
        .order_by(ProductionOrder.erp_order_id)
    )
    return list(rows)


def scoped_orders(session: Session, erp_order_ids: Sequence[str]) -> list[ScopedOrder]:
    """The orders by ERP order id, in the order asked; one shopfloor does not know is kept
    (ERP may have it) with `in_shopfloor` false."""
    rows = session.execute(
        select(ProductionOrder, Item.code, UnitOfMeasure.code)
        .join(Item, Item.id == ProductionOrder.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == ProductionOrder.uom_id)
        .where(ProductionOrder.erp_order_id.in_(list(erp_order_ids)))
    ).all()
    found = {order.erp_order_id: (order, item, unit) for order, item, unit in rows}
    statuses: dict[int, dict[int, str]] = {}
    if found:
        for order_id, number, status in session.execute(
            select(Operation.order_id, Operation.operation_no, Operation.status).where(
                Operation.order_id.in_([o.id for o, _, _ in found.values()])
            )
        ):
            statuses.setdefault(order_id, {})[number] = status
    scoped = []
    for erp_id in erp_order_ids:
        if erp_id not in found:
            scoped.append(ScopedOrder(0, OrderHead(erp_id, in_shopfloor=False), None))
            continue
        order, item, unit = found[erp_id]
        head = OrderHead(erp_id, item, unit, order.erp_status, order.execution_status)
        last = execution_rules.last_operation(statuses.get(order.id, {}))
        scoped.append(ScopedOrder(order.id, head, last))
    return scoped


def facts(
    session: Session, orders: Sequence[ScopedOrder], subscriber: str, scope: Scope
) -> list[FactEntry]:
    """Every posting-relevant fact of the orders, with its event's delivery."""
    known = [o for o in orders if o.head.in_shopfloor]
    if not known:
        return []
    raw = _moves(session, known) + _reports(session, known) + _labour(session, known)
    deliveries = _deliveries(session, [o.head.erp_order_id for o in known], subscriber)
    entries = []
    for ref, values in raw:
        delivery = deliveries.get(ref)
        moment = values.pop("occurred_at")
        inside = _inside(as_utc(moment), scope)
        entries.append(
            FactEntry(
                **values,
                fact=f"{ref[0]} {ref[1]}",
                event_id=delivery.event_id if delivery else None,
                event_type=delivery.event_type if delivery else None,
                delivery=delivery.status if delivery else "no_event",
                error=delivery.error if delivery else None,
                occurred_at=as_utc(moment),
                in_window=inside,
            )
        )
    return entries


Raw = tuple[tuple[str, int], dict[str, Any]]


def _inside(moment: datetime, scope: Scope) -> bool:
    if scope.start is None or scope.end is None:
        return True
    return scope.start <= moment < scope.end


def _lot_codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Lot.id, Lot.code).where(Lot.id.in_(wanted))).all())


def _operation_numbers(session: Session, orders: Sequence[ScopedOrder]) -> dict[int, int]:
    rows = session.execute(
        select(Operation.id, Operation.operation_no).where(
            Operation.order_id.in_([o.id for o in orders])
        )
    )
    return dict(rows.all())


def _moves(session: Session, orders: Sequence[ScopedOrder]) -> list[Raw]:
    """Consumption and returns, per item and lot, in the move's own unit."""
    by_id = {o.id: o for o in orders}
    rows = session.execute(
        select(MaterialMove, Item.code, UnitOfMeasure.code)
        .join(Item, Item.id == MaterialMove.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == MaterialMove.uom_id)
        .where(MaterialMove.order_id.in_(list(by_id)), MaterialMove.kind.in_(("consume", "return")))
    ).all()
    lots = _lot_codes(session, (m.lot_id for m, _, _ in rows))
    numbers = _operation_numbers(session, orders)
    return [
        (
            ("material_move", move.id),
            {
                "order": by_id[move.order_id or 0].head.erp_order_id,
                "operation_no": numbers.get(move.operation_id or 0),
                "kind": "consumption" if move.kind == "consume" else "return",
                "item": item,
                "lot": lots.get(move.lot_id or 0),
                "quantity": move.quantity,
                "unit": unit,
                "discrepancy": move.discrepancy,
                "occurred_at": move.occurred_at,
            },
        )
        for move, item, unit in rows
    ]


def _reports(session: Session, orders: Sequence[ScopedOrder]) -> list[Raw]:
    """Good of the last live operation is output to stock; earlier good, scrap, rework."""
    by_id = {o.id: o for o in orders}
    rows = session.execute(
        select(ProductionReport, UnitOfMeasure.code)
        .join(UnitOfMeasure, UnitOfMeasure.id == ProductionReport.uom_id)
        .where(ProductionReport.order_id.in_(list(by_id)))
    ).all()
    lots = _lot_codes(session, (r.lot_id for r, _ in rows))
    numbers = _operation_numbers(session, orders)
    raw: list[Raw] = []
    for report, unit in rows:
        order = by_id[report.order_id]
        number = numbers.get(report.operation_id)
        kind = report.kind
        if kind == "good" and number == order.last_operation:
            kind = "output"
        raw.append(
            (
                ("production_report", report.id),
                {
                    "order": order.head.erp_order_id,
                    "operation_no": number,
                    "kind": kind,
                    "item": order.head.item,
                    "lot": lots.get(report.lot_id or 0),
                    "quantity": report.quantity,
                    "unit": unit,
                    "discrepancy": report.discrepancy,
                    "occurred_at": report.occurred_at,
                },
            )
        )
    return raw


def _labour(session: Session, orders: Sequence[ScopedOrder]) -> list[Raw]:
    by_id = {o.id: o for o in orders}
    rows = session.scalars(select(LaborRecord).where(LaborRecord.order_id.in_(list(by_id))))
    numbers = _operation_numbers(session, orders)
    return [
        (
            ("labor", row.id),
            {
                "order": by_id[row.order_id].head.erp_order_id,
                "operation_no": numbers.get(row.operation_id),
                "kind": "labour",
                "item": by_id[row.order_id].head.item,
                "lot": None,
                "quantity": row.minutes,
                "unit": "min",
                "discrepancy": row.discrepancy,
                "occurred_at": row.ended_at,
            },
        )
        for row in rows
    ]


def _fact_of_event(event_type: str, payload: Mapping[str, Any]) -> tuple[str, int] | None:
    if event_type == REVERSED:
        fact, row = payload.get("fact"), payload.get("reversal_id")
    elif event_type in FACT_EVENTS:
        fact, field_name = FACT_EVENTS[event_type]
        row = payload.get(field_name)
    else:
        return None
    if fact not in ("material_move", "production_report", "labor") or row is None:
        return None
    return str(fact), int(row)


def _deliveries(
    session: Session, erp_order_ids: Sequence[str], subscriber: str
) -> dict[tuple[str, int], Delivery]:
    """Fact (table, id) → its event and the event's delivery to `subscriber`."""
    events = session.execute(
        select(E.position, E.event_id, E.type, E.status, E.payload).where(
            E.type.in_([*FACT_EVENTS, REVERSED]),
            E.glue["erp_order_id"].as_string().in_(list(erp_order_ids)),
        )
    ).all()
    positions = [e.position for e in events]
    rows: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(positions), CHUNK):
        chunk = positions[start : start + CHUNK]
        for position, status, error in session.execute(
            select(D.position, D.status, D.last_error).where(
                D.subscriber == subscriber, D.position.in_(chunk)
            )
        ):
            rows[position] = (status, error)
    claimed = _claimed(session, subscriber)
    found: dict[tuple[str, int], Delivery] = {}
    for event in events:
        fact = _fact_of_event(event.type, event.payload or {})
        if fact is None:
            continue
        if event.position in rows:
            status, error = rows[event.position]
        elif event.position in claimed:
            status, error = "in_flight", None
        else:
            status, error = ("unclaimed" if event.status == "pending" else "not_sent"), None
        found[fact] = Delivery(event.event_id, event.type, status, error)
    return found


def _claimed(session: Session, subscriber: str) -> set[int]:
    """Positions a relay has claimed for the subscriber's first attempt, not yet settled."""
    held: set[int] = set()
    for positions in session.scalars(select(IntClaim.positions)):
        held.update(int(p) for p in (positions or {}).get(subscriber, ()))
    return held
