"""Reconciliation through the CLI and the API on the demo plant (SQLite and PostgreSQL), with
an ERP that has posted nothing yet: the facts' events are still in the outbox, the rush
order ERP has not released shows as such, a fact without an event is the one thing left
unexplained (exit code 1), and the API answers the same report by role."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.demo.plant import seed_demo_plant
from shopfloor.integration.reconcile import service
from shopfloor.kernel.context import SYSTEM
from shopfloor.materials.tables import MaterialMove
from shopfloor.orders.tables import ProductionOrder
from shopfloor.platform.outbox import OutboxEvent

SUBSCRIBERS = json.dumps(
    [
        {"name": "erp", "transport": "erp", "adapter": "fake"},
        {
            "name": "hook",
            "transport": "webhook",
            "url": "http://127.0.0.1:9/x",
            "secrets": ["whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"],
        },
    ]
)
runner = CliRunner()
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # the demo's facts lie before this moment


class EmptyErp:
    """An ERP adapter that has posted nothing for any order."""

    name = "fake"

    async def postings(self, erp_order_ids):
        self.asked = list(erp_order_ids)
        return []

    async def close(self) -> None:
        return None


@pytest.fixture
def demo(api, monkeypatch):
    monkeypatch.setattr(service, "load_adapter", lambda name, options: EmptyErp())
    api.runtime.settings.subscribers = SUBSCRIBERS
    with api.runtime.unit_of_work() as uow:
        seed_demo_plant(uow.session, replace(api.runtime.context(SYSTEM), now=NOW))
        uow.commit()
    return api


def reconcile(api, *args: str):
    env = {"COLUMNS": "200", "SHOPFLOOR_SUBSCRIBERS": SUBSCRIBERS}
    url = api.runtime.settings.database_url
    return runner.invoke(app, ["reconcile", *args, "--database-url", url], env=env)


def causes(report: dict, order: str) -> dict[tuple[str, str | None], list[str]]:
    [result] = [o for o in report["orders"] if o["head"]["erp_order_id"] == order]
    return {
        (line["item"], line["lot"]): [c["cause"] for c in line["causes"]]
        for line in result["lines"]
        if line["kind"] != "labour"
    }


def test_cli_names_every_difference_and_exits_by_what_is_unexplained(demo):
    done = reconcile(demo, "--erp", "erp", "--order", "PO-23990", "--order", "PO-24007", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["summary"]["orders_checked"] == 2 and report["summary"]["unexplained"] == 0
    assert set(report["summary"]["by_cause"]) == {"not_yet_delivered", "fact_on_unreleased_order"}
    acceptance = causes(report, "PO-23990")
    assert acceptance[("CBL-100", "CBL-L7001")] == ["not_yet_delivered"]
    assert acceptance[("WS-100", None)] == ["not_yet_delivered"]  # the 2 scrapped
    assert {tuple(c) for c in causes(report, "PO-24007").values()} == {
        ("fact_on_unreleased_order",)
    }
    [line] = [
        line
        for o in report["orders"]
        for line in o["lines"]
        if o["head"]["erp_order_id"] == "PO-24007" and line["kind"] == "consumption"
    ]
    assert Decimal(line["shopfloor"]) == 3 and line["erp"] == "0"
    assert line["causes"][0]["events"][0]["delivery"] == "unclaimed"

    table = reconcile(demo, "--erp", "erp", "--order", "PO-23990")
    assert table.exit_code == 0
    assert "orders checked 1" in table.output and "not_yet_delivered" in table.output

    with demo.runtime.unit_of_work() as uow:  # a fact whose event vanished behind our back
        session = uow.session
        order_id = session.scalar(
            select(ProductionOrder.id).where(ProductionOrder.erp_order_id == "PO-23990")
        )
        move = session.scalar(
            select(MaterialMove.id)
            .where(MaterialMove.order_id == order_id, MaterialMove.kind == "consume")
            .order_by(MaterialMove.id)
        )
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "material.consumed"))
        [event] = [e.position for e in events if e.payload.get("move_id") == move]
        session.execute(delete(OutboxEvent).where(OutboxEvent.position == event))
        uow.commit()
    failed = reconcile(demo, "--erp", "erp", "--order", "PO-23990")
    assert failed.exit_code == 1, failed.output
    assert "unexplained" in failed.output and "without an outbox event" in failed.output

    unknown = reconcile(demo, "--erp", "nope", "--order", "PO-23990")
    assert unknown.exit_code == 2 and "ERP subscribers: erp" in unknown.output
    webhook = reconcile(demo, "--erp", "hook", "--date", "2026-03-02")
    assert webhook.exit_code == 2 and "not an ERP" in webhook.output
    bad = reconcile(demo, "--erp", "erp", "--shift", "2026-03-02/NIGHT")
    assert bad.exit_code == 2 and "EARLY" in bad.output
    assert "Exit codes" in runner.invoke(app, ["reconcile", "--help"]).output


def test_api_returns_the_same_report_to_the_roles_that_may_read_it(demo):
    url = "/api/v1/erp/reconciliation"
    answer = demo.get(url, role="planner", params={"erp": "erp", "order": "PO-24007"})
    assert answer.status_code == 200, answer.text
    by_cli = json.loads(reconcile(demo, "--erp", "erp", "--order", "PO-24007", "--json").output)
    body = answer.json()
    assert {k: v for k, v in body.items() if k != "generated_at"} == {
        k: v for k, v in by_cli.items() if k != "generated_at"
    }
    for role in ("supervisor", "quality", "integration", "admin"):
        assert demo.get(url, role=role, params={"erp": "erp", "order": "PO-1"}).status_code == 200
    forbidden = demo.get(url, role="operator", params={"erp": "erp", "order": "PO-24007"})
    assert forbidden.status_code == 403
    both = demo.get(url, role="planner", params={"erp": "erp", "order": "X", "date": "2026-03-02"})
    assert both.status_code == 422
    missing = demo.get(url, role="planner", params={"erp": "nope"})
    assert missing.status_code == 404

    day = demo.get(url, role="planner", params={"erp": "erp", "date": "2026-03-02"}).json()
    assert "PO-24007" in {o["head"]["erp_order_id"] for o in day["orders"]}
    assert day["window_start"].startswith("2026-03-02T00:00")
    shift = demo.get(url, role="planner", params={"erp": "erp", "shift": "2026-02-28/LATE"})
    report = shift.json()
    assert shift.status_code == 200 and report["scope"].startswith("shift LATE of 2026-02-28")
    assert [o["head"]["erp_order_id"] for o in report["orders"]] == ["PO-23990"]
    lines = report["orders"][0]["lines"]
    assert any(Decimal(line["window"]) < Decimal(line["shopfloor"]) for line in lines)
    assert any("not per shift" in note for note in report["orders"][0]["notes"])
