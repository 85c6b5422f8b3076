"""The reconciliation use case: shopfloor's facts first, then ERP's postings, then the rules.

Order of reading matters. Shopfloor's facts and deliveries are read first, ERP second: an
event delivered in between is then in both (a match), never a fact ERP seems to have lost.
ERP is asked only about the orders in scope, through the adapter of the named subscriber
(transport "erp"), on a short-lived event loop of its own. Nothing is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from shopfloor.integration.erp.ports import ErpAdapter, ErpPosting, load_adapter
from shopfloor.integration.reconcile import queries
from shopfloor.integration.reconcile.domain import per_operation_kinds, reconcile_order
from shopfloor.integration.reconcile.report import Report, summarise
from shopfloor.integration.reconcile.scope import choose
from shopfloor.integration.subscribers import Subscriber
from shopfloor.kernel.errors import NotFound, RuleViolation, ShopfloorError


class ErpUnavailable(ShopfloorError):
    status = 502
    code = "erp-unavailable"
    title = "ERP did not answer"


def erp_subscriber(subscribers: Sequence[Subscriber], name: str) -> Subscriber:
    """The configured subscriber `name`, which must reach an ERP through an adapter."""
    erps = sorted(s.name for s in subscribers if s.transport == "erp")
    found = next((s for s in subscribers if s.name == name), None)
    if found is None:
        raise NotFound(f"no subscriber '{name}'; ERP subscribers: {', '.join(erps) or 'none'}")
    if found.transport != "erp":
        raise RuleViolation(
            f"subscriber '{name}' is a {found.transport} subscriber, not an ERP "
            f'(transport "erp"): {", ".join(erps) or "none configured"}'
        )
    return found


def erp_postings(
    subscriber: Subscriber, erp_order_ids: Sequence[str], adapter: ErpAdapter | None = None
) -> list[ErpPosting]:
    """What ERP has posted for these orders, asked through the subscriber's adapter."""

    async def read(erp: ErpAdapter) -> list[ErpPosting]:
        try:
            return await erp.postings(list(erp_order_ids))
        finally:
            await erp.close()

    erp = adapter or load_adapter(subscriber.adapter, subscriber.options)
    try:
        return asyncio.run(read(erp))
    except ShopfloorError:
        raise
    except Exception as exc:  # an adapter's own failure: ERP down, refusing, timing out
        raise ErpUnavailable(
            f"could not read what ERP '{subscriber.name}' posted: {type(exc).__name__}: {exc}"
        ) from exc


def reconcile(
    session: Session,
    subscribers: Sequence[Subscriber],
    erp: str,
    *,
    now: datetime,
    orders: Sequence[str] = (),
    day: str | None = None,
    shift: str | None = None,
    adapter: ErpAdapter | None = None,
) -> Report:
    """Reconcile the orders in scope (orders, a day or a shift; none: today) with ERP `erp`."""
    subscriber = erp_subscriber(subscribers, erp)
    shifts = queries.shift_specs(session) if not orders else []
    scope = choose(orders, day, shift, shifts, now)
    if scope.start is not None and scope.end is not None:
        erp_ids = queries.orders_in_window(session, scope.start, scope.end)
    else:
        erp_ids = list(scope.orders)
    scoped = queries.scoped_orders(session, erp_ids)
    facts = queries.facts(session, scoped, subscriber.name, scope)
    postings = erp_postings(subscriber, erp_ids, adapter) if erp_ids else []
    per_operation = per_operation_kinds(postings)
    results = tuple(
        reconcile_order(o.head, facts, postings, per_operation, windowed=scope.windowed)
        for o in scoped
    )
    return Report(
        erp=subscriber.name,
        adapter=subscriber.adapter,
        scope=scope.label,
        window_start=scope.start,
        window_end=scope.end,
        generated_at=now,
        summary=summarise(results),
        orders=results,
    )
