"""Tryton (8.x) as shopfloor's ERP: productions in, facts out, postings read back.

Options (the subscriber's `options`; no defaults for secrets):

    url = "http://127.0.0.1:8000"   # Tryton's web listener
    database = "tryton"
    user = "shopfloor"              # a user with the Production group + create on stock.lot
    password = "…"                  # required, never defaulted
    waste_location = "WASTE"        # optional: code of the scrap location (else the
                                    # warehouse's first waste location)
    units = {"u" = "pcs"}           # optional: Tryton unit symbol → shopfloor unit code
    timeout_seconds = 15

How a fact reaches Tryton (see `tryton_ledger` and `tryton_sync`): the messages of one
batch are grouped by order (= production number); for each production the adapter adds
their facts to the production's ledger (an attachment, keyed by event id: a message sent
again adds nothing), then makes the production's draft moves equal to what the ledger
says. When the ledger holds the work order's completion and every fact the completion
counts, the production is assigned, run, its work cycles booked and done.

Outcomes: Tryton not reachable, or refusing for a reason that may pass (short stock, a
concurrent change, facts still on their way) → failed, the relay retries; an order Tryton
does not know, a cancelled production, a fact arriving after the production was closed,
an unreadable message → given up with the reason (dead letter, for a person).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from shopfloor.integration.erp.ports import ErpAdapterError, ErpPosting, Pulled
from shopfloor.integration.erp.tryton_ledger import (
    Fact,
    UnreadableMessage,
    facts_of,
    missing_for_completion,
    target,
)
from shopfloor.integration.erp.tryton_postings import read_postings
from shopfloor.integration.erp.tryton_pull import Puller
from shopfloor.integration.erp.tryton_rpc import TrytonClient, TrytonError, TrytonUnavailable
from shopfloor.integration.erp.tryton_sync import (
    OPEN_STATES,
    Catalogue,
    NotYet,
    close,
    find,
    last_operation,
    load_ledger,
    places,
    save_ledger,
    sync_moves,
)
from shopfloor.integration.messages import Outcome, Outgoing

STOCK_KINDS = frozenset({"consume", "return", "good", "scrap", "labour", "unlabour"})


class GiveUp(Exception):
    """A posting no retry can make possible."""


class TrytonAdapter:
    """The `tryton` ERP adapter (entry point `shopfloor.erp_adapters`)."""

    name = "tryton"

    def __init__(self, options: Mapping[str, Any]) -> None:
        missing = [k for k in ("url", "database", "user", "password") if not options.get(k)]
        if missing:
            raise ErpAdapterError(f"the tryton adapter needs the option(s) {', '.join(missing)}")
        self.client = TrytonClient(
            str(options["url"]), str(options["database"]), str(options["user"]),
            str(options["password"]), timeout=float(options.get("timeout_seconds", 15)),
        )  # fmt: skip
        self.waste_code = options.get("waste_location")
        self.units = {str(k): str(v) for k, v in (options.get("units") or {}).items()}
        self.catalogue = Catalogue()
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def close(self) -> None:
        await self.client.close()

    async def pull(self, cursor: str | None) -> Pulled:
        """Productions changed since `cursor` as documents (raises TrytonUnavailable)."""
        return await Puller(self.client, self.units).pull(cursor)

    async def postings(self, erp_order_ids: Sequence[str]) -> list[ErpPosting]:
        """Moves and cycles of these productions, with the event ids behind each."""
        return await read_postings(self.client, erp_order_ids, self.units, self.waste_code)

    async def post(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """One outcome per message; never raises for Tryton's own failures."""
        outcomes: dict[str, Outcome] = {}
        by_order: dict[str, list[tuple[Outgoing, list[Fact]]]] = defaultdict(list)
        for message in messages:
            try:
                facts = facts_of(message.body)
            except UnreadableMessage as exc:
                outcomes[message.message_id] = Outcome.failed(message, str(exc), give_up=True)
                continue
            orders = {f.order for f in facts}
            if not orders:
                outcomes[message.message_id] = Outcome.delivered(message)
            for order in orders:
                mine = [f for f in facts if f.order == order]
                by_order[order].append((message, mine))
        for order, batch in by_order.items():
            async with self._locks[order]:
                for message_id, outcome in (await self._post_order(order, batch)).items():
                    earlier = outcomes.get(message_id)
                    if earlier is None or earlier.ok:
                        outcomes[message_id] = outcome
        return [outcomes[m.message_id] for m in messages]

    async def _post_order(
        self, order: str, batch: list[tuple[Outgoing, list[Fact]]]
    ) -> dict[str, Outcome]:
        try:
            waiting = await self._apply(order, [f for _, facts in batch for f in facts])
        except GiveUp as exc:
            return {m.message_id: Outcome.failed(m, str(exc), give_up=True) for m, _ in batch}
        except (TrytonUnavailable, TrytonError, NotYet) as exc:
            return {m.message_id: Outcome.failed(m, str(exc)) for m, _ in batch}
        outcomes = {}
        for message, facts in batch:
            if waiting and any(f.kind == "complete" for f in facts):
                outcomes[message.message_id] = Outcome.failed(message, waiting)
            else:
                outcomes[message.message_id] = Outcome.delivered(message)
        return outcomes

    async def _apply(self, order: str, facts: list[Fact]) -> str | None:
        """Ledger first, then the moves; returns why the completion must wait, if it must."""
        production = await find(self.client, order)
        if production is None:
            raise GiveUp(f"Tryton has no production {order}")
        stored = await load_ledger(self.client, production)
        new = [f for f in facts if f.event_id not in stored.ledger.facts]
        if new and production.state in ("done", "cancelled"):
            if any(f.kind in STOCK_KINDS for f in new):
                raise GiveUp(
                    f"production {order} is {production.state} in Tryton; these facts came "
                    "after it was closed and are left to reconciliation"
                )
            return None
        if new:
            stored.ledger.add(new)
            await save_ledger(self.client, production, stored)
        where = await places(self.client, production, self.waste_code)
        last = await last_operation(self.client, production)
        gaps = missing_for_completion(stored.ledger, last)
        if stored.ledger.completion is not None and not gaps:
            await close(self.client, order, stored.ledger, where, self.catalogue)
            return None
        if production.state == "done":
            return None
        goal = target(stored.ledger, production.product, last, final=False)
        inputs = production.state in OPEN_STATES
        if production.state == "assigned" and await sync_moves(
            self.client, production, goal, where, self.catalogue, inputs=True, dry=True
        ):
            await self.client.call("production", "wait", [production.id])
            production = await find(self.client, order) or production
        await sync_moves(self.client, production, goal, where, self.catalogue, inputs=inputs)
        if stored.ledger.completion is not None:
            return f"waiting for facts of {order} still on their way: {'; '.join(gaps)}"
        return None
