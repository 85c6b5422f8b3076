"""Material consumption and returns against an order's execution BOM.

A component is consumed against the norm of its BOM line for the whole order; above norm
plus tolerance an overuse reason is needed. An approved alternative may replace a BOM
component (its quantity counts as quantity / ratio of the original). A lot-tracked
component is consumed from a named lot that may be consumed (released, not expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from shopfloor.execution.scope import (
    OrderScope,
    check_unit,
    operation_by_no,
    order_move,
    order_scope,
    product_lot,
    product_serial,
)
from shopfloor.kernel.boundary import SETTING
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation
from shopfloor.kernel.quantities import qty
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import BomAlternative, Item, UnitOfMeasure
from shopfloor.materials import domain as rules
from shopfloor.materials import queries as material_queries
from shopfloor.materials import service as materials
from shopfloor.materials.tables import MaterialMove
from shopfloor.orders.tables import Operation, OrderComponent
from shopfloor.platform import direct
from shopfloor.platform.db import note_codes


class Material(Protocol):
    """What consumption needs of the item consumed: an item, or `_Stock` read with its line."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def lot_tracked(self) -> bool: ...
    @property
    def uom_id(self) -> int: ...


@dataclass(frozen=True)
class _Stock:
    """A BOM component or an approved alternative item, as read with the BOM line."""

    id: int
    code: str
    lot_tracked: bool
    uom_id: int


@dataclass(frozen=True)
class _Component:
    """An execution BOM line of the order, as the norm check needs it."""

    item_id: int
    operation_no: int | None
    norm_quantity: Decimal
    tolerance_pct: Decimal
    uom_id: int


@dataclass(frozen=True)
class _Line:
    """The BOM line a consumption counts against, and the alternatives approved for it."""

    component: _Component
    code: str
    alternatives: dict[str, tuple[int, Decimal]]  # item code → (item id, ratio)
    unit: str  # the code of the line's unit

    def ratio_of(self, item: Material) -> Decimal:
        """How many units of `item` stand for one unit of the BOM component."""
        return Decimal(1) if item.id == self.component.item_id else self.alternatives[item.code][1]


def consume_material(
    session: Session,
    ctx: CommandContext,
    order_id: int,
    *,
    item_code: str,
    quantity: Decimal | int | str,
    lot_code: str | None = None,
    uom_code: str | None = None,
    operation_no: int | None = None,
    overuse_reason: str | None = None,
    substitute_for: str | None = None,
    into_serial: str | None = None,
    into_lot: str | None = None,
    occurred_at: datetime | None = None,
) -> MaterialMove:
    """Consume a component of the order's execution BOM (or an approved alternative of one).

    The cumulative net consumption of the BOM line above norm x (1 + tolerance%) needs an
    overuse reason. `into_lot` / `into_serial` name the product lot/serial the material went
    into (created on the floor when new): that is what genealogy follows.
    """
    scope = order_scope(session, order_id)
    amount = qty(quantity)
    line, item = _bom_line(session, scope, item_code, substitute_for, operation_no)
    unit_code = line.unit if item.id == line.component.item_id else _unit_code(session, item)
    check_unit(uom_code, unit_code, item_code)
    lot = _component_lot(session, ctx, item, lot_code)
    operation = _operation(session, scope, line, operation_no)
    norm = rules.check_norm(
        line.code,
        _consumed_on_line(session, scope, line),
        rules.as_original_quantity(amount, line.ratio_of(item)),
        line.component.norm_quantity,
        line.component.tolerance_pct,
        overuse_reason,
    )
    product = product_lot(session, ctx, scope, into_lot)
    unit = product_serial(session, ctx, scope, into_serial, product)
    move = order_move(
        session,
        ctx,
        scope,
        "consume",
        item_id=item.id,
        quantity=amount,
        uom_id=_unit_of(line, item),
        operation=operation,
        lot=lot,
        overuse_reason=(overuse_reason or "").strip() or None,
        substitute_for_item_id=line.component.item_id if substitute_for else None,
        into_lot_id=product.id if product else None,
        into_serial_id=unit.id if unit else None,
        occurred_at=occurred_at,
    )
    details = {
        "norm": norm.norm,
        "actual": norm.actual,
        "tolerance_pct": norm.tolerance_pct,
        "over_norm": norm.excess,
        "overuse_reason": move.overuse_reason,
        "substitute_for": substitute_for,
        "substitution_ratio": line.ratio_of(item) if substitute_for else None,
        "into_lot": product.code if product else None,
        "into_serial": unit.serial if unit else None,
    }
    _announce(session, ctx, scope, "material.consumed", move, item, unit_code, lot, operation,
              details)  # fmt: skip
    return move


def _unit_code(session: Session, item: Material) -> str:
    return md.uom_by_id(session, item.uom_id).code


def _announce(
    session: Session,
    ctx: CommandContext,
    scope: OrderScope,
    event_type: str,
    move: MaterialMove,
    item: Material,
    unit: str,
    lot: materials.LotState | None,
    operation: Operation | None,
    details: dict[str, Any],
) -> None:
    """`material.consumed` / `material.returned` with the material's item and lot as glue."""
    scope.emit(
        session,
        ctx,
        event_type,
        {
            "move_id": move.id,
            "quantity": move.quantity,
            "unit": unit,
            "lot": lot.code if lot else None,
            **details,
        },
        operation=operation,
        occurred_at=move.occurred_at,
        item=item.code,
        lot=lot.code if lot else None,
    )


_C, _ITEM, _ALT, _ALT_ITEM = OrderComponent, aliased(Item), BomAlternative, aliased(Item)
_COMPONENT = (_C.item_id, _C.operation_no, _C.norm_quantity, _C.tolerance_pct, _C.uom_id)
_ITEM_COLUMNS = (_ITEM.id, _ITEM.code, _ITEM.lot_tracked, _ITEM.uom_id)
_ALTERNATIVE = (_ALT_ITEM.id, _ALT_ITEM.code, _ALT_ITEM.lot_tracked, _ALT_ITEM.uom_id, _ALT.ratio)
# The order's BOM lines of one component, each with every alternative approved for it (one
# row per alternative, or one with none): one statement for what the norm check needs.
_BOM_LINES = (
    select(_C.line_no, *_COMPONENT, *_ITEM_COLUMNS, UnitOfMeasure.code, *_ALTERNATIVE)
    .join(_ITEM, _ITEM.id == _C.item_id)
    .join(UnitOfMeasure, UnitOfMeasure.id == _C.uom_id)
    .outerjoin(_ALT, _ALT.bom_line_id == _C.bom_line_id)
    .outerjoin(_ALT_ITEM, _ALT_ITEM.id == _ALT.item_id)
    .where(_C.order_id == bindparam("order_id"), _ITEM.code == bindparam("code"))
    .order_by(_C.line_no, _ALT_ITEM.code)
)


def _bom_line(
    session: Session,
    scope: OrderScope,
    item_code: str,
    substitute_for: str | None,
    operation_no: int | None,
) -> tuple[_Line, Material]:
    """The execution BOM line of the component (or of the component it replaces), and the
    consumed item. Anything else is not consumable on this order."""
    wanted = substitute_for or item_code
    rows = direct.rows(session, _BOM_LINES, {"order_id": scope.order.id, "code": wanted})
    lines: dict[int, tuple[_Component, Material, str, list[Any]]] = {}
    item_at, alternative_at = len(_COMPONENT), len(_COMPONENT) + len(_ITEM_COLUMNS) + 1
    for line_no, *values in rows:
        if line_no not in lines:
            component, unit = _Component(*values[:item_at]), values[alternative_at - 1]
            item = _Stock(*values[item_at : alternative_at - 1])
            lines[line_no] = (component, item, unit, [])
            note_codes(session, Item.__tablename__, {item.id: item.code})
            note_codes(session, UnitOfMeasure.__tablename__, {component.uom_id: unit})
        if values[alternative_at] is not None:  # an approved alternative
            lines[line_no][3].append(values[alternative_at:])
            note_codes(
                session, Item.__tablename__, {values[alternative_at]: values[alternative_at + 1]}
            )
    if not lines:
        hint = "" if substitute_for else "; if it replaces a component, say which one"
        raise RuleViolation(
            f"{wanted} is not in the execution BOM of order {scope.order.erp_order_id}{hint}"
        )
    chosen, component_item, unit, approved = next(
        (line for line in lines.values() if line[0].operation_no == operation_no),
        next(iter(lines.values())),
    )
    alternatives = {code: (item_id, ratio) for item_id, code, _, _, ratio in approved}
    if substitute_for:
        rules.check_substitution(wanted, item_code, {c: r for c, (_, r) in alternatives.items()})
    consumed = component_item
    if item_code != wanted:
        consumed = next(_Stock(*alt[:4]) for alt in approved if alt[1] == item_code)
    return _Line(chosen, wanted, alternatives, unit), consumed


def _unit_of(line: _Line, item: Material) -> int:
    """The unit a consumption is counted in: the BOM line's, or the alternative's own."""
    return line.component.uom_id if item.id == line.component.item_id else item.uom_id


def _component_lot(
    session: Session, ctx: CommandContext, item: Material, lot_code: str | None
) -> materials.LotState | None:
    """The lot consumed from: required for a lot-tracked component. Where lots are created
    on the floor (`SHOPFLOOR_LOT_CREATION` mes or both) an unknown lot is registered at this
    first use (released, origin floor, announced as `lot.created`); where they come from
    ERP goods receipt only, it must already be registered."""
    if lot_code is None:
        if item.lot_tracked:
            raise RuleViolation(f"{item.code} is lot-tracked: scan or name the lot consumed")
        return None
    if ctx.boundary.lots_at_first_use:
        return materials.register_lot(
            session, ctx, item_code=item.code, lot_code=lot_code, origin="floor"
        )
    try:
        return materials.lot_head(session, item.id, item.code, lot_code)
    except NotFound as exc:
        raise NotFound(
            f"{exc.detail}; {ctx.boundary.unknown_lot_hint()}", setting=SETTING["lot_creation"]
        ) from exc


def _operation(
    session: Session, scope: OrderScope, line: _Line, operation_no: int | None
) -> Operation | None:
    number = operation_no if operation_no is not None else line.component.operation_no
    return operation_by_no(session, scope.order.id, number) if number is not None else None


def _consumed_on_line(session: Session, scope: OrderScope, line: _Line) -> Decimal:
    """Net consumption counted against a BOM line so far: its component plus approved
    alternatives (each as quantity / ratio), returns and reversals included."""
    ratios = {item_id: ratio for item_id, ratio in line.alternatives.values()}
    component = line.component.item_id
    sums = materials.order_totals(
        session, scope.order.id, ("consume", "return"), [component, *ratios]
    )
    total = Decimal(0)
    for (kind, item_id, substitute_for), amount in sums.items():
        effect = rules.consumption_effect(kind, amount)
        if item_id == component and substitute_for is None:
            total += effect
        elif substitute_for == component and item_id in ratios:
            total += rules.as_original_quantity(effect, ratios[item_id])
    return total


def return_material(
    session: Session,
    ctx: CommandContext,
    order_id: int,
    *,
    item_code: str,
    quantity: Decimal | int | str,
    lot_code: str | None = None,
    uom_code: str | None = None,
    operation_no: int | None = None,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> MaterialMove:
    """Return unused material from an order, up to what the order consumed of it net
    (of that lot, when a lot is named)."""
    scope = order_scope(session, order_id)
    item = md.item_by_code(session, item_code)
    amount = qty(quantity)
    unit_code = _unit_code(session, item)
    check_unit(uom_code, unit_code, item_code)
    lot = materials.find_lot(session, item.code, lot_code) if lot_code else None
    moves = [
        m
        for m in material_queries.moves_of_order(session, scope.order.id)
        if m.item_id == item.id and (lot is None or m.lot_id == lot.id)
    ]
    net = sum((rules.consumption_effect(m.kind, m.quantity) for m in moves), Decimal(0))
    rules.check_return(item.code if lot is None else f"{item.code} lot {lot.code}", amount, net)
    operation = operation_by_no(session, order_id, operation_no) if operation_no else None
    move = order_move(
        session,
        ctx,
        scope,
        "return",
        item_id=item.id,
        quantity=amount,
        uom_id=item.uom_id,
        operation=operation,
        lot=lot,
        substitute_for_item_id=next(
            (m.substitute_for_item_id for m in moves if m.kind == "consume"), None
        ),
        reason=reason,
        occurred_at=occurred_at,
    )
    details = {"reason": reason, "net_consumed": net - amount}
    _announce(session, ctx, scope, "material.returned", move, item, unit_code, lot, operation,
              details)  # fmt: skip
    return move
