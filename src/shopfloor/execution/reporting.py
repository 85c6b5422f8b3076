"""Reporting facts of the floor: good/scrap/rework output, labour time, downtime.

Every fact is appended (never edited), audited once, announced once, and flagged with the
ERP discrepancy when ERP has not released the order (or has closed it): kept, never refused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.execution import domain
from shopfloor.execution.scope import (
    OperationHead,
    OrderScope,
    check_unit,
    count_output,
    order_move,
    outputs,
    product_lot,
    product_serial,
    report_scope,
)
from shopfloor.execution.tables import ProductionReport
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import QualityCode
from shopfloor.materials.domain import fact_time
from shopfloor.materials.tables import Lot, SerialNumber
from shopfloor.orders import domain as orders_domain
from shopfloor.platform.db import append


def report_production(
    session: Session,
    ctx: CommandContext,
    operation_id: int,
    *,
    kind: str,
    quantity: Decimal | int | str,
    uom_code: str | None = None,
    lot_code: str | None = None,
    serial: str | None = None,
    quality_code: str | None = None,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> ProductionReport:
    """Report good, scrap or rework output of a running or paused operation.

    Good + scrap at an operation never exceed what reached it (the order quantity at the
    first operation, the previous operation's good output after). Good output of the last
    operation goes to stock as a `produce` move of the order's item into its lot/serial
    (a new lot is created on the floor); scrap anywhere is a `scrap` move of the item.
    """
    scope, operation, operations = report_scope(session, operation_id)
    domain.check_reportable(operation.operation_no, operation.status)
    amount = qty(quantity)
    when = fact_time(occurred_at, ctx.now)
    domain.check_report(kind, amount, serial=serial is not None)
    code = None
    if quality_code is not None and kind != "good":
        code = md.quality_code_by_code(session, quality_code)
    domain.check_quality_code(kind, code.kind if code else None, given=quality_code is not None)
    check_unit(uom_code, scope.unit, f"order {scope.order.erp_order_id}")
    status_by_no = {op.operation_no: op.status for op in operations}
    _check_flow(session, scope, operation, operations, status_by_no, kind, amount)
    is_last = domain.last_operation(status_by_no) == operation.operation_no
    _check_tracking(scope, kind, is_last, lot_code, serial)
    lot = product_lot(session, ctx, scope, lot_code)
    unit = product_serial(session, ctx, scope, serial, lot)
    report = _write_report(
        session, ctx, scope, operation, kind, amount, lot, unit, code, reason, when
    )
    if kind == "scrap" or (kind == "good" and is_last):
        _stock_move(session, ctx, scope, operation, report, lot)
    _announce(session, ctx, scope, operation, report, code, lot, unit)
    return report


def _write_report(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    operation: OperationHead,
    kind: str,
    amount: Decimal,
    lot: Lot | None,
    unit: SerialNumber | None,
    code: QualityCode | None,
    reason: str | None,
    when: datetime,
) -> ProductionReport:
    """Append the report with the order's exact versions and ERP flag, and audit it."""
    values: dict[str, Any] = dict(
        order_id=scope.order.id,
        operation_id=operation.id,
        kind=kind,
        quantity=amount,
        uom_id=scope.order.uom_id,
        lot_id=lot.id if lot else None,
        serial_id=unit.id if unit else None,
        quality_code_id=code.id if code else None,
        reason=reason,
        reverses_id=None,
        discrepancy=scope.discrepancy,
        bom_version=scope.bom_version,
        routing_version=scope.routing_version,
        user_id=ctx.actor.user_id,
        occurred_at=when,
        recorded_at=ctx.now,
    )
    report = ProductionReport(id=append(session, ProductionReport, values), **values)
    count_output(session, report)
    audit.record(
        session,
        ctx,
        "production.reported",
        "production_report",
        report.id,
        new=_report_values(report),
        reason=reason,
    )
    return report


def _check_flow(
    session: Session,
    scope: OrderScope,
    operation: OperationHead,
    operations: list[OperationHead],
    status_by_no: dict[int, str],
    kind: str,
    amount: Decimal,
) -> None:
    previous_no = domain.previous_live_operation(status_by_no, operation.operation_no)
    previous_op = next((op for op in operations if op.operation_no == previous_no), None)
    reported = outputs(session, scope.order.id)
    nothing = domain.output_of(())
    previous = reported.get(previous_op.id, nothing) if previous_op else None
    available = orders_domain.available_input(scope.order.quantity, previous)
    orders_domain.check_output(
        operation.operation_no, kind, amount, reported.get(operation.id, nothing), available
    )


def _check_tracking(
    scope: OrderScope, kind: str, is_last: bool, lot_code: str | None, serial: str | None
) -> None:
    """Finished goods of a lot- or serial-tracked item go to stock with their lot/serial."""
    if kind != "good" or not is_last:
        return
    if scope.item.lot_tracked and lot_code is None:
        raise RuleViolation(
            f"{scope.item.code} is lot-tracked: name the lot the good units go into"
        )
    if scope.item.serial_tracked and serial is None:
        raise RuleViolation(f"{scope.item.code} is serial-tracked: report each unit's serial")


def _report_values(report: ProductionReport) -> dict[str, object]:
    return {
        "order_id": report.order_id,
        "operation_id": report.operation_id,
        "kind": report.kind,
        "quantity": report.quantity,
        "lot_id": report.lot_id,
        "serial_id": report.serial_id,
        "quality_code_id": report.quality_code_id,
        "reverses_id": report.reverses_id,
        "discrepancy": report.discrepancy,
        "occurred_at": report.occurred_at,
    }


def _stock_move(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    operation: OperationHead,
    report: ProductionReport,
    lot: Lot | None,
) -> None:
    """Finished goods to stock (`produce`) or scrapped units (`scrap`) of the order's item."""
    order_move(
        session,
        ctx,
        scope,
        "produce" if report.kind == "good" else "scrap",
        item_id=scope.item.id,
        quantity=report.quantity,
        uom_id=report.uom_id,
        operation=operation,
        lot=lot,
        serial_id=report.serial_id,
        reason=report.reason,
        occurred_at=report.occurred_at,
    )


def _announce(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    operation: OperationHead,
    report: ProductionReport,
    code: QualityCode | None,
    lot: Lot | None,
    unit: SerialNumber | None,
) -> None:
    scope.emit(
        session,
        ctx,
        "production.reported",
        {
            "report_id": report.id,
            "kind": report.kind,
            "quantity": report.quantity,
            "unit": scope.unit,
            "quality_code": code.code if code else None,
            "quality_code_kind": code.kind if code else None,
            "reason": report.reason,
            "lot": lot.code if lot else None,
            "serial": unit.serial if unit else None,
        },
        operation=operation,
        occurred_at=report.occurred_at,
        lot=lot.code if lot else None,
        serial=unit.serial if unit else None,
    )
