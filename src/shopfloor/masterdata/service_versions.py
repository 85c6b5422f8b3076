"""BOM and routing versions cached from ERP. Never commits.

A version is immutable: the same content again changes nothing, a different composition under
a recorded version is refused, and a new version is a new row, so facts recorded against the
old version keep pointing at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import Conflict, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import domain, queries
from shopfloor.masterdata.changes import audit_change, plain
from shopfloor.masterdata.domain import BomLineSpec, OperationSpec
from shopfloor.masterdata.tables import (
    Bom,
    BomAlternative,
    BomLine,
    Routing,
    RoutingOperation,
)


def upsert_bom_version(
    session: Session,
    ctx: CommandContext,
    *,
    item_code: str,
    version: str,
    quantity: Decimal,
    effective_from: date,
    effective_to: date | None = None,
    lines: Sequence[BomLineSpec],
) -> Bom:
    """Record a BOM version. The same content again changes nothing; a different composition
    under a recorded version is refused (it needs a new version). Only the effective window
    of a recorded version may move, because ERP end-dates a version when it publishes the
    next one; the composition every fact points at never changes."""
    item = queries.item_by_code(session, item_code)
    quantity = qty(quantity)
    domain.check_effective_span(version, effective_from, effective_to)
    domain.check_bom(item_code, version, quantity, lines)
    bom = session.scalar(select(Bom).where(Bom.item_id == item.id, Bom.version == version))
    if bom is not None:
        recorded = [_line_spec(line) for line in queries.bom_lines(session, bom.id)]
        if domain.bom_content(bom.quantity, recorded) != domain.bom_content(quantity, lines):
            raise Conflict(
                f"BOM {version} of {item_code} is already recorded with a different "
                "composition; a recorded version never changes, send the change as a new version"
            )
        _move_window(session, ctx, "bom", bom, effective_from, effective_to)
        return bom
    return _record_bom(
        session, ctx, item.id, item_code, version, quantity, effective_from, effective_to, lines
    )


def _record_bom(
    session: Session,
    ctx: CommandContext,
    item_id: int,
    item_code: str,
    version: str,
    quantity: Decimal,
    effective_from: date,
    effective_to: date | None,
    lines: Sequence[BomLineSpec],
) -> Bom:
    bom = Bom(
        item_id=item_id,
        version=version,
        quantity=quantity,
        effective_from=effective_from,
        effective_to=effective_to,
        recorded_at=ctx.now,
    )
    session.add(bom)
    session.flush()
    for line in lines:
        _add_bom_line(session, bom.id, line)
    session.flush()
    content = {
        "item": item_code,
        "version": version,
        "quantity": quantity,
        "effective_from": effective_from,
        "effective_to": effective_to,
        "lines": [_line_view(line) for line in sorted(lines, key=lambda x: x.line_no)],
    }
    audit.record(session, ctx, "bom.created", "bom", bom.id, new=plain(content))
    return bom


def _line_spec(line: queries.BomLineRow) -> BomLineSpec:
    return BomLineSpec(
        line_no=line.line_no,
        item_code=line.item_code,
        quantity=line.quantity,
        uom_code=line.uom_code,
        tolerance_pct=line.tolerance_pct,
        operation_no=line.operation_no,
        alternatives=tuple(
            domain.AlternativeSpec(alt.item_code, alt.ratio) for alt in line.alternatives
        ),
    )


def _line_view(line: BomLineSpec) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "item": line.item_code,
        "quantity": line.quantity,
        "uom": line.uom_code,
        "tolerance_pct": line.tolerance_pct,
        "operation_no": line.operation_no,
        "alternatives": [{"item": a.item_code, "ratio": a.ratio} for a in line.alternatives],
    }


def _add_bom_line(session: Session, bom_id: int, line: BomLineSpec) -> None:
    row = BomLine(
        bom_id=bom_id,
        line_no=line.line_no,
        item_id=queries.item_by_code(session, line.item_code).id,
        quantity=qty(line.quantity),
        uom_id=queries.uom_by_code(session, line.uom_code).id,
        tolerance_pct=qty(line.tolerance_pct),
        operation_no=line.operation_no,
    )
    session.add(row)
    session.flush()
    for alternative in line.alternatives:
        session.add(
            BomAlternative(
                bom_line_id=row.id,
                item_id=queries.item_by_code(session, alternative.item_code).id,
                ratio=qty(alternative.ratio),
            )
        )


def _move_window(
    session: Session,
    ctx: CommandContext,
    entity: str,
    version_row: Bom | Routing,
    effective_from: date,
    effective_to: date | None,
) -> None:
    before = {
        "effective_from": version_row.effective_from,
        "effective_to": version_row.effective_to,
    }
    version_row.effective_from, version_row.effective_to = effective_from, effective_to
    session.flush()
    audit_change(
        session,
        ctx,
        entity,
        version_row.id,
        before,
        {"effective_from": effective_from, "effective_to": effective_to},
    )


def upsert_routing_version(
    session: Session,
    ctx: CommandContext,
    *,
    item_code: str,
    version: str,
    effective_from: date,
    effective_to: date | None = None,
    operations: Sequence[OperationSpec],
) -> Routing:
    """Record a routing version; immutable like a BOM version (only its window may move).
    Every operation runs at a work center and may require a skill."""
    item = queries.item_by_code(session, item_code)
    domain.check_effective_span(version, effective_from, effective_to)
    domain.check_routing(item_code, version, operations)
    routing = session.scalar(
        select(Routing).where(Routing.item_id == item.id, Routing.version == version)
    )
    if routing is not None:
        recorded = [_operation_spec(op) for op in queries.routing_operations(session, routing.id)]
        if domain.routing_content(recorded) != domain.routing_content(operations):
            raise Conflict(
                f"routing {version} of {item_code} is already recorded with different "
                "operations; a recorded version never changes, send the change as a new version"
            )
        _move_window(session, ctx, "routing", routing, effective_from, effective_to)
        return routing
    return _record_routing(
        session, ctx, item.id, item_code, version, effective_from, effective_to, operations
    )


def _record_routing(
    session: Session,
    ctx: CommandContext,
    item_id: int,
    item_code: str,
    version: str,
    effective_from: date,
    effective_to: date | None,
    operations: Sequence[OperationSpec],
) -> Routing:
    routing = Routing(
        item_id=item_id,
        version=version,
        effective_from=effective_from,
        effective_to=effective_to,
        recorded_at=ctx.now,
    )
    session.add(routing)
    session.flush()
    for op in operations:
        session.add(_routing_operation(session, routing.id, op))
    session.flush()
    content = {
        "item": item_code,
        "version": version,
        "effective_from": effective_from,
        "effective_to": effective_to,
        "operations": [list(op) for op in domain.routing_content(operations)],
    }
    audit.record(session, ctx, "routing.created", "routing", routing.id, new=plain(content))
    return routing


def _operation_spec(op: queries.RoutingOperationRow) -> OperationSpec:
    return OperationSpec(
        operation_no=op.operation_no,
        name=op.name,
        work_center_code=op.work_center_code,
        setup_minutes=op.setup_minutes,
        ideal_cycle_seconds=op.ideal_cycle_seconds,
        required_skill_code=op.required_skill_code,
    )


def _routing_operation(session: Session, routing_id: int, op: OperationSpec) -> RoutingOperation:
    work_center = queries.equipment_by_code(session, op.work_center_code)
    if work_center.level != "work_center":
        raise RuleViolation(
            f"operation {op.operation_no} must run at a work center; "
            f"{op.work_center_code} is a {work_center.level}"
        )
    skill = (
        queries.skill_by_code(session, op.required_skill_code) if op.required_skill_code else None
    )
    return RoutingOperation(
        routing_id=routing_id,
        operation_no=op.operation_no,
        name=op.name,
        work_center_id=work_center.id,
        setup_minutes=qty(op.setup_minutes),
        ideal_cycle_seconds=qty(op.ideal_cycle_seconds),
        required_skill_id=skill.id if skill else None,
    )
