"""Execution use cases on SQLite and PostgreSQL: operations, reports, consumption, labour,
downtime, corrections, the discrepancy protocol, and the DESIGN §7 scenario."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopfloor.audit.tables import AuditEntry
from shopfloor.execution import queries as progress
from shopfloor.execution import service as execution
from shopfloor.execution.tables import Downtime, LaborRecord, OperationEvent, ProductionReport
from shopfloor.kernel.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    NotQualified,
    RuleViolation,
)
from shopfloor.materials import queries as material_queries
from shopfloor.materials import service as materials
from shopfloor.materials.tables import Lot, MaterialMove, SerialNumber
from shopfloor.orders import service as orders
from shopfloor.platform.outbox import OutboxEvent
from shopfloor.platform.uow import UnitOfWork
from tests.support.plant import NOW, build_plant, make_order, receive_lot

D = Decimal
COUNTED = (
    OperationEvent,
    ProductionReport,
    LaborRecord,
    Downtime,
    MaterialMove,
    Lot,
    SerialNumber,
    AuditEntry,
    OutboxEvent,
)


@pytest.fixture
def plant(session):
    built = build_plant(session)
    session.commit()
    return built


@pytest.fixture
def order(session, plant):
    made = make_order(session, plant)
    receive_lot(session, plant, "BOARD", "B-1")
    receive_lot(session, plant, "CABLE", "C-1")
    session.commit()
    return made


@pytest.fixture
def olga(plant):
    return plant.ctx("olga")


def ops(session, order):
    return {op.operation_no: op for op in orders.operations_of(session, order.id)}


def counts(session):
    return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in COUNTED}


def new_since(session, before):
    after = counts(session)
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def events(session, since=0):
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.position)).all()
    return rows[since:]


def refused_leaves_nothing(session, error, call, match=None):
    """The command raises `error`; after the rollback no row of any fact table was added."""
    session.commit()
    before = counts(session)
    with pytest.raises(error, match=match) as raised:
        call()
    session.rollback()
    assert counts(session) == before
    return raised.value


def start(session, ctx, order, *numbers):
    for number in numbers:
        execution.start_operation(session, ctx, ops(session, order)[number].id)


def run_through(session, ctx, order, number, good):
    """Report `good` at an operation that is running and complete it."""
    op = ops(session, order)[number]
    execution.report_production(
        session, ctx, op.id, kind="good", quantity=good, lot_code="FG-1" if number == 30 else None
    )
    execution.complete_operation(session, ctx, op.id)


# ---- starting: qualification and routing order --------------------------------------------


def test_qualified_operator_starts_and_the_order_runs(session, order, olga):
    before = counts(session)
    fact = execution.start_operation(session, olga, ops(session, order)[10].id)
    session.commit()
    assert (fact.from_status, fact.to_status, fact.command) == ("dispatched", "running", "start")
    assert ops(session, order)[10].status == "running"
    assert orders.load_order(session, order.id).execution_status == "running"
    # two changes (operation, order): one audit entry each; one fact; one event
    assert new_since(session, before) == {
        "exe_operation_event": 1,
        "audit_entry": 2,
        "platform_outbox_event": 1,
    }
    [event] = events(session)
    message = event.as_message()
    assert message["type"] == "operation.started"
    assert (
        message["erp_order_id"],
        message["operation_no"],
        message["item"],
        message["work_center"],
    ) == ("PO-4711", 10, "WS-100", "WC-ASSY")
    assert (message["bom_version"], message["routing_version"]) == ("B1", "R1")
    assert message["payload"]["operator"] == "olga"


def test_unqualified_operator_is_refused(session, plant, order):
    error = refused_leaves_nothing(
        session,
        NotQualified,
        lambda: execution.start_operation(session, plant.ctx("nina"), ops(session, order)[10].id),
    )
    assert "assembly" in error.detail


def test_expired_certificate_is_refused_naming_the_expiry(session, plant, order):
    error = refused_leaves_nothing(
        session,
        NotQualified,
        lambda: execution.start_operation(session, plant.ctx("tom"), ops(session, order)[10].id),
    )
    assert "'assembly'" in error.detail and "expired on 2026-02-28" in error.detail


def test_the_named_operator_is_checked_not_the_supervisor(session, plant, order):
    sam = plant.ctx("sam")
    fact = execution.start_operation(
        session, sam, ops(session, order)[10].id, operator_id=plant.users["olga"].id
    )
    assert fact.user_id == plant.users["olga"].id
    with pytest.raises(NotQualified):
        execution.start_operation(
            session, sam, ops(session, order)[20].id, operator_id=plant.users["tom"].id
        )


def test_certificate_is_checked_on_the_day_work_started(session, plant, order):
    tom = plant.ctx("tom")
    fact = execution.start_operation(
        session, tom, ops(session, order)[10].id, at=NOW - timedelta(days=3)
    )
    assert fact.occurred_at == NOW - timedelta(days=3)


def test_routing_order_is_enforced(session, order, olga):
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.start_operation(session, olga, ops(session, order)[20].id),
        match="before operation 10 has started",
    )
    start(session, olga, order, 10, 20)
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.complete_operation(session, olga, ops(session, order)[20].id),
        match="before operation 10 is completed",
    )


def test_start_in_the_future_is_refused(session, order, olga):
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.start_operation(
            session, olga, ops(session, order)[10].id, at=NOW + timedelta(hours=1)
        ),
        match="in the future",
    )


# ---- pause, resume, complete -------------------------------------------------------------


def test_pause_resume_complete_and_the_order_follows(session, order, olga):
    op10 = ops(session, order)[10]
    start(session, olga, order, 10)
    session.commit()
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.pause_operation(session, olga, op10.id, reason=" "),
    )
    execution.pause_operation(session, olga, op10.id, reason="waiting for cable")
    assert orders.load_order(session, order.id).execution_status == "paused"
    execution.resume_operation(session, olga, op10.id)
    assert orders.load_order(session, order.id).execution_status == "running"
    execution.complete_operation(session, olga, op10.id)
    assert op10.status == "completed"
    assert orders.load_order(session, order.id).execution_status == "paused"
    session.commit()
    assert [e.type for e in events(session)] == [
        "operation.started",
        "operation.paused",
        "operation.resumed",
        "operation.completed",
    ]
    history = progress.operation_events(session, order.id)
    assert [(h.command, h.from_status, h.to_status) for h in history] == [
        ("start", "dispatched", "running"),
        ("pause", "running", "paused"),
        ("resume", "paused", "running"),
        ("complete", "running", "completed"),
    ]
    assert history[1].reason == "waiting for cable" and history[0].user == "olga"


def test_order_keeps_running_while_another_operation_runs(session, order, olga):
    start(session, olga, order, 10, 20)
    execution.pause_operation(session, olga, ops(session, order)[10].id, reason="break")
    assert orders.load_order(session, order.id).execution_status == "running"


@pytest.mark.parametrize(
    ("command", "prepare"),
    [
        ("resume", "start"),  # resume a running operation
        ("complete", None),  # complete a dispatched operation
        ("start", "complete"),  # start a completed operation
        ("pause", None),  # pause a dispatched operation
    ],
)
def test_illegal_transitions_are_refused(session, order, olga, command, prepare):
    op10 = ops(session, order)[10]
    if prepare:
        execution.start_operation(session, olga, op10.id)
    if prepare == "complete":
        execution.complete_operation(session, olga, op10.id)
    calls = {
        "start": lambda: execution.start_operation(session, olga, op10.id),
        "pause": lambda: execution.pause_operation(session, olga, op10.id, reason="r"),
        "resume": lambda: execution.resume_operation(session, olga, op10.id),
        "complete": lambda: execution.complete_operation(session, olga, op10.id),
    }
    refused_leaves_nothing(session, InvalidTransition, calls[command])


# ---- production reports ------------------------------------------------------------------


def test_quantity_flow_rule(session, order, olga):
    start(session, olga, order, 10)
    op10, op20 = ops(session, order)[10], ops(session, order)[20]
    execution.report_production(session, olga, op10.id, kind="good", quantity=15)
    execution.report_production(
        session, olga, op10.id, kind="scrap", quantity=5, quality_code="scrap-damaged"
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.report_production(session, olga, op10.id, kind="good", quantity=1),
        match=r"exceed the 20(\.0+)? units",
    )
    start(session, olga, order, 20)
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.report_production(session, olga, op20.id, kind="good", quantity=16),
        match=r"exceed the 15(\.0+)? units",
    )
    execution.report_production(
        session, olga, op20.id, kind="rework", quantity=3, quality_code="rework-solder"
    )  # rework is not counted
    execution.report_production(session, olga, op20.id, kind="good", quantity=15)


def test_report_rules_on_codes_units_and_status(session, order, olga):
    op10 = ops(session, order)[10]
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.report_production(session, olga, op10.id, kind="good", quantity=1),
        match="only on a running or paused operation",
    )
    start(session, olga, order, 10)
    for kwargs, match in (
        ({"kind": "scrap", "quantity": 2}, "scrap needs a defect or scrap code"),
        ({"kind": "scrap", "quantity": 2, "quality_code": "rework-solder"}, "not a rework code"),
        ({"kind": "rework", "quantity": 1}, "rework needs"),
        ({"kind": "good", "quantity": 1, "quality_code": "defective-board"}, "no scrap"),
        ({"kind": "good", "quantity": 1, "uom_code": "m"}, "counted in pcs"),
        ({"kind": "good", "quantity": 0}, "positive"),
    ):
        refused_leaves_nothing(
            session,
            RuleViolation,
            lambda kw=kwargs: execution.report_production(session, olga, op10.id, **kw),
            match=match,
        )
    refused_leaves_nothing(
        session,
        NotFound,
        lambda: execution.report_production(
            session, olga, op10.id, kind="scrap", quantity=1, quality_code="no-such-code"
        ),
    )


def test_report_at_an_intermediate_operation_writes_one_fact_audit_and_event(session, order, olga):
    start(session, olga, order, 10)
    session.commit()
    before = counts(session)
    report = execution.report_production(
        session, olga, ops(session, order)[10].id, kind="good", quantity=D("12")
    )
    session.commit()
    assert new_since(session, before) == {
        "exe_production_report": 1,
        "audit_entry": 1,
        "platform_outbox_event": 1,
    }
    event = events(session)[-1]
    assert event.type == "production.reported"
    assert event.payload["kind"] == "good" and D(event.payload["quantity"]) == 12
    assert event.payload["unit"] == "pcs" and event.payload["discrepancy"] is None
    assert report.bom_version == "B1" and report.routing_version == "R1"


def test_good_at_the_last_operation_goes_to_stock_in_a_new_floor_lot(session, order, olga):
    start(session, olga, order, 10)
    run_through(session, olga, order, 10, 20)
    start(session, olga, order, 20)
    run_through(session, olga, order, 20, 20)
    start(session, olga, order, 30)
    op30 = ops(session, order)[30]
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.report_production(session, olga, op30.id, kind="good", quantity=5),
        match="lot-tracked",
    )
    before = counts(session)
    execution.report_production(session, olga, op30.id, kind="good", quantity=5, lot_code="FG-7")
    session.commit()
    assert new_since(session, before) == {
        "exe_production_report": 1,
        "mat_move": 1,
        "mat_lot": 1,
        "audit_entry": 3,
        "platform_outbox_event": 2,
    }
    lot = materials.find_lot(session, "WS-100", "FG-7")
    assert (lot.origin, lot.status, lot.order_id) == ("floor", "released", order.id)
    [produce] = material_queries.moves_of_order(session, order.id, kind="produce")
    assert (produce.quantity, produce.lot_id, produce.operation_id) == (D(5), lot.id, op30.id)
    assert [e.type for e in events(session)[-2:]] == ["lot.created", "production.reported"]
    assert events(session)[-1].glue["lot"] == "FG-7"
    # the same lot again: no second lot, no second lot.created
    execution.report_production(session, olga, op30.id, kind="good", quantity=5, lot_code="FG-7")
    assert [lot.code for lot in material_queries.lots(session, item_code="WS-100")] == ["FG-7"]


def test_scrap_anywhere_is_a_scrap_move_of_the_item(session, order, olga):
    start(session, olga, order, 10)
    execution.report_production(
        session,
        olga,
        ops(session, order)[10].id,
        kind="scrap",
        quantity=2,
        quality_code="defective-board",
        reason="cracked",
    )
    [scrap] = material_queries.moves_of_order(session, order.id, kind="scrap")
    assert (scrap.quantity, scrap.item_id) == (D(2), order.item_id)
    payload = events(session)[-1].payload
    assert payload["quality_code"] == "defective-board" and payload["reason"] == "cracked"


def test_concurrent_reports_queue_behind_the_order_lock(session, sessions, order, olga):
    """Two operators report on the same operation at once, each in its own unit of work:
    the second waits for the first to commit, then sees its output and is refused by the
    quantity rule."""
    start(session, olga, order, 10)
    op10 = ops(session, order)[10].id
    session.commit()
    outcome: list[BaseException | None] = []

    def report_second():
        with UnitOfWork(sessions) as second:
            try:
                execution.report_production(second.session, olga, op10, kind="good", quantity=10)
                second.commit()
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

    with UnitOfWork(sessions) as first:
        execution.report_production(first.session, olga, op10, kind="good", quantity=15)
        waiting = threading.Thread(target=report_second)
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and outcome == [], outcome  # queued behind the first
        first.commit()
    waiting.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], RuleViolation)
    session.expire_all()
    assert progress.order_progress(session, order.id).operations[0].good == D(15)


# ---- consumption -------------------------------------------------------------------------


def test_overuse_needs_a_reason(session, order, olga):
    execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=40, lot_code="C-1"
    )
    error = refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="CABLE", quantity=2, lot_code="C-1"
        ),
    )
    assert "42 against a norm of 40 (tolerance 0%)" in error.detail
    move = execution.consume_material(
        session,
        olga,
        order.id,
        item_code="CABLE",
        quantity=2,
        lot_code="C-1",
        overuse_reason="repair",
    )
    session.commit()
    assert move.overuse_reason == "repair"
    payload = events(session)[-1].payload
    assert events(session)[-1].type == "material.consumed"
    assert (D(payload["norm"]), D(payload["actual"]), D(payload["over_norm"])) == (40, 42, 2)
    assert payload["overuse_reason"] == "repair" and payload["lot"] == "C-1"
    assert events(session)[-1].glue["item"] == "CABLE"
    assert events(session)[-1].glue["operation_no"] == 10


def test_consumption_writes_one_move_its_audit_and_one_event(session, order, olga):
    session.commit()
    before = counts(session)
    execution.consume_material(
        session, olga, order.id, item_code="BOARD", quantity=20, lot_code="B-1", into_lot="FG-1"
    )
    session.commit()
    # the product lot FG-1 is new: created on the floor, audited and announced too
    assert new_since(session, before) == {
        "mat_move": 1,
        "mat_lot": 1,
        "audit_entry": 2,
        "platform_outbox_event": 2,
    }
    assert [e.type for e in events(session)] == ["lot.created", "material.consumed"]
    before = counts(session)
    execution.consume_material(
        session, olga, order.id, item_code="HOUSING", quantity=20, into_lot="FG-1"
    )
    assert new_since(session, before) == {
        "mat_move": 1,
        "audit_entry": 1,
        "platform_outbox_event": 1,
    }


def test_consumption_rules(session, order, olga):
    for kwargs, error, match in (
        ({"item_code": "CABLE-X", "quantity": 1}, RuleViolation, "not in the execution BOM"),
        ({"item_code": "CABLE", "quantity": 1}, RuleViolation, "lot-tracked"),
        ({"item_code": "CABLE", "quantity": 1, "lot_code": "C-404"}, NotFound, "C-404"),
        ({"item_code": "HOUSING", "quantity": 1, "uom_code": "m"}, RuleViolation, "pcs"),
        ({"item_code": "HOUSING", "quantity": -1}, RuleViolation, "positive"),
    ):
        refused_leaves_nothing(
            session,
            error,
            lambda kw=kwargs: execution.consume_material(session, olga, order.id, **kw),
            match=match,
        )


def test_substitution_only_for_an_approved_alternative(session, order, olga):
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="CABLE-X", quantity=1, substitute_for="CABLE"
        ),
        match="not an approved alternative for CABLE",
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="BOARD-B", quantity=1
        ),
        match="not in the execution BOM",
    )
    move = execution.consume_material(
        session, olga, order.id, item_code="BOARD-B", quantity=15, substitute_for="BOARD"
    )
    assert move.substitute_for_item_id is not None
    payload = events(session)[-1].payload
    assert payload["substitute_for"] == "BOARD" and D(payload["substitution_ratio"]) == 1
    # the substitute counts against the BOARD norm of 20
    execution.consume_material(
        session, olga, order.id, item_code="BOARD", quantity=5, lot_code="B-1"
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="BOARD", quantity=1, lot_code="B-1"
        ),
        match="21 against a norm of 20",
    )
    [board] = [
        c for c in progress.order_progress(session, order.id).components if c.item == "BOARD"
    ]
    assert board.net == D(5) and board.substitutes == (("BOARD-B", D(15)),)


def test_lot_on_hold_or_expired_is_refused(session, plant, order, olga):
    lot = materials.find_lot(session, "CABLE", "C-1")
    materials.set_lot_status(session, plant.ctx("sam"), lot.id, "on_hold", "supplier recall")
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="CABLE", quantity=1, lot_code="C-1"
        ),
        match="lot C-1 is on hold",
    )
    receive_lot(session, plant, "CABLE", "C-OLD", expires_on=date(2026, 3, 1))
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.consume_material(
            session, olga, order.id, item_code="CABLE", quantity=1, lot_code="C-OLD"
        ),
        match="expired on 2026-03-01",
    )


def test_return_material_up_to_the_net_consumption(session, order, olga):
    execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=10, lot_code="C-1"
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.return_material(
            session, olga, order.id, item_code="CABLE", quantity=11, lot_code="C-1"
        ),
        match="consumed only 10 net",
    )
    execution.return_material(
        session, olga, order.id, item_code="CABLE", quantity=4, lot_code="C-1", reason="left over"
    )
    session.commit()
    event = events(session)[-1]
    assert event.type == "material.returned" and D(event.payload["net_consumed"]) == 6
    [cable] = [
        c for c in progress.order_progress(session, order.id).components if c.item == "CABLE"
    ]
    assert (cable.consumed, cable.returned, cable.net) == (D(10), D(4), D(6))


# ---- labour and downtime ----------------------------------------------------------------


def test_labor_is_recorded_once_per_period(session, plant, order, olga):
    op10 = ops(session, order)[10]
    worker = plant.users["olga"].id
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.record_labor(
            session,
            olga,
            op10.id,
            worker_id=worker,
            started_at=NOW - timedelta(hours=1),
            ended_at=NOW,
        ),
        match="once it has started",
    )
    start(session, olga, order, 10)
    row = execution.record_labor(
        session, olga, op10.id, worker_id=worker, started_at=NOW - timedelta(hours=1), ended_at=NOW
    )
    assert row.minutes == D(60)
    assert events(session)[-1].type == "labor.reported"
    refused_leaves_nothing(
        session,
        Conflict,
        lambda: execution.record_labor(
            session,
            olga,
            op10.id,
            worker_id=worker,
            started_at=NOW - timedelta(minutes=30),
            ended_at=NOW,
        ),
        match="already recorded",
    )
    assert progress.order_progress(session, order.id).labor_minutes == D(60)


def test_downtime_takes_planned_from_the_reason_and_refuses_overlaps(session, order, olga):
    op10 = ops(session, order)[10]
    stop = execution.record_downtime(
        session,
        olga,
        work_center_code="WC-ASSY",
        reason_code="waiting-for-material",
        started_at=NOW - timedelta(minutes=40),
        ended_at=NOW,
        operation_id=op10.id,
        note="cable late",
    )
    assert (stop.planned, stop.minutes, stop.order_id) == (False, D(40), order.id)
    event = events(session)[-1]
    assert (event.type, event.glue["work_center"], event.glue["operation_no"]) == (
        "downtime.recorded",
        "WC-ASSY",
        10,
    )
    refused_leaves_nothing(
        session,
        Conflict,
        lambda: execution.record_downtime(
            session,
            olga,
            work_center_code="WC-ASSY",
            reason_code="planned-maintenance",
            started_at=NOW - timedelta(minutes=50),
            ended_at=NOW - timedelta(minutes=30),
        ),
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.record_downtime(
            session,
            olga,
            work_center_code="WC-TEST",
            reason_code="planned-maintenance",
            started_at=NOW - timedelta(minutes=50),
            ended_at=NOW,
            operation_id=op10.id,
        ),
        match="runs on WC-ASSY",
    )
    planned = execution.record_downtime(
        session,
        olga,
        work_center_code="WC-PACK",
        reason_code="planned-maintenance",
        started_at=NOW - timedelta(minutes=50),
        ended_at=NOW,
    )
    assert planned.planned and planned.order_id is None
    assert events(session)[-1].glue == {"work_center": "WC-PACK"}


# ---- corrections ------------------------------------------------------------------------


def test_reversal_negates_once_and_needs_a_reason(session, order, olga):
    start(session, olga, order, 10)
    report = execution.report_production(
        session, olga, ops(session, order)[10].id, kind="good", quantity=5
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.reverse_fact(session, olga, "production", report.id, ""),
    )
    session.commit()
    before = counts(session)
    reversal = execution.reverse_fact(session, olga, "production", report.id, "typed 5, was 3")
    session.commit()
    assert (reversal.quantity, reversal.reverses_id) == (D(-5), report.id)
    assert session.get(ProductionReport, report.id).quantity == D(5)  # original untouched
    assert new_since(session, before) == {
        "exe_production_report": 1,
        "audit_entry": 1,
        "platform_outbox_event": 1,
    }
    event = events(session)[-1]
    assert event.type == "fact.reversed"
    assert event.payload["original_type"] == "production.reported"
    assert D(event.payload["quantity"]) == -5 and event.payload["reason"] == "typed 5, was 3"
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.reverse_fact(session, olga, "production", report.id, "again"),
        match="already been reversed",
    )
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.reverse_fact(session, olga, "production", reversal.id, "undo"),
        match="itself a reversal",
    )
    assert progress.order_progress(session, order.id).operations[0].good == 0


def test_good_taken_back_may_not_strand_the_next_operation(session, order, olga):
    start(session, olga, order, 10)
    report = execution.report_production(
        session, olga, ops(session, order)[10].id, kind="good", quantity=10
    )
    start(session, olga, order, 20)
    execution.report_production(session, olga, ops(session, order)[20].id, kind="good", quantity=8)
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.reverse_fact(session, olga, "production", report.id, "miscount"),
        match="operation 20 already processed 8",
    )


def test_reversing_finished_goods_reverses_the_stock_move(session, order, olga):
    start(session, olga, order, 10)
    run_through(session, olga, order, 10, 20)
    start(session, olga, order, 20)
    run_through(session, olga, order, 20, 20)
    start(session, olga, order, 30)
    report = execution.report_production(
        session, olga, ops(session, order)[30].id, kind="good", quantity=4, lot_code="FG-1"
    )
    [produce] = material_queries.moves_of_order(session, order.id, kind="produce")
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.reverse_fact(session, olga, "move", produce.id, "wrong"),
        match="reverse that report",
    )
    before = counts(session)
    execution.reverse_fact(session, olga, "production", report.id, "labels misprinted")
    session.commit()
    assert new_since(session, before) == {
        "exe_production_report": 1,
        "mat_move": 1,
        "audit_entry": 2,
        "platform_outbox_event": 1,
    }
    moves = material_queries.moves_of_order(session, order.id, kind="produce")
    assert [(m.quantity, m.reverses_id) for m in moves] == [(D(4), None), (D(-4), produce.id)]


def test_reversing_moves_labor_and_downtime(session, plant, order, olga):
    start(session, olga, order, 10)
    move = execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=40, lot_code="C-1"
    )
    labor = execution.record_labor(
        session,
        olga,
        ops(session, order)[10].id,
        worker_id=plant.users["olga"].id,
        started_at=NOW - timedelta(hours=1),
        ended_at=NOW,
    )
    stop = execution.record_downtime(
        session,
        olga,
        work_center_code="WC-ASSY",
        reason_code="waiting-for-material",
        started_at=NOW - timedelta(minutes=40),
        ended_at=NOW,
        order_id=order.id,
    )
    back = execution.reverse_fact(session, olga, "move", move.id, "wrong lot scanned")
    assert (back.quantity, back.reverses_id, back.lot_id) == (D(-40), move.id, move.lot_id)
    assert execution.reverse_fact(session, olga, "labor", labor.id, "dup").minutes == D(-60)
    assert execution.reverse_fact(session, olga, "downtime", stop.id, "dup").minutes == D(-40)
    session.commit()
    originals = [e.payload["original_type"] for e in events(session) if e.type == "fact.reversed"]
    assert originals == ["material.consumed", "labor.reported", "downtime.recorded"]
    state = progress.order_progress(session, order.id)
    assert (state.labor_minutes, state.downtime_minutes) == (D(0), {})
    assert [c.net for c in state.components if c.item == "CABLE"] == [D(0)]
    # the stop can be recorded again once reversed
    execution.record_downtime(
        session,
        olga,
        work_center_code="WC-ASSY",
        reason_code="waiting-for-material",
        started_at=NOW - timedelta(minutes=30),
        ended_at=NOW,
    )
    with pytest.raises(RuleViolation, match="not a kind of fact"):
        execution.reverse_fact(session, olga, "shift", 1, "r")


# ---- discrepancy protocol ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("erp_status", "flag"), [("created", "erp_not_released"), ("closed", "erp_closed")]
)
def test_facts_on_unreleased_or_closed_orders_are_kept_and_flagged(
    session, plant, olga, erp_status, flag
):
    order = make_order(session, plant, erp_order_id="PO-9", erp_status=erp_status)
    receive_lot(session, plant, "CABLE", "C-9")
    session.commit()
    start(session, olga, order, 10)
    op10 = ops(session, order)[10]
    report = execution.report_production(session, olga, op10.id, kind="good", quantity=3)
    move = execution.consume_material(
        session, olga, order.id, item_code="CABLE", quantity=6, lot_code="C-9"
    )
    stop = execution.record_downtime(
        session,
        olga,
        work_center_code="WC-ASSY",
        reason_code="waiting-for-material",
        started_at=NOW - timedelta(minutes=5),
        ended_at=NOW,
        operation_id=op10.id,
    )
    session.commit()
    assert report.discrepancy == move.discrepancy == stop.discrepancy == flag
    assert all(e.payload["discrepancy"] == flag for e in events(session))
    inbox = progress.exceptions_inbox(session)
    assert {(f.fact, f.kind) for f in inbox} == {
        ("operation_event", "start"),
        ("production_report", "good"),
        ("material_move", "consume"),
        ("downtime", "downtime"),
    }
    assert {f.erp_order_id for f in inbox} == {"PO-9"} and {f.discrepancy for f in inbox} == {flag}


def test_released_orders_leave_the_inbox_empty(session, order, olga):
    start(session, olga, order, 10)
    assert progress.exceptions_inbox(session) == []


# ---- completing the order -----------------------------------------------------------------


def test_order_completes_only_after_every_operation(session, order, olga):
    start(session, olga, order, 10)
    refused_leaves_nothing(
        session,
        RuleViolation,
        lambda: execution.complete_order(session, olga, order.id),
        match="not completed",
    )


# ---- DESIGN §7 --------------------------------------------------------------------------


def test_acceptance_scenario(session, plant, order, olga):
    """20 started; 40 min 'waiting-for-material' at op 10; 42 cables against a norm of 40
    (repair); 2 scrapped 'defective-board' at op 20; 18 good into lot FG-1."""
    receive_lot(session, plant, "HOUSING", "H-1")
    session.commit()
    op = ops(session, order)
    t0 = NOW - timedelta(hours=5)
    execution.start_operation(session, olga, op[10].id, at=t0)
    execution.record_downtime(
        session,
        olga,
        work_center_code="WC-ASSY",
        reason_code="waiting-for-material",
        operation_id=op[10].id,
        started_at=t0 + timedelta(minutes=30),
        ended_at=t0 + timedelta(minutes=70),
        note="cable",
    )
    for item, quantity, lot in (
        ("HOUSING", 20, "H-1"),
        ("BOARD", 20, "B-1"),
        ("CABLE", 40, "C-1"),
        ("FASTENER", 160, None),
    ):
        execution.consume_material(
            session,
            olga,
            order.id,
            item_code=item,
            quantity=quantity,
            lot_code=lot,
            into_lot="FG-1",
        )
    execution.report_production(session, olga, op[10].id, kind="good", quantity=20)
    execution.complete_operation(session, olga, op[10].id)
    execution.start_operation(session, olga, op[20].id)
    execution.report_production(
        session, olga, op[20].id, kind="scrap", quantity=2, quality_code="defective-board"
    )
    execution.consume_material(
        session,
        olga,
        order.id,
        item_code="CABLE",
        quantity=2,
        lot_code="C-1",
        into_lot="FG-1",
        operation_no=20,
        overuse_reason="repair",
    )
    run_through(session, olga, order, 20, 18)
    execution.start_operation(session, olga, op[30].id)
    execution.consume_material(
        session, olga, order.id, item_code="PACKAGING", quantity=18, into_lot="FG-1"
    )
    run_through(session, olga, order, 30, 18)
    execution.complete_order(session, olga, order.id)
    session.commit()

    state = progress.order_progress(session, order.id)
    assert state.execution_status == "completed"
    assert (state.good, state.scrap) == (D(18), D(2))
    assert [(o.operation_no, o.planned, o.good, o.scrap, o.status) for o in state.operations] == [
        (10, D(20), D(20), D(0), "completed"),
        (20, D(20), D(18), D(2), "completed"),
        (30, D(20), D(18), D(0), "completed"),
    ]
    cable = next(c for c in state.components if c.item == "CABLE")
    assert (cable.norm, cable.consumed, cable.net, cable.overuse_reasons) == (
        D(40),
        D(42),
        D(42),
        ("repair",),
    )
    assert state.downtime_minutes == {"waiting-for-material": D(40)}

    fg = materials.find_lot(session, "WS-100", "FG-1")
    names = {(g.item, g.code) for g in material_queries.genealogy(session, lot_id=fg.id)}
    assert {("BOARD", "B-1"), ("CABLE", "C-1"), ("HOUSING", "H-1")} <= names
    forward = material_queries.genealogy(
        session, lot_id=materials.find_lot(session, "CABLE", "C-1").id, direction="forward"
    )
    assert [(g.item, g.code) for g in forward] == [("WS-100", "FG-1")]

    [done] = [e for e in events(session) if e.type == "work_order.completed"]
    assert (D(done.payload["good"]), D(done.payload["scrap"])) == (D(18), D(2))
    scrap = [
        e
        for e in events(session)
        if e.type == "production.reported" and e.payload["kind"] == "scrap"
    ]
    assert [(e.payload["quality_code"], e.glue["operation_no"]) for e in scrap] == [
        ("defective-board", 20)
    ]
