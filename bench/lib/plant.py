"""The plant the API benchmark runs on, seeded in-process through shopfloor's services:
units, a work-center hierarchy, a product with a one-component BOM and a one-operation
routing, a lot of the (lot-tracked) component, an operator certified for the operation's
skill, and one order per client, released to the floor with its operation started.

Quantities are large (1,000,000 per order, 2 components per unit) so no report ever
reaches a rule's limit during a run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from shopfloor.bootstrap import Runtime
from shopfloor.execution import service as execution
from shopfloor.identity import service as identity
from shopfloor.kernel.context import SYSTEM, CommandContext
from shopfloor.masterdata import service as md
from shopfloor.masterdata import service_personnel as personnel
from shopfloor.masterdata import service_versions as versions
from shopfloor.masterdata.domain import BomLineSpec, OperationSpec
from shopfloor.materials import service as materials
from shopfloor.orders import service as orders

PRODUCT, COMPONENT, LOT = "BENCH-FG", "BENCH-RM", "RM-LOT-0001"
UNIT, SKILL, WORK_CENTER = "pcs", "ASSEMBLY", "BENCH-WC10"
ORDER_QUANTITY = Decimal(1_000_000)
COMPONENT_PER_UNIT = Decimal(2)
OPERATOR = "bench.operator"
HIERARCHY = (
    ("BENCH", "Benchmark Corp", "enterprise", None),
    ("BENCH-P1", "Plant 1", "site", "BENCH"),
    ("BENCH-A1", "Assembly", "area", "BENCH-P1"),
    ("BENCH-L1", "Line 1", "line", "BENCH-A1"),
    (WORK_CENTER, "Station 10", "work_center", "BENCH-L1"),
)


@dataclass(frozen=True)
class BenchOrder:
    order_id: int
    operation_id: int


@dataclass(frozen=True)
class Plant:
    orders: list[BenchOrder]
    operator: str
    password: str
    component: str = COMPONENT
    lot: str = LOT
    consume_per_unit: Decimal = COMPONENT_PER_UNIT


def _master_data(runtime: Runtime, ctx: CommandContext, password: str) -> int:
    """Master data, the component lot and the certified operator; returns the operator id."""
    with runtime.unit_of_work() as uow:
        s = uow.session
        md.upsert_uom(s, ctx, code=UNIT, name="pieces", dimension="count")
        for code, name, level, parent in HIERARCHY:
            md.upsert_equipment(s, ctx, code=code, name=name, level=level, parent_code=parent)
        md.upsert_item(s, ctx, code=PRODUCT, name="Benchmark product", uom_code=UNIT)
        md.upsert_item(s, ctx, code=COMPONENT, name="Benchmark component", uom_code=UNIT,
                       lot_tracked=True)  # fmt: skip
        personnel.upsert_skill(s, ctx, code=SKILL, name="Assembly")
        since = ctx.now.date() - timedelta(days=30)
        versions.upsert_bom_version(
            s, ctx, item_code=PRODUCT, version="1", quantity=Decimal(1), effective_from=since,
            lines=[BomLineSpec(line_no=10, item_code=COMPONENT, quantity=COMPONENT_PER_UNIT,
                               uom_code=UNIT)],
        )  # fmt: skip
        versions.upsert_routing_version(
            s, ctx, item_code=PRODUCT, version="1", effective_from=since,
            operations=[OperationSpec(operation_no=10, name="Assemble",
                                      work_center_code=WORK_CENTER, required_skill_code=SKILL)],
        )  # fmt: skip
        materials.register_lot(s, ctx, item_code=COMPONENT, lot_code=LOT, origin="erp_receipt")
        operator = identity.add_user(s, ctx, username=OPERATOR, full_name="Bench Operator",
                                     password=password, roles=["operator"])  # fmt: skip
        personnel.grant_certification(s, ctx, skill_code=SKILL, valid_from=since,
                                      username=OPERATOR)  # fmt: skip
        uow.commit()
        return operator.id


def _order(runtime: Runtime, ctx: CommandContext, number: int, operator_id: int) -> BenchOrder:
    with runtime.unit_of_work() as uow:
        s = uow.session
        order = orders.upsert_order(
            s, ctx, erp_order_id=f"BENCH-{number:04d}", erp_version=1, item_code=PRODUCT,
            quantity=ORDER_QUANTITY, uom_code=UNIT, due_date=ctx.now.date() + timedelta(days=7),
            priority=5, erp_status="released",
        )  # fmt: skip
        orders.release_to_floor(s, ctx, order.id)
        operation = orders.operations_of(s, order.id)[0]
        execution.start_operation(s, ctx, operation.id, operator_id=operator_id)
        uow.commit()
        return BenchOrder(order.id, operation.id)


def seed(runtime: Runtime, count: int) -> Plant:
    """Seed the plant with `count` running orders; returns what the clients need."""
    ctx = runtime.context(SYSTEM)
    password = secrets.token_urlsafe(24)
    operator_id = _master_data(runtime, ctx, password)
    return Plant(
        orders=[_order(runtime, ctx, n, operator_id) for n in range(1, count + 1)],
        operator=OPERATOR,
        password=password,
    )
