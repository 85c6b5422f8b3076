"""The `tryton` ERP adapter against a real Tryton 8.2 (its own process, its own virtualenv).

What it must guarantee whatever the relay does: a message posted twice is one effect; a
message for an order Tryton does not know is given up with the reason; Tryton being down
is a failed outcome to retry, never an exception; a completion that arrives before the
facts it counts waits for them. The end-to-end loop is in tests/scenarios/test_tryton_*.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from shopfloor.integration.erp.ports import load_adapter
from shopfloor.integration.erp.tryton import TrytonAdapter
from shopfloor.integration.erp.tryton_ledger import (
    Ledger,
    facts_of,
    missing_for_completion,
    target,
)
from shopfloor.integration.messages import Outcome, Outgoing
from tests.support.tryton import tryton  # noqa: F401 - the fixture


def event(kind: str, order: str, payload: dict[str, Any], **glue: Any) -> Outgoing:
    body = {"id": str(uuid.uuid4()), "type": kind, "erp_order_id": order, "site": "plant-1",
            "payload": payload, **glue}  # fmt: skip
    return Outgoing("tryton", body["id"], kind, "plant-1", json.dumps(body).encode(), 1, 1, None)


def consumed(order: str, item: str, quantity: str, lot: str | None = None) -> Outgoing:
    payload = {"quantity": quantity, "unit": "pcs", "lot": lot}
    return event("material.consumed", order, payload, item=item, lot=lot, operation_no=10)


def post(server, messages: Sequence[Outgoing]) -> list[Outcome]:
    async def run() -> list[Outcome]:
        adapter = TrytonAdapter(server.options())
        try:
            return await adapter.post(messages)
        finally:
            await adapter.close()

    return asyncio.run(run())


def inputs(server, number: str) -> dict[tuple[str, str | None], Decimal]:
    rpc = server.rpc()
    try:
        production = rpc.one("production", [("number", "=", number)])
        moves = rpc("stock.move", "search_read", [("production_input", "=", production)], 0,
                    None, None, ["product.code", "lot.number", "quantity"])  # fmt: skip
    finally:
        rpc.close()
    return {
        (m["product."]["code"], (m.get("lot.") or {}).get("number")): Decimal(str(m["quantity"]))
        for m in moves
    }


def test_the_adapter_is_found_by_its_entry_point_and_refuses_missing_secrets():
    with pytest.raises(Exception, match="password"):
        load_adapter("tryton", {"url": "http://127.0.0.1:1", "database": "x", "user": "u"})


def test_the_same_message_posted_twice_is_one_effect(tryton):  # noqa: F811
    number = tryton.create_production(quantity=20)
    message = consumed(number, "CABLE", "24", "CBL-0217")
    assert [o.ok for o in post(tryton, [message])] == [True]
    again = post(tryton, [message, message])  # a resend, and a duplicate within one batch
    assert [o.ok for o in again] == [True, True]
    moves = inputs(tryton, number)
    assert moves[("CABLE", "CBL-0217")] == 24
    assert moves[("CABLE", None)] == 40 - 24  # the plan's remainder stays on a lot-less move
    assert moves[("HOUSING", None)] == 20
    assert list(tryton.ledger(number)["facts"]) == [message.message_id]


def test_unknown_order_and_unreadable_message_are_given_up_with_the_reason(tryton):  # noqa: F811
    broken = Outgoing("tryton", "m-1", "material.consumed", "plant-1", b"{not json", 1, 1, None)
    unknown, unreadable = post(tryton, [consumed("MO-9999", "CABLE", "1"), broken])
    assert unknown.give_up and "no production MO-9999" in (unknown.error or "")
    assert unreadable.give_up and "not JSON" in (unreadable.error or "")


def test_tryton_down_is_a_failed_outcome_to_retry_never_an_exception(tryton):  # noqa: F811
    number = tryton.create_production(quantity=20)
    tryton.stop()
    [outcome] = post(tryton, [consumed(number, "HOUSING", "1")])
    assert not outcome.ok and not outcome.give_up and "not reachable" in (outcome.error or "")
    tryton.start()
    [outcome] = post(tryton, [outcome.message])
    assert outcome.ok and inputs(tryton, number)[("HOUSING", None)] == 20


def test_a_completion_before_its_facts_waits_for_them(tryton):  # noqa: F811
    number = tryton.create_production(quantity=1)
    completion = event(
        "work_order.completed", number,
        {"good": "0", "scrap": "0", "components": [{"item": "HOUSING", "consumed": "1"}]},
    )  # fmt: skip
    [early] = post(tryton, [completion])
    assert not early.ok and not early.give_up and "HOUSING consumed 0 of 1" in (early.error or "")
    assert tryton.production(number)["state"] == "waiting"


def test_what_a_message_means_for_the_production_is_computed_from_the_ledger():
    """Pure: good counts only at the last operation, scrap anywhere, reversals subtract."""
    order = "MO-1"
    messages = [
        consumed(order, "CABLE", "24", "CBL-0217"),
        event(
            "production.reported",
            order,
            {"kind": "good", "quantity": "20"},
            operation_no=10,
            item="WS-100",
        ),
        event(
            "production.reported",
            order,
            {"kind": "scrap", "quantity": "2"},
            operation_no=20,
            item="WS-100",
        ),
        event(
            "production.reported",
            order,
            {"kind": "good", "quantity": "18"},
            operation_no=30,
            item="WS-100",
            lot="WS-L1",
        ),
        event(
            "fact.reversed",
            order,
            {"original_type": "material.consumed", "kind": "consume", "quantity": "-4"},
            item="CABLE",
            lot="CBL-0217",
        ),
        event("labor.reported", order, {"minutes": "55", "labor_id": 7}, operation_no=10),
        event("labor.reported", order, {"minutes": "5", "labor_id": 8}, operation_no=10),
        event(
            "fact.reversed",
            order,
            {"original_type": "labor.reported", "fact_id": 8, "minutes": "-5"},
            operation_no=10,
        ),
    ]
    ledger = Ledger(order, {"CABLE": Decimal(40)}, Decimal(20))
    for message in messages:
        ledger.add(facts_of(message.body))
    ledger.add(facts_of(messages[0].body))  # again: nothing new
    goal = target(Ledger.loads(ledger.dumps()), "WS-100", 30, final=True)
    assert goal.inputs == {("CABLE", "CBL-0217"): 20}
    assert goal.good == {("WS-100", "WS-L1"): 18} and goal.scrap == {("WS-100", None): 2}
    assert goal.cycles == {10: [Decimal(55)]}
    planned = target(ledger, "WS-100", 30, final=False)
    assert planned.inputs == {("CABLE", "CBL-0217"): 20, ("CABLE", None): 20}


def test_a_completion_waits_for_facts_whose_sums_cancel_out():
    """Pure: a consumption and a return of the same quantity still on their way leave the
    net consumption right; the completion's fact counts still tell they are missing."""
    order = "MO-1"
    consume = [consumed(order, "PACKAGING", "1") for _ in range(3)]
    back = event("material.returned", order, {"quantity": "1"}, item="PACKAGING")
    completion = event(
        "work_order.completed", order,
        {"good": "0", "scrap": "0", "components": [{"item": "PACKAGING", "consumed": "2"}],
         "facts": {"consume": 3, "return": 1, "good": 0, "scrap": 0, "labour": 0,
                   "unlabour": 0}},
    )  # fmt: skip
    ledger = Ledger(order)
    for message in (consume[0], consume[1], completion):
        ledger.add(facts_of(message.body))
    gaps = missing_for_completion(Ledger.loads(ledger.dumps()), 10)
    assert gaps == ["2 of 3 consume facts", "0 of 1 return facts"]
    for message in (consume[2], back):
        ledger.add(facts_of(message.body))
    assert missing_for_completion(ledger, 10) == []
