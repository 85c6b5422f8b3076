"""The running totals against the facts they total: both as exact Decimals by key."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.execution.tables import OperationOutput, ProductionReport
from shopfloor.materials.tables import MaterialMove, OrderMaterialTotal

Sums = dict[tuple[object, ...], Decimal]


def _nonzero(sums: Sums) -> Sums:
    return {key: amount for key, amount in sums.items() if amount != 0}


def output_totals(session: Session) -> tuple[Sums, Sums]:
    """(Σ of the reports per operation and kind, the running totals), zeros left out."""
    facts: Sums = defaultdict(Decimal)
    for op_id, kind, quantity in session.execute(
        select(ProductionReport.operation_id, ProductionReport.kind, ProductionReport.quantity)
    ):
        facts[(op_id, kind)] += quantity
    kept = {
        (row.operation_id, row.kind): row.quantity
        for row in session.execute(select(OperationOutput)).scalars()
    }
    return _nonzero(facts), _nonzero(kept)


def material_totals(session: Session) -> tuple[Sums, Sums]:
    """(Σ of the order moves per order, kind, item and replaced component, the totals)."""
    m = MaterialMove
    facts: Sums = defaultdict(Decimal)
    rows = session.execute(
        select(m.order_id, m.kind, m.item_id, m.substitute_for_item_id, m.quantity).where(
            m.order_id.is_not(None)
        )
    )
    for order_id, kind, item_id, replaced, quantity in rows:
        facts[(order_id, kind, item_id, replaced or 0)] += quantity
    kept = {
        (t.order_id, t.kind, t.item_id, t.substitute_for_item_id): t.quantity
        for t in session.execute(select(OrderMaterialTotal)).scalars()
    }
    return _nonzero(facts), _nonzero(kept)
