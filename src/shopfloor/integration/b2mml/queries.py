"""The facts of an order, read for an OperationsPerformance document.

Read side only, through the owning domains' queries where they exist (order summary and
operations, plan against actual, the move ledger); labour, downtime and scrap codes per
operation are summed here from the fact tables. Reversals carry negated quantities, so
every sum is net; a group that nets to zero is left out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.execution import queries as execution_queries
from shopfloor.execution.tables import Downtime, LaborRecord, ProductionReport
from shopfloor.identity.tables import User
from shopfloor.integration.b2mml.performance import (
    MaterialActual,
    OrderActuals,
    PersonnelActual,
    SegmentActuals,
)
from shopfloor.kernel.errors import NotFound
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import DowntimeReason, QualityCode
from shopfloor.materials import queries as material_queries
from shopfloor.materials.tables import Lot, SerialNumber
from shopfloor.orders import queries as order_queries
from shopfloor.orders.tables import ProductionOrder

# ledger kind → (material use, sign)
LEDGER_USE = {"produce": ("produced", 1), "consume": ("consumed", 1), "return": ("consumed", -1)}


def order_id_of(session: Session, erp_order_id: str) -> int:
    """shopfloor's id of the order ERP knows as `erp_order_id`."""
    found = session.scalar(
        select(ProductionOrder.id).where(ProductionOrder.erp_order_id == erp_order_id)
    )
    if found is None:
        raise NotFound(f"no production order with ERP order id {erp_order_id}")
    return found


def orders_completed_between(session: Session, since: datetime, until: datetime) -> list[int]:
    """Orders whose execution completed in [since, until), oldest completion first."""
    return list(
        session.scalars(
            select(ProductionOrder.id)
            .where(ProductionOrder.completed_at >= since, ProductionOrder.completed_at < until)
            .order_by(ProductionOrder.completed_at, ProductionOrder.id)
        )
    )


def order_actuals(session: Session, order_id: int) -> OrderActuals:
    """Everything an OperationsPerformance says about one order."""
    summary = order_queries.order_summary(session, order_id)
    progress = {
        op.operation_no: op for op in execution_queries.order_progress(session, order_id).operations
    }
    materials = _materials(session, order_id, summary.uom_code)
    personnel = _personnel(session, order_id)
    downtime = _downtime(session, order_id)
    operations = order_queries.order_operations(session, order_id)
    if operations:  # facts of the order without an operation go with the first operation
        first = operations[0].id
        materials.setdefault(first, []).extend(materials.pop(None, []))
        downtime.setdefault(first, []).extend(downtime.pop(None, []))
    segments = []
    for op in operations:
        done = progress[op.operation_no]
        segments.append(
            SegmentActuals(
                operation_no=op.operation_no,
                name=op.name,
                work_center=op.work_center_code,
                status=op.status,
                started_at=op.started_at,
                completed_at=op.completed_at,
                good=done.good,
                scrap=done.scrap,
                rework=done.rework,
                materials=tuple(materials.get(op.id, ())),
                personnel=tuple(personnel.get(op.id, ())),
                downtime=tuple(downtime.get(op.id, ())),
            )
        )
    return OrderActuals(
        erp_order_id=summary.erp_order_id,
        item=summary.item_code,
        quantity=summary.quantity,
        unit=summary.uom_code,
        execution_status=summary.execution_status,
        bom_version=summary.bom_version,
        routing_version=summary.routing_version,
        segments=tuple(segments),
    )


Key = tuple[str, str, str | None, str | None, str, tuple[tuple[str, str], ...]]
Sums = dict[int | None, dict[Key, Decimal]]


def _materials(
    session: Session, order_id: int, unit: str
) -> dict[int | None, list[MaterialActual]]:
    """Produced and net consumed material per operation, item, lot and serial (from the move
    ledger), and scrap per lot and defect code (from the production reports)."""
    sums: Sums = defaultdict(lambda: defaultdict(Decimal))
    reasons = _ledger(session, order_id, sums)
    _scrap(session, order_id, unit, sums)
    found: dict[int | None, list[MaterialActual]] = {}
    for operation_id, groups in sums.items():
        found[operation_id] = []
        for key, quantity in groups.items():
            if quantity == 0:
                continue
            use, item, lot, serial, uom, props = key
            notes = _reasons(reasons.get((operation_id, key), []))
            found[operation_id].append(
                MaterialActual(use, item, quantity, uom, lot, serial, props + notes)
            )
    return found


def _ledger(session: Session, order_id: int, sums: Sums) -> dict[tuple[int | None, Key], list[str]]:
    """Adds the produce, consume and return moves to `sums`; the overuse reasons by group."""
    reasons: dict[tuple[int | None, Key], list[str]] = defaultdict(list)
    for move in material_queries.moves_of_order(session, order_id):
        if move.kind not in LEDGER_USE:
            continue
        use, sign = LEDGER_USE[move.kind]
        extra: tuple[tuple[str, str], ...] = ()
        if move.substitute_for_item_id is not None:
            original = md.item_by_id(session, move.substitute_for_item_id).code
            extra = (("SubstituteFor", original),)
        key: Key = (
            use,
            md.item_by_id(session, move.item_id).code,
            _lot(session, move.lot_id),
            _serial(session, move.serial_id),
            md.uom_by_id(session, move.uom_id).code,
            extra,
        )
        sums[move.operation_id][key] += sign * move.quantity
        if move.overuse_reason and move.kind == "consume" and move.reverses_id is None:
            reasons[(move.operation_id, key)].append(move.overuse_reason)
    return reasons


def _scrap(session: Session, order_id: int, unit: str, sums: Sums) -> None:
    """Adds the scrap reports to `sums`, per operation, lot, serial and defect code."""
    item = order_queries.order_summary(session, order_id).item_code
    for operation_id, lot_id, serial_id, code, quantity in session.execute(
        select(
            ProductionReport.operation_id,
            ProductionReport.lot_id,
            ProductionReport.serial_id,
            QualityCode.code,
            ProductionReport.quantity,
        )
        .outerjoin(QualityCode, QualityCode.id == ProductionReport.quality_code_id)
        .where(ProductionReport.order_id == order_id, ProductionReport.kind == "scrap")
        .order_by(ProductionReport.id)
    ):
        props = (("QualityCode", code),) if code else ()
        key = ("scrapped", item, _lot(session, lot_id), _serial(session, serial_id), unit, props)
        sums[operation_id][key] += quantity


def _reasons(found: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple(("OveruseReason", reason) for reason in dict.fromkeys(found))


def _lot(session: Session, lot_id: int | None) -> str | None:
    lot = session.get(Lot, lot_id) if lot_id is not None else None
    return lot.code if lot else None


def _serial(session: Session, serial_id: int | None) -> str | None:
    unit = session.get(SerialNumber, serial_id) if serial_id is not None else None
    return unit.serial if unit else None


def _personnel(session: Session, order_id: int) -> dict[int, list[PersonnelActual]]:
    """Net labour minutes per operation and person."""
    minutes: dict[int, dict[tuple[str, str], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for operation_id, username, full_name, amount in session.execute(
        select(LaborRecord.operation_id, User.username, User.full_name, LaborRecord.minutes)
        .join(User, User.id == LaborRecord.worker_id)
        .where(LaborRecord.order_id == order_id)
        .order_by(LaborRecord.id)
    ):
        minutes[operation_id][(username, full_name)] += amount
    return {
        operation_id: [
            PersonnelActual(username, name, total)
            for (username, name), total in people.items()
            if total != 0
        ]
        for operation_id, people in minutes.items()
    }


def _downtime(session: Session, order_id: int) -> dict[int | None, list[tuple[str, Decimal]]]:
    """Net downtime minutes per operation and reason code."""
    minutes: dict[int | None, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for operation_id, code, amount in session.execute(
        select(Downtime.operation_id, DowntimeReason.code, Downtime.minutes)
        .outerjoin(DowntimeReason, DowntimeReason.id == Downtime.reason_id)
        .where(Downtime.order_id == order_id)
        .order_by(Downtime.id)
    ):
        minutes[operation_id][code or "unspecified"] += amount
    return {
        operation_id: sorted((code, total) for code, total in reasons.items() if total != 0)
        for operation_id, reasons in minutes.items()
    }
