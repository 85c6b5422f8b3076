"""The one interface every ERP adapter implements, and how adapters are found.

An adapter does three things for shopfloor, and nothing else:

- `pull`: read what ERP plans (items, BOM and routing versions, production orders) as
  inbound documents; shopfloor files them in its inbox, which deduplicates and applies them;
- `post`: deliver outbox messages (facts) to ERP. The relay calls it as a transport, so
  delivery is at-least-once: an adapter must make a repeated message harmless (look the
  message id up in ERP before posting, or let ERP deduplicate);
- `postings`: read back what ERP has posted for some orders, for reconciliation.

Adapters are registered as entry points, group `shopfloor.erp_adapters`, name → a class or
factory taking the adapter's options (a mapping from the subscriber configuration):

    [project.entry-points."shopfloor.erp_adapters"]
    myerp = "myplant.erp:MyErpAdapter"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, Protocol

from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.kernel.errors import ShopfloorError

ENTRY_POINT_GROUP = "shopfloor.erp_adapters"
INBOUND_KINDS = ("item", "bom", "routing", "order")
POSTING_KINDS = ("consumption", "return", "output", "scrap", "labour")


class ErpAdapterError(ShopfloorError):
    code = "erp-adapter"
    title = "ERP adapter not available"


@dataclass(frozen=True)
class InboundDocument:
    """One thing ERP says, with ERP's own id for it (the inbox deduplicates on it).

    `kind` is one of INBOUND_KINDS and `fields` are the fields of the same record in
    `shopfloor import` (an item, a BOM version with lines, a routing version with
    operations, an order version), so every route in applies the same rules.
    """

    message_id: str
    kind: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Pulled:
    """What one pull found, and where the next pull starts (an ETag, a timestamp, or any
    adapter state as text; None: from the beginning)."""

    documents: Sequence[InboundDocument]
    cursor: str | None


@dataclass(frozen=True)
class ErpPosting:
    """One quantity ERP has booked for an order, read back for reconciliation.

    `event_ids` are the shopfloor event ids the posting came from, when ERP keeps them;
    `reference` is ERP's own id of the record (a stock move, a work cycle) for the report.
    """

    erp_order_id: str
    kind: str
    item_code: str
    quantity: Decimal
    uom_code: str
    reference: str
    operation_no: str | None = None
    lot: str | None = None
    state: str = "done"
    event_ids: tuple[str, ...] = field(default=())


class ErpAdapter(Protocol):
    """An ERP, as shopfloor sees it."""

    name: str

    async def pull(self, cursor: str | None) -> Pulled:
        """What ERP has that is new since `cursor`."""
        ...

    async def post(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Deliver outbox messages; one outcome per message, never raising for ERP's own
        failure (that is an outcome to retry, or to give up on)."""
        ...

    async def postings(self, erp_order_ids: Sequence[str]) -> list[ErpPosting]:
        """What ERP has booked for these orders."""
        ...

    async def close(self) -> None: ...


def available_adapters() -> dict[str, Any]:
    """The installed adapters, by name (entry points, not yet loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_adapter(name: str, options: Mapping[str, Any]) -> ErpAdapter:
    """The adapter registered as `name`, built with its options."""
    found = available_adapters()
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ErpAdapterError(f"no ERP adapter '{name}' (installed: {known})")
    factory = found[name].load()
    adapter: ErpAdapter = factory(dict(options))
    return adapter
