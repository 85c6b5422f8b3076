"""The closed loop of the design with a real ERP: Tryton 8.2 plans, shopfloor executes,
the relay posts the facts back, Tryton books the stock (DESIGN §2 and §7).

Tryton creates production MO-0001 for 20 WS-100 with its BOM and routing; shopfloor pulls
it through the `tryton` adapter into its inbox; the floor plays the acceptance scenario
over HTTP (40 minutes waiting for cable, 2 scrapped with a defective board, 42 cables
against a norm of 40 with the overuse reason "repair", 18 good into lot WS-L1); the real
relay delivers the outbox to a subscriber of transport "erp", adapter "tryton"; the
production ends done and Tryton's stock per location is what shopfloor recorded.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from shopfloor.integration.erp.tryton import TrytonAdapter
from shopfloor.integration.subscribers import Subscriber
from shopfloor.workers.relay import RelayWorker
from tests.scenarios.test_ws100_order import V1, ok, set_up_plant
from tests.support.tryton import pull_into, tryton  # noqa: F401 - the fixture

T0 = "2026-03-02T06:{:02d}:00Z"


def erp_subscriber(server, **overrides) -> Subscriber:
    values = {"adapter": "tryton", "options": server.options(), "backoff_base_seconds": 1.0}
    values.update(overrides)
    return Subscriber("tryton", "erp", server.url, **values)  # type: ignore[arg-type]


def relay_until_quiet(runtime, subscriber: Subscriber, passes: int = 20) -> list[str]:
    """Run the real relay pass after pass until nothing is due; the errors it met."""
    worker = RelayWorker(runtime, [subscriber])
    errors: list[str] = []
    try:
        for _ in range(passes):
            report = worker.run_once()
            errors += report.errors
            if report.claimed == 0:
                break
    finally:
        worker.close()
    return errors


def play_the_floor(api, order_id: int) -> None:
    """DESIGN §7 on the floor, over HTTP, as Olga."""
    olga = {"Authorization": f"Bearer {api.token('olga')}"}

    def floor(path, body):
        return ok(api.client.post(V1 + path, json=body, headers=olga))

    ops = {op["operation_no"]: op["id"] for op in ok(api.get(f"{V1}/orders/{order_id}/operations"))}
    floor(f"/operations/{ops[10]}/start", {"at": T0.format(0)})
    for item, quantity, lot in (
        ("HOUSING", 20, None),
        ("BOARD", 20, "BRD-0301"),
        ("CABLE", 24, "CBL-0217"),
        ("FASTENER", 160, None),
    ):
        body = {"item_code": item, "quantity": str(quantity), "lot_code": lot, "into_lot": "WS-L1"}
        floor(f"/orders/{order_id}/consumption", body)
    floor(
        "/downtimes",
        {
            "work_center_code": "WC-ASSY", "reason_code": "waiting-for-material",
            "started_at": T0.format(10), "ended_at": T0.format(50), "order_id": order_id,
            "operation_id": ops[10],
        },
    )  # fmt: skip
    floor(
        f"/orders/{order_id}/consumption",
        {"item_code": "CABLE", "quantity": "16", "lot_code": "CBL-0218", "into_lot": "WS-L1"},
    )
    floor(f"/operations/{ops[10]}/labor", {"started_at": T0.format(0), "ended_at": T0.format(55)})
    floor(f"/operations/{ops[10]}/production", {"kind": "good", "quantity": "20"})
    floor(f"/operations/{ops[10]}/complete", {})
    floor(f"/operations/{ops[20]}/start", {})
    floor(
        f"/orders/{order_id}/consumption",
        {"item_code": "CABLE", "quantity": "2", "lot_code": "CBL-0218", "overuse_reason": "repair"},
    )
    floor(
        f"/operations/{ops[20]}/production",
        {"kind": "scrap", "quantity": "2", "quality_code": "defective-board", "reason": "repair"},
    )
    floor(f"/operations/{ops[20]}/production", {"kind": "good", "quantity": "18"})
    floor(f"/operations/{ops[20]}/complete", {})
    floor(f"/operations/{ops[30]}/start", {})
    floor(f"/orders/{order_id}/consumption", {"item_code": "PACKAGING", "quantity": "18"})
    floor(
        f"/operations/{ops[30]}/production", {"kind": "good", "quantity": "18", "lot_code": "WS-L1"}
    )
    floor(f"/operations/{ops[30]}/complete", {})
    ok(api.post(f"{V1}/orders/{order_id}/complete", role="supervisor", json={}))


def test_ws100_from_tryton_to_the_floor_and_back_into_tryton_stock(api, tryton):  # noqa: F811
    set_up_plant(api)
    number = tryton.create_production(quantity=20)
    received = pull_into(api.runtime, tryton)
    assert {r.outcome for r in received} == {"applied"}, received
    orders = {o["erp_order_id"]: o for o in ok(api.get(f"{V1}/orders"))}
    order = ok(api.get(f"{V1}/orders/{orders[number]['id']}"))
    assert order["erp_status"] == "released" and Decimal(order["quantity"]) == 20
    assert {c["item"]: Decimal(c["norm"]) for c in order["components"]} == {
        "HOUSING": 20, "BOARD": 20, "CABLE": 40, "FASTENER": 160, "PACKAGING": 20,
    }  # fmt: skip
    operations = ok(api.get(f"{V1}/orders/{order['id']}/operations"))
    assert [(o["operation_no"], o["work_center_code"]) for o in operations] == [
        (10, "WC-ASSY"), (20, "WC-TEST"), (30, "WC-PACK"),
    ]  # fmt: skip
    ok(api.post(f"{V1}/orders/{order['id']}/release", role="supervisor", json={}))

    play_the_floor(api, order["id"])
    errors = relay_until_quiet(api.runtime, erp_subscriber(tryton))

    assert tryton.production(number)["state"] == "done", errors
    stock = tryton.stock
    assert stock("WS-100", "STO", lot="WS-L1") == 18
    assert stock("WS-100", "WASTE") == 2
    assert stock("HOUSING", "STO") == 100 - 20
    assert stock("BOARD", "STO", lot="BRD-0301") == 50 - 20
    assert stock("CABLE", "STO", lot="CBL-0217") == 30 - 24
    assert stock("CABLE", "STO", lot="CBL-0218") == 30 - 18  # 16 + 2 for the repair
    assert stock("FASTENER", "STO") == 1000 - 160
    assert stock("PACKAGING", "STO") == 50 - 18

    adapter = TrytonAdapter(tryton.options())
    try:
        postings = asyncio.run(adapter.postings([number]))
    finally:
        asyncio.run(adapter.close())
    booked = {(p.kind, p.item_code, p.lot): (p.quantity, p.state) for p in postings
              if p.kind != "labour"}  # fmt: skip
    assert booked == {
        ("consumption", "HOUSING", None): (20, "done"),
        ("consumption", "BOARD", "BRD-0301"): (20, "done"),
        ("consumption", "CABLE", "CBL-0217"): (24, "done"),
        ("consumption", "CABLE", "CBL-0218"): (18, "done"),
        ("consumption", "FASTENER", None): (160, "done"),
        ("consumption", "PACKAGING", None): (18, "done"),
        ("output", "WS-100", "WS-L1"): (18, "done"),
        ("scrap", "WS-100", None): (2, "done"),
    }
    labour = sorted((p.operation_no, p.quantity) for p in postings if p.kind == "labour")
    assert labour == [("10", 55), ("20", 0), ("30", 0)]
    cable = [p for p in postings if p.item_code == "CABLE"]
    assert sum(len(p.event_ids) for p in cable) == 3  # 24 + 16 + 2, one event each
