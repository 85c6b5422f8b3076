"""Rows deferred to the end of a command (audit entries, outbox events, stored answers):
written in order and in the command's transaction, seen by its own reads, undone by a
rollback or by the savepoint they were written in, and failing the commit as the INSERT
would have."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry
from shopfloor.demo.plant import seed_demo_plant
from shopfloor.execution.scope import OUTPUT_TOTALS, output
from shopfloor.orders.tables import Operation
from shopfloor.platform import deferred, idempotency, outbox
from shopfloor.platform.outbox import OutboxEvent
from shopfloor.platform.uow import UnitOfWork


def _actions(session):
    return session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()


def test_rows_are_written_at_commit_in_the_order_deferred(sessions, ctx):
    statements: list[str] = []
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with UnitOfWork(sessions) as uow:
        for n in range(3):
            audit.record(uow.session, ctx, f"step.{n}", "thing", n, new={"n": n, "at": ctx.now})
        outbox.emit(
            uow.session, ctx, "work_order.released_to_floor", {"n": 1}, glue={"erp_order_id": "E-1"}
        )
        assert not any("audit_entry" in s for s in statements), "written before the commit"
        uow.commit()
    with sessions() as session:
        assert _actions(session) == ["step.0", "step.1", "step.2"]
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).first()
        assert entry is not None and entry.new_value == {"n": 0, "at": ctx.now.isoformat()}
        assert entry.recorded_at == ctx.now
        (event_row,) = session.scalars(select(OutboxEvent)).all()
        assert event_row.glue == {"erp_order_id": "E-1"} and event_row.payload == {"n": 1}


def test_a_command_reads_what_it_deferred(session, ctx):
    audit.record(session, ctx, "seen", "thing", 1)
    assert _actions(session) == ["seen"]


def test_a_rollback_forgets_the_deferred_rows(sessions, ctx):
    with UnitOfWork(sessions) as uow:
        audit.record(uow.session, ctx, "dropped", "thing", 1)
    with UnitOfWork(sessions) as uow:  # the same rows must not appear with the next commit
        audit.record(uow.session, ctx, "kept", "thing", 2)
        uow.commit()
    with sessions() as session:
        assert _actions(session) == ["kept"]


def test_a_rolled_back_savepoint_takes_only_its_own_rows(sessions, ctx):
    with UnitOfWork(sessions) as uow:
        audit.record(uow.session, ctx, "before", "thing", 1)
        savepoint = deferred.savepoint(uow.session)
        audit.record(uow.session, ctx, "inside", "thing", 2)
        savepoint.rollback()
        audit.record(uow.session, ctx, "after", "thing", 3)
        uow.commit()
    with sessions() as session:
        assert _actions(session) == ["before", "after"]


def test_a_plain_session_commit_writes_them_too(sessions, ctx):
    with sessions() as session:
        audit.record(session, ctx, "plain", "thing", 1)
        session.commit()
    with sessions() as session:
        assert _actions(session) == ["plain"]


def _remember(session, ctx, key: str) -> None:
    idempotency.remember(
        session, principal="7", key=key, method="POST", path="/x", request_hash="h",
        status_code=201, response={"id": 1}, now=ctx.now,
    )  # fmt: skip


def test_a_key_stored_twice_fails_the_commit_and_keeps_nothing(sessions, ctx):
    with UnitOfWork(sessions) as uow:
        _remember(uow.session, ctx, "k-1")
        uow.commit()
    with UnitOfWork(sessions) as uow, pytest.raises(IntegrityError):
        audit.record(uow.session, ctx, "retried", "thing", 1)
        _remember(uow.session, ctx, "k-1")
        uow.commit()
    with sessions() as session:
        assert _actions(session) == []
        assert session.scalar(select(func.count()).select_from(idempotency.IdempotencyRecord)) == 1
        stored = idempotency.find(session, "7", "k-1")
        assert stored is not None and stored.response == {"id": 1}
        assert idempotency.purge(session, ctx.now + timedelta(days=2), 24) == 1


def test_nothing_deferred_commits_as_before(sessions):
    with UnitOfWork(sessions) as uow:
        deferred.flush(uow.session)
        uow.commit()


def test_rows_of_several_tables_and_repeated_upserts_all_land(sessions, ctx):
    """On PostgreSQL each table's rows are one multi-row INSERT of one statement; a second
    upsert of a table (which may hit the first one's key) goes in the next statement."""
    with sessions() as session:
        seed_demo_plant(session, ctx)
        session.commit()
        op_id = session.scalars(select(Operation.id).order_by(Operation.id)).first()
        before = output(session, op_id).rework
        last_event = session.scalar(select(func.max(OutboxEvent.position)))
    with UnitOfWork(sessions) as uow:
        for n in range(3):
            audit.record(uow.session, ctx, f"step.{n}", "thing", n)
            OUTPUT_TOTALS.add(uow.session, Decimal("0.5"), operation_id=op_id, kind="rework")
            outbox.emit(uow.session, ctx, "work_order.released_to_floor", {"n": n}, glue={})
        uow.commit()
    with sessions() as session:
        assert [a for a in _actions(session) if a.startswith("step.")] == [
            "step.0", "step.1", "step.2"
        ]  # fmt: skip
        new_events = select(OutboxEvent.payload).where(OutboxEvent.position > last_event)
        payloads = session.scalars(new_events.order_by(OutboxEvent.position)).all()
        assert payloads == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert output(session, op_id).rework == before + Decimal("1.5")
