"""Hypothesis drives orders through random commands via the service layer.

Whatever the sequence, no illegal status change is ever accepted, a refused command leaves
nothing behind, and the quantities always add up: good + scrap at an operation never exceed
what reached it, and the ledger's produce and scrap moves equal the reports.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from shopfloor.audit.tables import AuditEntry
from shopfloor.execution import service as execution
from shopfloor.execution.tables import OperationEvent, ProductionReport
from shopfloor.kernel.errors import ShopfloorError
from shopfloor.materials.tables import MaterialMove
from shopfloor.orders.domain import OPERATION_FLOW, ORDER_FLOW
from shopfloor.orders.tables import Operation, ProductionOrder
from shopfloor.platform.outbox import OutboxEvent
from tests.support.databases import DatabaseFactory, engine_for
from tests.support.plant import build_plant, make_order, receive_lot
from tests.support.totals import material_totals, output_totals

ORDER_QTY = Decimal(5)
COMMANDS = {
    "start": execution.start_operation,
    "resume": execution.resume_operation,
    "complete": execution.complete_operation,
}


class OrderMachine(RuleBasedStateMachine):
    factory: DatabaseFactory

    def __init__(self) -> None:
        super().__init__()
        self.url = self.factory.new_url()
        self.engine = engine_for(self.url)
        self.session = self._new_session()
        self.plant = build_plant(self.session)
        receive_lot(self.session, self.plant, "BOARD", "B-1")
        self.order = make_order(self.session, self.plant, quantity=ORDER_QTY)
        self.session.commit()
        self.op_ids = [
            op.id
            for op in self.session.scalars(
                select(Operation)
                .where(Operation.order_id == self.order.id)
                .order_by(Operation.operation_no)
            )
        ]
        self.ctx = self.plant.ctx("olga")

    def _new_session(self):
        from shopfloor.platform.db import session_factory

        return session_factory(self.engine)()

    def teardown(self) -> None:
        self.session.close()
        self.engine.dispose()
        self.factory.drop(self.url)

    # -- running commands -------------------------------------------------------------
    def _footprint(self) -> tuple[int, ...]:
        return tuple(
            self.session.scalar(select(func.count()).select_from(t))
            for t in (AuditEntry, OutboxEvent, OperationEvent, ProductionReport, MaterialMove)
        )

    def _statuses(self) -> tuple[str, list[str]]:
        self.session.expire_all()
        order = self.session.get(ProductionOrder, self.order.id)
        ops = [self.session.get(Operation, i).status for i in self.op_ids]
        return order.execution_status, ops

    def _attempt(self, command, *args, **kwargs) -> bool:
        before = self._footprint()
        try:
            command(self.session, self.ctx, *args, **kwargs)
            self.session.commit()
            return True
        except ShopfloorError:
            self.session.rollback()
            assert self._footprint() == before, "a refused command left rows behind"
            return False

    @rule(
        action=st.sampled_from(
            ["start"] * 4
            + ["report"] * 6
            + ["pause", "resume", "complete", "complete", "reverse", "complete_order"]
        ),
        index=st.integers(0, 2),
        kind=st.sampled_from(["good", "good", "scrap"]),
        quantity=st.integers(1, 4),
    )
    def act(self, action: str, index: int, kind: str, quantity: int) -> None:
        """One floor command; the frequent ones (start, report) are drawn more often."""
        if action == "report":
            self.report(index, kind, quantity)
        elif action == "reverse":
            self.reverse_latest_report()
        elif action == "complete_order":
            self.complete_order()
        else:
            self.move(index, action)

    def move(self, index: int, command: str) -> None:
        _, ops_before = self._statuses()
        if command == "pause":
            accepted = self._attempt(execution.pause_operation, self.op_ids[index], reason="break")
        else:
            accepted = self._attempt(COMMANDS[command], self.op_ids[index])
        _, ops_after = self._statuses()
        if accepted:
            assert ops_after[index] == OPERATION_FLOW.target(command, ops_before[index])
        else:
            assert ops_after == ops_before

    def report(self, index: int, kind: str, quantity: int) -> None:
        code = "defective-board" if kind == "scrap" else None
        lot = "WS-LOT-1" if kind == "good" else None
        self._attempt(
            execution.report_production,
            self.op_ids[index],
            kind=kind,
            quantity=quantity,
            quality_code=code,
            lot_code=lot,
        )

    def reverse_latest_report(self) -> None:
        latest = self.session.scalar(
            select(ProductionReport.id)
            .where(ProductionReport.reverses_id.is_(None))
            .order_by(ProductionReport.id.desc())
            .limit(1)
        )
        if latest is not None:
            self._attempt(execution.reverse_fact, "production", latest, "counted twice")

    def complete_order(self) -> None:
        status_before, _ = self._statuses()
        if self._attempt(execution.complete_order, self.order.id):
            status_after, ops = self._statuses()
            assert status_after == ORDER_FLOW.target("complete", status_before)
            assert all(s in ("completed", "aborted") for s in ops)

    # -- what must always hold --------------------------------------------------------
    @invariant()
    def transitions_in_the_log_are_legal(self) -> None:
        for event in self.session.scalars(select(OperationEvent)):
            assert OPERATION_FLOW.target(event.command, event.from_status) == event.to_status

    @invariant()
    def routing_order_holds(self) -> None:
        _, ops = self._statuses()
        for earlier, later in pairwise(ops):
            if later in ("running", "paused", "completed"):
                assert earlier in ("running", "paused", "completed")
            if later == "completed":
                assert earlier == "completed"

    @invariant()
    def order_status_follows_its_operations(self) -> None:
        order_status, ops = self._statuses()
        if "running" in ops:
            assert order_status == "running"
        if order_status == "running":
            assert "running" in ops

    @invariant()
    def quantities_add_up(self) -> None:
        available = ORDER_QTY
        totals = {"good": Decimal(0), "scrap": Decimal(0)}
        for op_id in self.op_ids:
            sums = dict.fromkeys(("good", "scrap", "rework"), Decimal(0))
            for kind, quantity in self.session.execute(
                select(ProductionReport.kind, ProductionReport.quantity).where(
                    ProductionReport.operation_id == op_id
                )
            ):
                sums[kind] += quantity
            assert sums["good"] >= 0 and sums["scrap"] >= 0
            assert sums["good"] + sums["scrap"] <= available
            available = sums["good"]
            totals["scrap"] += sums["scrap"]
        totals["good"] = available
        moves = dict.fromkeys(("produce", "scrap"), Decimal(0))
        for kind, quantity in self.session.execute(
            select(MaterialMove.kind, MaterialMove.quantity).where(
                MaterialMove.kind.in_(["produce", "scrap"])
            )
        ):
            moves[kind] += quantity
        assert moves["produce"] == totals["good"]
        assert moves["scrap"] == totals["scrap"]

    @invariant()
    def running_totals_match_the_facts(self) -> None:
        facts, kept = output_totals(self.session)
        assert kept == facts
        facts, kept = material_totals(self.session)
        assert kept == facts


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_orders_never_take_an_illegal_path(kind, database_factories):
    OrderMachine.factory = database_factories[kind]
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=25 if kind == "sqlite" else 12,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
