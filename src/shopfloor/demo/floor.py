"""Ten demo production orders and what happened to them on the floor, through the services.

Every order is received as ERP would send it, then planners, operators and supervisors act
on it in their own names: release, start, report, consume, stop, pause, complete, abort.
Times are placed relative to the moment of seeding (yesterday's finished orders, today's
running ones), and each command runs as if at its moment, so the records tell one story.
An order already past `queued` was seeded before and is left alone, so seeding twice
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from shopfloor.execution import service as execution
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.orders import service as orders
from shopfloor.orders.tables import ProductionOrder

H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class OrderSpec:
    """What ERP sends: the order, its due date in days from today, and its ERP status."""

    erp_order_id: str
    item: str
    quantity: int
    due_in_days: int
    priority: int
    erp_status: str
    expected: str  # the execution status the scenario leaves it in


class Floor:
    """The floor of one seeding: acts on orders as the named person, at a named time."""

    def __init__(self, session: Session, ctx: CommandContext, people: Mapping[str, Actor]):
        self.session, self.people = session, people
        self.now = ctx.now.replace(second=0, microsecond=0)
        self.site = ctx.site

    def as_(self, username: str, at: datetime | None = None) -> CommandContext:
        """The command context of a person acting at a moment (now, when not said)."""
        return CommandContext(actor=self.people[username], now=at or self.now, site=self.site)

    def receive(self, spec: OrderSpec) -> ProductionOrder:
        return orders.upsert_order(
            self.session,
            self.as_("erp", self.now - 2 * DAY),
            erp_order_id=spec.erp_order_id,
            erp_version=1,
            item_code=spec.item,
            quantity=Decimal(spec.quantity),
            uom_code="pcs",
            due_date=(self.now + spec.due_in_days * DAY).date(),
            priority=spec.priority,
            erp_status=spec.erp_status,
        )

    def release(self, order: ProductionOrder, at: datetime, reason: str | None = None) -> None:
        orders.release_to_floor(self.session, self.as_("planner", at), order.id, reason)

    def op(self, order: ProductionOrder, number: int) -> int:
        return next(
            o.id for o in orders.operations_of(self.session, order.id) if o.operation_no == number
        )

    def start(self, order: ProductionOrder, number: int, who: str, at: datetime) -> None:
        execution.start_operation(
            self.session,
            self.as_(who, at),
            self.op(order, number),
            operator_id=self.people[who].user_id,
            at=at,
        )

    def complete(self, order: ProductionOrder, number: int, who: str, at: datetime) -> None:
        execution.complete_operation(self.session, self.as_(who, at), self.op(order, number), at=at)

    def report(
        self,
        order: ProductionOrder,
        number: int,
        who: str,
        at: datetime,
        kind: str,
        quantity: int,
        **extra: Any,
    ) -> None:
        execution.report_production(
            self.session,
            self.as_(who, at),
            self.op(order, number),
            kind=kind,
            quantity=quantity,
            occurred_at=at,
            **extra,
        )

    def consume(
        self,
        order: ProductionOrder,
        who: str,
        at: datetime,
        item: str,
        quantity: int | str,
        **extra: Any,
    ) -> None:
        execution.consume_material(
            self.session,
            self.as_(who, at),
            order.id,
            item_code=item,
            quantity=quantity,
            occurred_at=at,
            **extra,
        )

    def stop(
        self,
        order: ProductionOrder,
        number: int,
        who: str,
        center: str,
        reason: str,
        begin: datetime,
        minutes: int,
        note: str,
    ) -> None:
        execution.record_downtime(
            self.session,
            self.as_(who, begin + minutes * M),
            work_center_code=center,
            reason_code=reason,
            started_at=begin,
            ended_at=begin + minutes * M,
            operation_id=self.op(order, number),
            note=note,
        )

    def labor(
        self, order: ProductionOrder, number: int, who: str, begin: datetime, end: datetime
    ) -> None:
        execution.record_labor(
            self.session,
            self.as_(who, end),
            self.op(order, number),
            worker_id=self.people[who].user_id,
            started_at=begin,
            ended_at=end,
        )


# --- the scenarios ----------------------------------------------------------------------


def _acceptance_order(floor: Floor, order: ProductionOrder) -> None:
    """Yesterday's WS-100 order of the acceptance scenario: 20 started, a 40-minute wait for
    cables, 2 units failing the test with a defective board and scrapped, 2 extra cables for
    the repair attempt (42 against a norm of 40), 18 good units packed into one lot."""
    t = floor.now - DAY - 9 * H
    lot = {"into_lot": f"WS100-{order.erp_order_id}"}
    floor.release(order, t - 30 * M)
    floor.start(order, 10, "anna", t)
    floor.consume(order, "anna", t + 5 * M, "HSG-100", 20)
    floor.consume(order, "anna", t + 5 * M, "PCB-100", 20, lot_code="PCB-L2402", **lot)
    floor.consume(order, "anna", t + 5 * M, "FST-M3", 160)
    floor.consume(order, "anna", t + 10 * M, "CBL-100", 20, lot_code="CBL-L7001", **lot)
    floor.stop(
        order, 10, "anna", "L1-ASSY", "WAIT-MAT", t + 30 * M, 40, "cable CBL-100 not at the line"
    )
    floor.consume(order, "anna", t + 75 * M, "CBL-100", 20, lot_code="CBL-L7001", **lot)
    floor.report(order, 10, "anna", t + 3 * H, "good", 20)
    floor.labor(order, 10, "anna", t, t + 3 * H)
    floor.complete(order, 10, "anna", t + 3 * H)
    floor.start(order, 20, "dana", t + 3 * H + 10 * M)
    floor.report(order, 20, "dana", t + 5 * H, "good", 18)
    floor.report(
        order,
        20,
        "dana",
        t + 5 * H,
        "scrap",
        2,
        quality_code="DEF-BOARD",
        reason="final check failed; repair attempt did not help",
    )
    floor.consume(
        order,
        "dana",
        t + 5 * H,
        "CBL-100",
        2,
        lot_code="CBL-L7002",
        operation_no=20,
        overuse_reason="repair",
    )
    floor.complete(order, 20, "dana", t + 5 * H + 5 * M)
    floor.start(order, 30, "anna", t + 5 * H + 15 * M)
    floor.consume(order, "anna", t + 5 * H + 20 * M, "PKG-100", 18)
    floor.report(order, 30, "anna", t + 6 * H, "good", 18, lot_code=lot["into_lot"])
    floor.complete(order, 30, "anna", t + 6 * H)
    execution.complete_order(floor.session, floor.as_("supervisor", t + 6 * H + 10 * M), order.id)


def _brackets_done(floor: Floor, order: ProductionOrder) -> None:
    """Yesterday's brackets on line 2: a tool change, setup scrap, one out of tolerance."""
    t = floor.now - DAY - 7 * H
    floor.release(order, t - 30 * M)
    floor.start(order, 10, "chen", t)
    floor.stop(order, 10, "chen", "L2-CNC", "CHANGEOVER-TOOL", t, 20, "new end mill")
    floor.consume(order, "chen", t + 25 * M, "ALU-BAR", "35.7", lot_code="ALU-H1187")
    floor.report(order, 10, "chen", t + 3 * H, "good", 98)
    floor.report(order, 10, "chen", t + 3 * H, "scrap", 2, quality_code="SCR-SETUP")
    floor.complete(order, 10, "chen", t + 3 * H)
    floor.start(order, 20, "chen", t + 3 * H + 5 * M)
    floor.report(order, 20, "chen", t + 4 * H, "good", 98)
    floor.complete(order, 20, "chen", t + 4 * H)
    floor.start(order, 30, "dana", t + 4 * H + 5 * M)
    floor.report(order, 30, "dana", t + 5 * H, "good", 97)
    floor.report(order, 30, "dana", t + 5 * H, "scrap", 1, quality_code="SCR-DIMENSION")
    floor.complete(order, 30, "dana", t + 5 * H)
    execution.complete_order(floor.session, floor.as_("supervisor", t + 5 * H + 10 * M), order.id)


def _running_now(floor: Floor, order: ProductionOrder) -> None:
    """Today's WS-100 order, under way: 12 assembled after a wait for cables, 8 tested."""
    t = floor.now - 3 * H
    floor.release(order, t - 30 * M)
    floor.start(order, 10, "anna", t)
    floor.consume(order, "anna", t + 5 * M, "HSG-100", 12)
    floor.consume(order, "anna", t + 5 * M, "PCB-100", 12, lot_code="PCB-L2401")
    floor.consume(order, "anna", t + 5 * M, "FST-M3", 96)
    floor.stop(
        order, 10, "anna", "L1-ASSY", "WAIT-MAT", t + 30 * M, 40, "cable CBL-100 not at the line"
    )
    floor.consume(order, "anna", t + 75 * M, "CBL-100", 24, lot_code="CBL-L7002")
    floor.report(order, 10, "anna", t + 150 * M, "good", 12)
    floor.labor(order, 10, "anna", t, t + 150 * M)
    floor.start(order, 20, "dana", t + 160 * M)
    floor.report(order, 20, "dana", t + 175 * M, "good", 8)


def _paused(floor: Floor, order: ProductionOrder) -> None:
    """WS-200 Pro: ten assembled this morning, then paused for the rush order."""
    t = floor.now - 6 * H
    floor.release(order, t - 30 * M)
    floor.start(order, 10, "ben", t)
    floor.consume(order, "ben", t + 5 * M, "HSG-100", 10)
    floor.consume(order, "ben", t + 5 * M, "PCB-200", 10, lot_code="PCB2-L0501")
    floor.consume(order, "ben", t + 5 * M, "CBL-100", 30, lot_code="CBL-L7002")
    floor.consume(order, "ben", t + 5 * M, "SEN-200", 10)
    floor.consume(order, "ben", t + 5 * M, "FST-M3", 100)
    floor.report(order, 10, "ben", t + 2 * H, "good", 10)
    execution.pause_operation(
        floor.session,
        floor.as_("ben", t + 2 * H),
        floor.op(order, 10),
        reason="crew moved to the rush order",
        at=t + 2 * H,
    )


def _released_before_erp(floor: Floor, order: ProductionOrder) -> None:
    """A rush order ERP has not released yet: released anyway with a reason, so every fact
    on it is kept and flagged for the exceptions inbox."""
    t = floor.now - 90 * M
    floor.release(order, t - 10 * M, "customer rush order; ERP release pending with purchasing")
    floor.start(order, 10, "ben", t)
    floor.consume(order, "ben", t + 5 * M, "HSG-100", 3)
    floor.report(order, 10, "ben", t + 60 * M, "good", 3)


def _aborted(floor: Floor, order: ProductionOrder) -> None:
    """Shafts started, three lost to setup, then cancelled by the customer."""
    t = floor.now - 5 * H
    floor.release(order, t - 30 * M)
    floor.start(order, 10, "dana", t)
    floor.report(order, 10, "dana", t + 40 * M, "scrap", 3, quality_code="SCR-SETUP")
    orders.abort_order(
        floor.session,
        floor.as_("supervisor", t + 2 * H),
        order.id,
        "customer cancelled the order; ERP to close it",
    )


def _dispatched(floor: Floor, order: ProductionOrder) -> None:
    """Released to the floor this morning, waiting at its work centers."""
    floor.release(order, floor.now - 2 * H)


def _queued(floor: Floor, order: ProductionOrder) -> None:
    """Received from ERP, not yet released to the floor."""


Scenario = Callable[[Floor, ProductionOrder], None]

ORDERS: tuple[tuple[OrderSpec, Scenario], ...] = (
    (OrderSpec("PO-23990", "WS-100", 20, -1, 2, "released", "completed"), _acceptance_order),
    (OrderSpec("PO-23991", "BRK-10", 100, -1, 3, "released", "completed"), _brackets_done),
    (OrderSpec("PO-24001", "WS-100", 20, 1, 2, "released", "running"), _running_now),
    (OrderSpec("PO-24002", "WS-100", 50, 7, 5, "released", "queued"), _queued),
    (OrderSpec("PO-24003", "WS-200", 30, 10, 6, "created", "queued"), _queued),
    (OrderSpec("PO-24004", "BRK-10", 200, 3, 3, "released", "dispatched"), _dispatched),
    (OrderSpec("PO-24005", "SHF-20", 120, 4, 4, "released", "dispatched"), _dispatched),
    (OrderSpec("PO-24006", "WS-200", 25, 5, 4, "released", "paused"), _paused),
    (OrderSpec("PO-24007", "WS-100", 10, 0, 1, "created", "running"), _released_before_erp),
    (OrderSpec("PO-24008", "SHF-20", 80, 6, 5, "released", "aborted"), _aborted),
)


def seed_orders(
    session: Session, ctx: CommandContext, people: Mapping[str, Actor]
) -> dict[str, str]:
    """Receive the ten orders and play each one's scenario once; returns ERP order id →
    execution status."""
    floor = Floor(session, ctx, people)
    statuses = {}
    for spec, scenario in ORDERS:
        order = floor.receive(spec)
        if order.execution_status == "queued":
            scenario(floor, order)
        statuses[spec.erp_order_id] = order.execution_status
    return statuses
