"""Reconciliation against a real Tryton 8.2 (SQLite and PostgreSQL on shopfloor's side).

One Tryton and one play of the DESIGN §7 scenario serve the whole story, to keep the
number of Tryton starts small:

1. the floor has played the scenario, the relay has not run, and one event was given up
   by hand: every difference is `not_yet_delivered`, the given-up one `dead_lettered`;
2. the dead letter retried and the relay run until quiet: no difference at all, per
   order and per operation (labour), through the service, the CLI (exit 0) and the API
   (operator: 403);
3. a unit added by hand in Tryton to the finished lot: `changed_in_erp` with both
   quantities;
4. an order ERP has not released, released on the floor with a reason, one fact recorded
   and relayed (Tryton does not know the order: dead letter): `fact_on_unreleased_order`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.integration import admin, service
from shopfloor.integration.messages import Outcome
from shopfloor.integration.reconcile import service as reconciliation
from shopfloor.kernel.clock import utc_now
from tests.scenarios.test_tryton_loop import erp_subscriber, play_the_floor, relay_until_quiet
from tests.scenarios.test_ws100_order import V1, ok, set_up_plant
from tests.support.tryton import pull_into, tryton  # noqa: F401 - the fixture

RECONCILE = f"{V1}/erp/reconciliation"


def report_of(api, subscriber, number: str):
    with api.runtime.sessions() as session:
        return reconciliation.reconcile(
            session, [subscriber], "tryton", now=utc_now(), orders=[number]
        )


def causes(report) -> dict[tuple[str, int | None, str, str | None], list[str]]:
    return {
        (line.kind, line.operation_no, line.item, line.lot): [c.cause for c in line.causes]
        for result in report.orders
        for line in result.lines
    }


def give_up_one(api, subscriber, event_type: str, item: str) -> str:
    """Claim every due event as the relay would, answer only one of them as given up (the
    others wait, pending); returns the dead event's id."""
    with api.runtime.unit_of_work() as uow:
        claimed = service.claim(
            uow.session,
            [subscriber],
            now=utc_now(),
            limit=500,
            token="by-hand",
            lease=timedelta(seconds=60),
        )
        [victim] = [
            m
            for m in claimed
            if m.event_type == event_type and json.loads(m.body).get("item") == item
        ]
        outcome = Outcome.failed(victim, "refused by hand for the test", give_up=True)
        service.settle(
            uow.session,
            [subscriber],
            claimed,
            [outcome],
            now=utc_now(),
            token="by-hand",
            claimed_at=utc_now(),
        )
        uow.commit()
    return victim.message_id


def cli(api, *args: str):
    env = {"COLUMNS": "200", "SHOPFLOOR_SUBSCRIBERS": api.runtime.settings.subscribers}
    url = api.runtime.settings.database_url
    return CliRunner().invoke(
        app, ["reconcile", "--erp", "tryton", *args, "--database-url", url], env=env
    )


def add_a_unit_in_tryton(server, number: str) -> None:
    """An ERP user books one more WS-100 of lot WS-L1 out of the finished production."""
    rpc = server.rpc()
    try:
        production = rpc.one("production", [("number", "=", number)])
        product = rpc.one("product.product", [("code", "=", "WS-100")])
        [move] = rpc(
            "stock.move",
            "create",
            [
                {
                    "product": product,
                    "unit": 1,
                    "quantity": 1.0,
                    "from_location": rpc.one("stock.location", [("code", "=", "PROD")]),
                    "to_location": rpc.one("stock.location", [("code", "=", "STO")]),
                    "lot": rpc.one(
                        "stock.lot", [("number", "=", "WS-L1"), ("product", "=", product)]
                    ),
                    "company": rpc.context["company"],
                    "currency": 1,
                    "unit_price": Decimal(0),
                    "production_output": production,
                }
            ],
        )
        rpc("stock.move", "do", [move])
    finally:
        rpc.close()


def test_reconciliation_with_tryton_names_every_difference(api, tryton):  # noqa: F811
    set_up_plant(api)
    number = tryton.create_production(quantity=20)
    assert {r.outcome for r in pull_into(api.runtime, tryton)} == {"applied"}
    orders = {o["erp_order_id"]: o for o in ok(api.get(f"{V1}/orders"))}
    order = ok(api.get(f"{V1}/orders/{orders[number]['id']}"))
    ok(api.post(f"{V1}/orders/{order['id']}/release", role="supervisor", json={}))
    play_the_floor(api, order["id"])
    subscriber = erp_subscriber(tryton)
    api.runtime.settings.subscribers = json.dumps(
        [{"name": "tryton", "transport": "erp", "adapter": "tryton", "options": tryton.options()}]
    )

    # 1. nothing relayed yet, one event given up
    dead = give_up_one(api, subscriber, "material.consumed", "PACKAGING")
    before = report_of(api, subscriber, number)
    assert before.summary.by_cause == {"dead_lettered": 1, "not_yet_delivered": 8}
    assert before.summary.unexplained == 0 and before.summary.matching == 0
    found = causes(before)
    assert found[("consumption", None, "PACKAGING", None)] == ["dead_lettered"]
    assert found[("consumption", None, "CABLE", "CBL-0218")] == ["not_yet_delivered"]
    assert found[("labour", None, "WS-100", None)] == ["not_yet_delivered"]
    [packaging] = [line for line in before.orders[0].lines if line.item == "PACKAGING"]
    [event] = packaging.causes[0].events
    assert (event.event_id, event.delivery, event.error) == (
        dead,
        "dead",
        "refused by hand for the test",
    )
    assert any("open record(s)" in note for note in before.orders[0].notes)  # Tryton's plan

    # 2. retried and relayed: no difference at all
    with api.runtime.unit_of_work() as uow:
        assert admin.retry(uow.session, now=utc_now(), subscriber="tryton") == 1
        uow.commit()
    errors = relay_until_quiet(api.runtime, subscriber)
    assert tryton.production(number)["state"] == "done", errors
    after = report_of(api, subscriber, number)
    assert after.summary.differences == 0, causes(after)
    assert after.summary.matching == after.summary.lines == 11
    lines = {(line.kind, line.operation_no, line.lot): line for line in after.orders[0].lines}
    assert lines[("labour", 10, None)].erp == 55 and lines[("labour", 20, None)].erp == 0
    assert lines[("output", None, "WS-L1")].erp == 18 and lines[("scrap", None, None)].erp == 2
    assert "last operation (30)" in (lines[("output", None, "WS-L1")].note or "")
    assert [op.erp_labour_minutes for op in after.orders[0].operations] == [55, 0, 0]

    done = cli(api, "--order", number, "--json")
    assert done.exit_code == 0, done.output
    by_cli = json.loads(done.output)
    assert by_cli["summary"]["differences"] == 0 and by_cli["summary"]["lines"] == 11
    answer = api.get(RECONCILE, role="supervisor", params={"erp": "tryton", "order": number})
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"] == by_cli["summary"]
    assert answer.json()["orders"] == by_cli["orders"]
    forbidden = api.get(RECONCILE, role="operator", params={"erp": "tryton", "order": number})
    assert forbidden.status_code == 403

    # 3. changed by hand in Tryton
    add_a_unit_in_tryton(tryton, number)
    changed = report_of(api, subscriber, number)
    assert changed.summary.by_cause == {"changed_in_erp": 1}
    [line] = [line for line in changed.orders[0].lines if not line.matches]
    assert (line.kind, line.lot, line.shopfloor, line.erp) == ("output", "WS-L1", 18, 19)
    assert line.causes[0].detail == "shopfloor delivered 18, ERP has 19"
    shown = cli(api, "--order", number)
    assert shown.exit_code == 0 and "changed_in_erp" in shown.output  # explained: exit 0

    # 4. a fact on an order ERP has not released
    ok(
        api.post(
            f"{V1}/orders",
            role="integration",
            json={
                "erp_order_id": "RUSH-1",
                "erp_version": 1,
                "item_code": "WS-100",
                "quantity": "2",
                "uom_code": "pcs",
                "due_date": "2026-03-06",
                "priority": 1,
                "erp_status": "created",
                "bom_version": order["bom_version"],
                "routing_version": order["routing_version"],
            },
        )
    )
    rush = next(o for o in ok(api.get(f"{V1}/orders")) if o["erp_order_id"] == "RUSH-1")
    ok(
        api.post(
            f"{V1}/orders/{rush['id']}/release",
            role="supervisor",
            json={"reason": "customer rush; ERP release pending"},
        )
    )
    olga = {"Authorization": f"Bearer {api.token('olga')}"}
    ops = {
        op["operation_no"]: op["id"] for op in ok(api.get(f"{V1}/orders/{rush['id']}/operations"))
    }
    ok(api.client.post(f"{V1}/operations/{ops[10]}/start", json={}, headers=olga))
    ok(
        api.client.post(
            f"{V1}/orders/{rush['id']}/consumption",
            headers=olga,
            json={"item_code": "HOUSING", "quantity": "2"},
        )
    )
    relay_until_quiet(api.runtime, subscriber)
    unreleased = report_of(api, subscriber, "RUSH-1")
    assert unreleased.summary.by_cause == {"fact_on_unreleased_order": 1}
    [line] = unreleased.orders[0].lines
    assert (line.item, line.shopfloor, line.erp) == ("HOUSING", 2, 0)
    [event] = line.causes[0].events
    assert event.delivery == "dead" and "no production RUSH-1" in (event.error or "")
    assert any("ERP returned nothing" in note for note in unreleased.orders[0].notes)
