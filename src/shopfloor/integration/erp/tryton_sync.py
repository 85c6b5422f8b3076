"""Bringing one Tryton production in line with its ledger, over JSON-RPC.

Every write here is absolute: the moves of a production are made equal to the ledger's
target (`tryton_ledger.target`), matched by product, lot and kind (input, good, scrap,
return), whatever they were before. Running it twice changes nothing the second time.
Tryton keeps a production's inputs editable until it is assigned and its outputs until it
is done; the closing steps (`close`) follow its workflow: assign the inputs (`assign_try`),
`run` (which books the inputs), one done work cycle per labour record on each work (a
work without labour gets one cycle of zero minutes, because Tryton closes a production
only when every work has a done cycle), then `do` (which books the outputs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from shopfloor.integration.erp.tryton_ledger import LEDGER_NAME, Key, Ledger, Target, target
from shopfloor.integration.erp.tryton_rpc import TrytonClient, TrytonError

OPEN_STATES = ("request", "draft", "waiting", "assigned")
PRODUCTION_FIELDS = [
    "number", "state", "product.code", "quantity", "warehouse", "location", "company",
    "company.currency",
    "write_date", "works",
]  # fmt: skip
MOVE_FIELDS = [
    "product", "product.code", "lot.number", "quantity", "unit.symbol", "state",
    "from_location", "to_location", "production_input", "production_output",
]  # fmt: skip


class NotYet(Exception):
    """The production cannot move on yet (stock not available, facts still missing)."""


@dataclass
class Places:
    storage: int
    production: int
    waste: int


@dataclass
class Production:
    """The production as read from Tryton, with its moves."""

    row: dict[str, Any]
    moves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def state(self) -> str:
        return str(self.row["state"])

    @property
    def product(self) -> str:
        return str(self.row["product."]["code"])


def search(client: TrytonClient, model: str, domain: list[Any], fields: list[str]) -> Any:
    return client.call(model, "search_read", domain, 0, None, None, fields)


async def find(client: TrytonClient, number: str) -> Production | None:
    rows = await search(client, "production", [("number", "=", number)], PRODUCTION_FIELDS)
    if not rows:
        return None
    production = Production(rows[0])
    production.moves = await search(
        client,
        "stock.move",
        ["OR", ("production_input", "=", production.id), ("production_output", "=", production.id)],
        MOVE_FIELDS,
    )
    return production


async def places(client: TrytonClient, production: Production, waste_code: str | None) -> Places:
    """Storage and waste of the production's warehouse (waste: the configured code, else the
    warehouse's first waste location)."""
    [warehouse] = await client.call(
        "stock.location", "read", [production.row["warehouse"]],
        ["storage_location", "waste_locations"],
    )  # fmt: skip
    if waste_code:
        found = await client.call(
            "stock.location", "search", [("code", "=", waste_code)], 0, None, None
        )
        if not found:
            raise TrytonError("Config", f"no stock location with code {waste_code}")
        waste = found[0]
    elif warehouse["waste_locations"]:
        waste = warehouse["waste_locations"][0]
    else:
        raise TrytonError("Config", "the warehouse has no waste location for scrap")
    return Places(warehouse["storage_location"], production.row["location"], waste)


# --- ledger ----------------------------------------------------------------------------


@dataclass
class StoredLedger:
    ledger: Ledger
    attachment: int | None
    timestamp: str | None


async def load_ledger(client: TrytonClient, production: Production) -> StoredLedger:
    """The production's ledger, or a new one holding its plan as it is now."""
    rows = await search(
        client,
        "ir.attachment",
        [("resource", "=", f"production,{production.id}"), ("name", "=", LEDGER_NAME)],
        ["data", "_timestamp"],
    )
    if rows:
        return StoredLedger(Ledger.loads(rows[0]["data"]), rows[0]["id"], rows[0]["_timestamp"])
    ledger = Ledger(str(production.row["number"]))
    for move in production.moves:
        if move["production_input"] == production.id and move["state"] != "cancelled":
            code = move["product."]["code"]
            ledger.plan_inputs[code] = ledger.plan_inputs.get(code, Decimal(0)) + _dec(
                move["quantity"]
            )
    ledger.plan_output = _dec(production.row["quantity"] or 0)
    return StoredLedger(ledger, None, None)


async def save_ledger(client: TrytonClient, production: Production, stored: StoredLedger) -> None:
    """Write the ledger; refused (ConcurrencyException) if someone wrote it since we read it."""
    data = stored.ledger.dumps()
    if stored.attachment is None:
        [stored.attachment] = await client.call(
            "ir.attachment",
            "create",
            [{"name": LEDGER_NAME, "type": "data", "data": data,
              "resource": f"production,{production.id}"}],
        )  # fmt: skip
    else:
        key = f"ir.attachment,{stored.attachment}"
        await client.call(
            "ir.attachment", "write", [stored.attachment], {"data": data},
            context={"_timestamp": {key: stored.timestamp}},
        )  # fmt: skip
    [row] = await client.call("ir.attachment", "read", [stored.attachment], ["_timestamp"])
    stored.timestamp = row["_timestamp"]


# --- moves -------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()


def _kind(move: dict[str, Any], production: Production, where: Places) -> str:
    if move["production_input"] == production.id:
        return "input"
    if move["to_location"] == where.waste:
        return "scrap"
    return "good" if move["product."]["code"] == production.product else "return"


@dataclass
class Catalogue:
    """Product and lot ids by code, found (lots: created) on demand."""

    products: dict[str, tuple[int, int]] = field(default_factory=dict)  # code → (id, uom)
    lots: dict[tuple[int, str], int] = field(default_factory=dict)

    async def product(self, client: TrytonClient, code: str) -> tuple[int, int]:
        if code not in self.products:
            rows = await search(client, "product.product", [("code", "=", code)], ["default_uom"])
            if not rows:
                raise TrytonError("UnknownProduct", f"Tryton has no product {code}")
            self.products[code] = (rows[0]["id"], rows[0]["default_uom"])
        return self.products[code]

    async def lot(self, client: TrytonClient, product: int, number: str) -> int:
        key = (product, number)
        if key not in self.lots:
            domain = [("product", "=", product), ("number", "=", number)]
            found = await client.call("stock.lot", "search", domain, 0, None, None)
            if found:
                self.lots[key] = found[0]
            else:
                [self.lots[key]] = await client.call(
                    "stock.lot", "create", [{"product": product, "number": number}]
                )
        return self.lots[key]


async def sync_moves(
    client: TrytonClient,
    production: Production,
    goal: Target,
    where: Places,
    catalogue: Catalogue,
    *,
    inputs: bool,
    dry: bool = False,
) -> bool:
    """Make the draft moves equal to the target (inputs too when `inputs`); True if they
    differed (and, unless `dry`, were written)."""
    wanted: dict[tuple[str, Key], Decimal] = {}
    for kind, amounts in (("good", goal.good), ("scrap", goal.scrap), ("return", goal.returns)):
        wanted.update({(kind, key): q for key, q in amounts.items()})
    if inputs:
        wanted.update({("input", key): q for key, q in goal.inputs.items()})
    existing: dict[tuple[str, Key], list[dict[str, Any]]] = defaultdict(list)
    for move in production.moves:
        if move["state"] in ("done", "cancelled"):
            continue
        kind = _kind(move, production, where)
        if kind == "input" and not inputs:
            continue
        lot = (move.get("lot.") or {}).get("number")
        existing[(kind, (move["product."]["code"], lot))].append(move)
    actions: dict[str, list[Any]] = {"inputs": [], "outputs": []}
    for slot in sorted(set(wanted) | set(existing), key=str):
        field_name = "inputs" if slot[0] == "input" else "outputs"
        moves, quantity = existing.get(slot, []), wanted.get(slot)
        keep = moves[0] if moves and quantity is not None else None
        drop = [m["id"] for m in moves if m is not keep]
        if drop:
            actions[field_name].append(("delete", drop))
        if keep is not None and quantity is not None and _dec(keep["quantity"]) != quantity:
            actions[field_name].append(("write", [keep["id"]], {"quantity": float(quantity)}))
        if keep is None and quantity is not None and dry:
            actions[field_name].append(("create", []))
        elif keep is None and quantity is not None:
            values = await _new_move(client, production, slot, quantity, where, catalogue)
            actions[field_name].append(("create", [values]))
    changes = {name: acts for name, acts in actions.items() if acts}
    if changes and not dry:
        await client.call("production", "write", [production.id], changes)
    return bool(changes)


async def _new_move(
    client: TrytonClient,
    production: Production,
    slot: tuple[str, Key],
    quantity: Decimal,
    where: Places,
    catalogue: Catalogue,
) -> dict[str, Any]:
    kind, (code, lot) = slot
    product, unit = await catalogue.product(client, code)
    source, destination = {
        "input": (where.storage, where.production),
        "good": (where.production, where.storage),
        "return": (where.production, where.storage),
        "scrap": (where.production, where.waste),
    }[kind]
    values: dict[str, Any] = {
        "product": product, "unit": unit, "quantity": float(quantity),
        "from_location": source, "to_location": destination,
        "company": production.row["company"],
    }  # fmt: skip
    if kind in ("good", "return"):  # Tryton costs outputs to stock at `do` (not waste)
        values["currency"] = production.row["company."]["currency"]
        values["unit_price"] = Decimal(0)
    if lot:
        values["lot"] = await catalogue.lot(client, product, lot)
    return values


# --- closing -----------------------------------------------------------------------------


async def works(client: TrytonClient, production: Production) -> list[dict[str, Any]]:
    return list(
        await client.call(
            "production.work", "read", production.row["works"], ["sequence", "state", "cycles"]
        )
    )


async def sync_cycles(client: TrytonClient, production: Production, goal: Target) -> None:
    """One done cycle per labour record on each work (zero minutes where none was booked).

    Tryton lets a cycle's duration be written only while it runs: a new cycle is created,
    run, given its duration, then done. A cycle left half-way by an interruption (no
    duration, or one no labour record asks for) is cancelled and made again."""
    cycle = "production.work.cycle"
    for work in await works(client, production):
        remaining = [m * 60 for m in goal.cycles.get(work["sequence"], [])] or [Decimal(0)]
        rows = await client.call(cycle, "read", work["cycles"], ["duration", "state"])
        to_finish, to_cancel = [], []
        for row in (r for r in rows if r["state"] != "cancelled"):
            seconds = _seconds(row["duration"])
            if seconds in remaining:
                remaining.remove(seconds)
                if row["state"] != "done":
                    to_finish.append(row["id"])
            elif row["state"] != "done":
                to_cancel.append(row["id"])
        if to_cancel:
            await client.call(cycle, "cancel", to_cancel)
        if remaining:
            created = await client.call(cycle, "create", [{"work": work["id"]} for _ in remaining])
            await client.call(cycle, "run", created)
            durations: list[Any] = []
            for cycle_id, seconds in zip(created, remaining, strict=True):
                durations += [[cycle_id], {"duration": timedelta(seconds=float(seconds))}]
            await client.call(cycle, "write", *durations)
            to_finish += created
        if to_finish:
            await client.call(cycle, "do", to_finish)


def _seconds(duration: Any) -> Decimal | None:
    if duration is None:
        return None
    return Decimal(str(round(duration.total_seconds(), 3))).normalize()


async def last_operation(client: TrytonClient, production: Production) -> int | None:
    sequences = [w["sequence"] for w in await works(client, production)]
    return max(sequences) if sequences else None


async def close(
    client: TrytonClient,
    number: str,
    ledger: Ledger,
    where: Places,
    catalogue: Catalogue,
) -> None:
    """Walk the production to `done` from wherever it stands; each step re-reads it."""
    for _ in range(6):
        production = await find(client, number)
        if production is None:
            raise TrytonError("UnknownOrder", f"production {number} vanished from Tryton")
        goal = target(ledger, production.product, await last_operation(client, production),
                      final=True)  # fmt: skip
        if production.state == "done":
            return
        if production.state in ("request", "draft", "cancelled"):
            raise TrytonError("State", f"production {number} is {production.state} in Tryton")
        if production.state == "waiting":
            await sync_moves(client, production, goal, where, catalogue, inputs=True)
            await client.call("production", "assign_try", [production.id])
            after = await find(client, number)
            if after is not None and after.state == "waiting":
                raise NotYet(f"Tryton could not reserve every input of {number} (short stock)")
        elif production.state == "assigned":
            if await sync_moves(client, production, goal, where, catalogue, inputs=True, dry=True):
                await client.call("production", "wait", [production.id])
                continue
            await client.call("production", "run", [production.id])
        elif production.state == "running":
            await sync_moves(client, production, goal, where, catalogue, inputs=False)
            await sync_cycles(client, production, goal)
            await client.call("production", "do", [production.id])
    raise NotYet(f"production {number} did not reach done in Tryton")
