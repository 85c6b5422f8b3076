"""The demo plant: seeded through the services, idempotent, every order status on show."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from shopfloor.audit.tables import AuditEntry
from shopfloor.cli.main import app
from shopfloor.demo.catalog import DEMO_PASSWORD
from shopfloor.demo.plant import seed_demo_plant
from shopfloor.execution import queries as execution_queries
from shopfloor.execution import service as execution
from shopfloor.execution.tables import Downtime, ProductionReport
from shopfloor.identity import service as identity
from shopfloor.identity.tables import User
from shopfloor.kernel.errors import NotQualified
from shopfloor.masterdata import queries as md
from shopfloor.masterdata.tables import Equipment, Item
from shopfloor.materials.tables import Lot, MaterialMove
from shopfloor.orders import queries as order_queries
from shopfloor.orders import service as orders
from shopfloor.platform.outbox import OutboxEvent

EXPECTED = {
    "PO-23990": "completed",
    "PO-23991": "completed",
    "PO-24001": "running",
    "PO-24002": "queued",
    "PO-24003": "queued",
    "PO-24004": "dispatched",
    "PO-24005": "dispatched",
    "PO-24006": "paused",
    "PO-24007": "running",
    "PO-24008": "aborted",
}
COUNTED = (
    AuditEntry,
    OutboxEvent,
    User,
    Item,
    Equipment,
    Lot,
    MaterialMove,
    ProductionReport,
    Downtime,
)


def _counts(session) -> dict[str, int]:
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table))
        for table in COUNTED
    }


def test_seeding_twice_changes_nothing(session, ctx):
    first = seed_demo_plant(session, ctx)
    session.commit()
    after_first = _counts(session)
    second = seed_demo_plant(session, replace(ctx, now=ctx.now + timedelta(days=3)))
    session.commit()

    assert dict(first.orders) == dict(second.orders) == EXPECTED
    assert _counts(session) == after_first
    assert after_first["md_item"] >= 12 and after_first["id_user"] == 9
    assert after_first["md_equipment"] == 11


def test_the_demo_plant_shows_every_status_the_acceptance_facts_and_the_rules(session, ctx):
    seed_demo_plant(session, ctx)
    session.commit()
    listed = {o.erp_order_id: o for o in order_queries.list_orders(session)}
    assert {erp: o.execution_status for erp, o in listed.items()} == EXPECTED

    accepted = execution_queries.order_progress(session, listed["PO-23990"].id)
    assert (accepted.good, accepted.scrap) == (18, 2)
    cables = next(c for c in accepted.components if c.item == "CBL-100")
    assert (cables.norm, cables.net, cables.overuse_reasons) == (40, 42, ("repair",))
    assert accepted.downtime_minutes == {"WAIT-MAT": 40}

    running = execution_queries.order_progress(session, listed["PO-24001"].id)
    assert running.operations[0].good == 12 and running.downtime_minutes == {"WAIT-MAT": 40}

    flagged = execution_queries.exceptions_inbox(session)
    assert flagged and {f.erp_order_id for f in flagged} == {"PO-24007"}
    assert listed["PO-24007"].erp_status == "created"

    # Everyone signs in with the printed password; Ben's expired test certificate keeps him
    # from starting a functional test, and the message says when it expired.
    anna = identity.sign_in(
        session, ctx, "anna", DEMO_PASSWORD, lockout_attempts=5, lockout_minutes=15
    )
    assert anna.roles == ["operator"]
    ben = md.user_by(session, "ben")
    paused = listed["PO-24006"].id
    test_op = next(op for op in orders.operations_of(session, paused) if op.operation_no == 20)
    with pytest.raises(NotQualified, match="expired on 2025-06-30"):
        execution.start_operation(session, ctx, test_op.id, operator_id=ben.id)
    session.rollback()


def test_the_demo_command_seeds_once_and_prints_what_to_open(db_url):
    runner = CliRunner()
    args = ["demo", "--no-serve", "--database-url", db_url]
    first = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert first.exit_code == 0, first.output
    for expected in (
        "http://127.0.0.1:8000/docs",
        "/healthz",
        "Seeded the demo plant with 10",
        "anna",
        DEMO_PASSWORD,
    ):
        assert expected in first.output
    again = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert again.exit_code == 0, again.output
    assert "seeded before and is kept as it is" in again.output
