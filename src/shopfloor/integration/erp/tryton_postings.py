"""What Tryton has booked for some productions, read back for reconciliation.

Each stock move of a production is one posting: an input is `consumption`, an output of
the product to the waste location is `scrap`, to stock `output`, and an output of a
component `return`. Each work cycle is `labour` (minutes, on the operation of its work).
Moves carry their state (draft until Tryton books them at `run` / `do`, then done).
The event ids come from the production's ledger: every fact that adds to the same
product, lot and kind (labour: to the same operation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from shopfloor.integration.erp.ports import ErpPosting
from shopfloor.integration.erp.tryton_ledger import Ledger
from shopfloor.integration.erp.tryton_rpc import TrytonClient
from shopfloor.integration.erp.tryton_sync import find, load_ledger, places, works

KIND_OF_FACT = {"consume": "consumption", "return": "return", "good": "output", "scrap": "scrap"}


def _event_ids(ledger: Ledger, product: str) -> dict[tuple[str, str, str | None], list[str]]:
    found: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for fact in ledger.facts.values():
        if fact.kind in KIND_OF_FACT:
            found[(KIND_OF_FACT[fact.kind], fact.item or product, fact.lot)].append(fact.event_id)
        elif fact.kind == "labour":
            found[("labour", str(fact.operation_no), None)].append(fact.event_id)
    return found


async def read_postings(
    client: TrytonClient,
    erp_order_ids: Sequence[str],
    units: Mapping[str, str],
    waste_code: str | None,
) -> list[ErpPosting]:
    postings: list[ErpPosting] = []
    for order in erp_order_ids:
        production = await find(client, order)
        if production is None:
            continue
        ledger = (await load_ledger(client, production)).ledger
        events = _event_ids(ledger, production.product)
        where = await places(client, production, waste_code)
        for move in production.moves:
            if move["state"] == "cancelled":
                continue
            kind = _move_kind(move, production.id, production.product, where.waste)
            item, lot = move["product."]["code"], (move.get("lot.") or {}).get("number")
            postings.append(
                ErpPosting(
                    erp_order_id=order,
                    kind=kind,
                    item_code=item,
                    quantity=Decimal(str(move["quantity"])).normalize(),
                    uom_code=units.get(move["unit."]["symbol"], move["unit."]["symbol"]),
                    reference=f"stock.move,{move['id']}",
                    lot=lot,
                    state=move["state"],
                    event_ids=tuple(events.get((kind, item, lot), ())),
                )
            )
        postings += await _cycles(client, production, order, events)
    return postings


def _move_kind(move: Mapping[str, Any], production: int, product: str, waste: int) -> str:
    if move["production_input"] == production:
        return "consumption"
    if move["to_location"] == waste:
        return "scrap"
    return "output" if move["product."]["code"] == product else "return"


async def _cycles(
    client: TrytonClient,
    production: Any,
    order: str,
    events: Mapping[tuple[str, str, str | None], list[str]],
) -> list[ErpPosting]:
    postings = []
    for work in await works(client, production):
        rows = await client.call(
            "production.work.cycle", "read", work["cycles"], ["duration", "state"]
        )
        operation = str(work["sequence"])
        for row in rows:
            if row["state"] == "cancelled" or row["duration"] is None:
                continue
            minutes = Decimal(str(round(row["duration"].total_seconds() / 60, 6))).normalize()
            postings.append(
                ErpPosting(
                    erp_order_id=order,
                    kind="labour",
                    item_code=production.product,
                    quantity=minutes,
                    uom_code="min",
                    reference=f"production.work.cycle,{row['id']}",
                    operation_no=operation,
                    state=row["state"],
                    event_ids=tuple(events.get(("labour", operation, None), ())),
                )
            )
    return postings
