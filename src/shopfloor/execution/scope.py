"""The order a fact belongs to: loaded (row-locked), with its item, its exact BOM and routing
versions, its ERP discrepancy flag, and the glue keys every event carries.

Every execution command on an order locks the order row first, then the operation: facts
of one order are recorded one after another, so the quantity flow and the norm checks see
everything recorded before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from shopfloor.execution import domain
from shopfloor.execution.tables import OperationOutput, ProductionReport
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Bom, Equipment, Item, Routing, UnitOfMeasure
from shopfloor.materials import service as materials
from shopfloor.materials.domain import OrderKeys
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.orders import domain as orders_domain
from shopfloor.orders.tables import Operation, OrderComponent, ProductionOrder
from shopfloor.platform import direct, outbox
from shopfloor.platform.totals import RunningTotal


@dataclass(frozen=True)
class OrderHead:
    """What a fact needs of its order, read with the order's row lock."""

    id: int
    erp_order_id: str
    quantity: Decimal
    uom_id: int
    erp_status: str
    execution_status: str


@dataclass(frozen=True)
class ItemHead:
    """What a fact needs of the order's item."""

    id: int
    code: str
    lot_tracked: bool
    serial_tracked: bool


class OperationRef(Protocol):
    """What a fact needs of its operation: an `Operation` entity, or an `OperationHead`."""

    @property
    def id(self) -> int: ...
    @property
    def operation_no(self) -> int: ...
    @property
    def work_center_id(self) -> int: ...


@dataclass(frozen=True)
class OperationHead:
    """An operation as a report reads it (row-locked with its order), not as an entity."""

    id: int
    operation_no: int
    status: str
    work_center_id: int


@dataclass
class OrderScope:
    order: OrderHead
    item: ItemHead
    unit: str
    bom_version: str
    routing_version: str
    _operations: list[Operation] | None = field(default=None, init=False, repr=False)
    _work_centers: dict[int, str] = field(default_factory=dict, init=False, repr=False)

    def operations(self, session: Session) -> list[Operation]:
        """The order's operations, loaded (row-locked) once per command."""
        if self._operations is None:
            rows = load_operations(session, self.order.id)
            self._operations = [op for op, _ in rows]
            self._work_centers = {op.id: center.code for op, center in rows}
        return self._operations

    def statuses(self, session: Session) -> dict[int, str]:
        """Operation number → status of every operation of the order."""
        return {op.operation_no: op.status for op in self.operations(session)}

    def entity(self, session: Session) -> ProductionOrder:
        """The order as an entity, for a command that moves it (already row-locked)."""
        order = session.get(ProductionOrder, self.order.id)
        if order is None:  # locked by this transaction: it cannot have gone
            raise NotFound(f"no production order with id {self.order.id}")
        return order

    @property
    def discrepancy(self) -> str | None:
        """'erp_not_released' or 'erp_closed' when ERP has not released the order."""
        return orders_domain.discrepancy(self.order.erp_status)

    def keys(self, session: Session, operation: OperationRef | None = None) -> OrderKeys:
        return OrderKeys(
            erp_order_id=self.order.erp_order_id,
            operation_no=operation.operation_no if operation else None,
            work_center=self.work_center(session, operation) if operation else None,
            bom_version=self.bom_version,
            routing_version=self.routing_version,
            discrepancy=self.discrepancy,
        )

    def work_center(self, session: Session, operation: OperationRef) -> str:
        """The code of the work center the operation runs on."""
        return self._work_centers.get(operation.id) or work_center_code(session, operation)

    def emit(
        self,
        session: Session,
        ctx: CommandContext,
        event_type: str,
        payload: dict[str, Any],
        *,
        operation: OperationRef | None = None,
        occurred_at: datetime | None = None,
        **glue: Any,
    ) -> None:
        """Announce an event of this order with its glue keys and exact versions."""
        keys = self.keys(session, operation)
        outbox.emit(
            session,
            ctx,
            event_type,
            {**payload, "discrepancy": self.discrepancy},
            glue={**keys.glue(), "item": self.item.code, **glue},
            occurred_at=occurred_at,
            bom_version=self.bom_version,
            routing_version=self.routing_version,
        )


def order_scope(session: Session, order_id: int, *, lock: bool = True) -> OrderScope:
    """The order (row-locked unless `lock` is False) with what its events need."""
    scope = _load_scope(session, _scope_statement(lock), order_id)
    if scope is None:
        raise NotFound(f"no production order with id {order_id}")
    return scope


def operation_scope(session: Session, operation_id: int) -> tuple[OrderScope, Operation]:
    """The operation and its order, both row-locked: the order first, then its operations,
    in one query that also reads each operation's work center. What was reported so far is
    read after it (`outputs`): a command that waited for the lock sees it only in a
    statement that starts after the lock is granted."""
    session.flush()
    rows = session.execute(_operation_scope_statement(), {"id": operation_id}).all()
    if not rows:
        raise NotFound(f"no operation with id {operation_id}")
    scope = _scope_of(rows[0][2:])
    scope._operations = [row[0] for row in rows]
    scope._work_centers = {row[0].id: row[1].code for row in rows}
    operation = next((op for op in scope._operations if op.id == operation_id), None)
    if operation is None:
        raise NotFound(f"no operation with id {operation_id}")
    return scope, operation


def report_scope(
    session: Session, operation_id: int
) -> tuple[OrderScope, OperationHead, list[OperationHead]]:
    """`operation_scope` for a command that changes no operation (a production report):
    the same locks in the same order, the operations read as plain rows."""
    session.flush()
    rows = direct.rows(session, _REPORT_SCOPE, {"id": operation_id})
    heads = [OperationHead(*row[:4]) for row in rows]
    operation = next((op for op in heads if op.id == operation_id), None)
    if operation is None:
        raise NotFound(f"no operation with id {operation_id}")
    scope = _scope_of(rows[0][5:])
    scope._work_centers = {row[0]: row[4] for row in rows}
    return scope, operation, heads


# The statements of every command are built once: SQLAlchemy then reuses their compiled
# form without working out a cache key per execution (measured: a good share of a command).
# Columns of the order, not entities: a fact reads a few of them and changes none.

_O, _I = ProductionOrder, Item
_ORDER_HEAD = (_O.id, _O.erp_order_id, _O.quantity, _O.uom_id, _O.erp_status, _O.execution_status)
_ITEM_HEAD = (_I.id, _I.code, _I.lot_tracked, _I.serial_tracked)
_SCOPE = (*_ORDER_HEAD, *_ITEM_HEAD, UnitOfMeasure.code, Bom.version, Routing.version)


def _with_versions(stmt: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """The order's item, unit, BOM and routing joined in."""
    return (
        stmt.join(Item, Item.id == ProductionOrder.item_id)
        .join(UnitOfMeasure, UnitOfMeasure.id == ProductionOrder.uom_id)
        .join(Bom, Bom.id == ProductionOrder.bom_id)
        .join(Routing, Routing.id == ProductionOrder.routing_id)
    )


@cache
def _scope_statement(lock: bool) -> Select[*tuple[Any, ...]]:
    """The order read afresh (row-locked on PostgreSQL: a command waiting for the lock sees
    what the command before it committed) with its item, unit, BOM and routing."""
    stmt = _with_versions(select(*_SCOPE).where(ProductionOrder.id == bindparam("id")))
    return stmt.with_for_update(of=ProductionOrder) if lock else stmt


@cache
def _operation_scope_statement() -> Select[*tuple[Any, ...]]:
    """Every operation of the order one operation belongs to with its work center, and the
    order's `_SCOPE`; the order's row and the operations' rows locked, the order's first
    (the order every command locks in)."""
    of_operation = select(Operation.order_id).where(Operation.id == bindparam("id"))
    stmt = (
        select(Operation, Equipment, *_SCOPE)
        .select_from(ProductionOrder)
        .join(Operation, Operation.order_id == ProductionOrder.id)
        .join(Equipment, Equipment.id == Operation.work_center_id)
    )
    return (
        _with_versions(stmt)
        .where(ProductionOrder.id == of_operation.scalar_subquery())
        .order_by(Operation.operation_no)
        .execution_options(populate_existing=True)
        .with_for_update(of=[ProductionOrder, Operation])
    )


_OP_HEAD = (Operation.id, Operation.operation_no, Operation.status, Operation.work_center_id)
_REPORT_SCOPE = (
    _with_versions(
        select(*_OP_HEAD, Equipment.code, *_SCOPE)
        .select_from(ProductionOrder)
        .join(Operation, Operation.order_id == ProductionOrder.id)
        .join(Equipment, Equipment.id == Operation.work_center_id)
    )
    .where(
        ProductionOrder.id
        == select(Operation.order_id).where(Operation.id == bindparam("id")).scalar_subquery()
    )
    .order_by(Operation.operation_no)
    .with_for_update(of=[ProductionOrder, Operation])
)


def _load_scope(session: Session, stmt: Select[*tuple[Any, ...]], key: int) -> OrderScope | None:
    session.flush()  # a changed order entity counts; then the plain row is enough
    row = direct.first(session, stmt, {"id": key})
    return None if row is None else _scope_of(row)


def _scope_of(values: Sequence[Any]) -> OrderScope:
    """The scope from the `_SCOPE` columns of a row."""
    head, item = len(_ORDER_HEAD), len(_ORDER_HEAD) + len(_ITEM_HEAD)
    unit, bom_version, routing_version = values[item : item + 3]
    return OrderScope(
        OrderHead(*values[:head]), ItemHead(*values[head:item]), unit, bom_version, routing_version
    )


@cache
def _operations_statement(lock: bool) -> Select[Operation, Equipment]:
    stmt = (
        select(Operation, Equipment)
        .join(Equipment, Equipment.id == Operation.work_center_id)
        .where(Operation.order_id == bindparam("order_id"))
        .order_by(Operation.operation_no)
        .execution_options(populate_existing=True)
    )
    return stmt.with_for_update(of=Operation) if lock else stmt


def load_operations(
    session: Session, order_id: int, *, lock: bool = True
) -> list[tuple[Operation, Equipment]]:
    """The order's operations by number, read afresh and row-locked (PostgreSQL; the order
    is locked first by every command), with their work centers loaded alongside."""
    rows = session.execute(_operations_statement(lock), {"order_id": order_id}).all()
    return [(op, center) for op, center in rows]


def work_center_code(session: Session, operation: OperationRef) -> str:
    return md.equipment_by_id(session, operation.work_center_id).code


def statuses(session: Session, order_id: int) -> dict[int, str]:
    """Operation number → status of every operation of the order."""
    return {op.operation_no: op.status for op, _ in load_operations(session, order_id)}


def operation_by_no(session: Session, order_id: int, operation_no: int) -> Operation:
    for op, _ in load_operations(session, order_id):
        if op.operation_no == operation_no:
            return op
    raise NotFound(f"order {order_id} has no operation {operation_no}")


OUTPUT_TOTALS = RunningTotal(cast(Table, OperationOutput.__table__), ("operation_id", "kind"))
_OUT = OperationOutput
_OUTPUT = select(_OUT.operation_id, _OUT.kind, _OUT.quantity).where(
    _OUT.operation_id == bindparam("operation_id")
)
_ORDER_OUTPUTS = select(_OUT.operation_id, _OUT.kind, _OUT.quantity).where(
    _OUT.operation_id.in_(select(Operation.id).where(Operation.order_id == bindparam("order_id")))
)


def output(session: Session, operation_id: int) -> orders_domain.Output:
    """Net good, scrap and rework reported at one operation (reversals subtract)."""
    rows = OUTPUT_TOTALS.read(session, _OUTPUT, operation_id=operation_id)
    return domain.output_of((kind, qty(total)) for _, kind, total in rows)


def outputs(session: Session, order_id: int) -> dict[int, orders_domain.Output]:
    """`output` of every operation of the order, in one query (of their running totals);
    an operation that reported nothing has none."""
    rows = OUTPUT_TOTALS.read(session, _ORDER_OUTPUTS, order_id=order_id)
    return {
        op_id: domain.output_of((kind, qty(total)) for of, kind, total in rows if of == op_id)
        for op_id in {of for of, _, _ in rows}
    }


def count_output(session: Session, report: ProductionReport) -> None:
    """Keep the running total of the report's operation and kind (every report and
    reversal of one adds its quantity)."""
    OUTPUT_TOTALS.add(session, report.quantity, operation_id=report.operation_id, kind=report.kind)


def components(session: Session, order_id: int) -> list[OrderComponent]:
    """The order's execution BOM, by line number."""
    return [component for component, _, _ in components_with_items(session, order_id)]


_COMPONENTS = (
    select(OrderComponent, Item, UnitOfMeasure)
    .join(Item, Item.id == OrderComponent.item_id)
    .join(UnitOfMeasure, UnitOfMeasure.id == OrderComponent.uom_id)
    .where(OrderComponent.order_id == bindparam("order_id"))
    .order_by(OrderComponent.line_no)
)


def components_with_items(
    session: Session, order_id: int
) -> list[tuple[OrderComponent, Item, UnitOfMeasure]]:
    """The execution BOM by line number, each line with its component's item and unit."""
    rows = session.execute(_COMPONENTS, {"order_id": order_id}).all()
    return [(component, item, unit) for component, item, unit in rows]


def product_lot(
    session: Session, ctx: CommandContext, scope: OrderScope, lot_code: str | None
) -> Lot | None:
    """The lot of the order's item with this code, created on the floor when new."""
    if lot_code is None:
        return None
    return materials.register_lot(
        session,
        ctx,
        item_code=scope.item.code,
        lot_code=lot_code,
        origin="floor",
        order_id=scope.order.id,
        keys=scope.keys(session),
    )


def product_serial(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    serial: str | None,
    lot: Lot | None,
) -> SerialNumber | None:
    """The serial number of the order's item, registered on the floor when new."""
    if serial is None:
        return None
    return materials.register_serial(
        session,
        ctx,
        item_code=scope.item.code,
        serial=serial,
        lot_id=lot.id if lot else None,
        order_id=scope.order.id,
    )


def order_move(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    kind: str,
    *,
    item_id: int,
    quantity: Decimal,
    uom_id: int,
    operation: OperationRef | None,
    lot: materials.LotState | None,
    **details: Any,
) -> MaterialMove:
    """Append a move of this order to the ledger, with its versions and ERP flag."""
    return materials.record_move(
        session,
        ctx,
        kind=kind,
        item_id=item_id,
        quantity=quantity,
        uom_id=uom_id,
        order_id=scope.order.id,
        operation_id=operation.id if operation else None,
        lot=lot,
        bom_version=scope.bom_version,
        routing_version=scope.routing_version,
        discrepancy=scope.discrepancy,
        **details,
    )


def check_unit(given: str | None, expected: str, what: str) -> None:
    """Quantities are reported in the unit of the order or BOM line (no conversion yet)."""
    if given is not None and given != expected:
        raise RuleViolation(f"{what} is counted in {expected}, not {given}")
