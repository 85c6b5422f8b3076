"""What Tryton plans, as shopfloor's inbound documents (items, BOM, routing, order).

A production becomes visible once Tryton gives it a number (`wait`: state waiting, then
assigned, running, done or cancelled). For each production changed since the cursor (its
write date), the pull sends its product and components as items, its BOM and routing as
versions, and the order itself:

- a BOM or routing version is named after the Tryton record and a hash of its content
  (`T<id>.<hash>`): Tryton edits BOMs in place, shopfloor keeps versions immutable, so a
  changed composition arrives as a new version and the old one stays for the facts that
  used it;
- operation numbers are the routing step sequences (10, 20, 30); the work center of an
  operation is the one Tryton picked for the production's work (by the operation's work
  center category under the production's work center);
- the order's id is the production number, its version the write date in seconds, its due
  date the planned date; waiting, assigned and running are "released", done and cancelled
  "closed".

Every document's message id is a hash of its content, so the inbox recognises a document
that did not change (the adapter's own postings touch the production too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shopfloor.integration.erp.ports import InboundDocument, Pulled
from shopfloor.integration.erp.tryton_rpc import TrytonClient

PULLED_STATES = ("waiting", "assigned", "running", "done", "cancelled")
ERP_STATUS = {"waiting": "released", "assigned": "released", "running": "released",
              "done": "closed", "cancelled": "closed"}  # fmt: skip
FIELDS = [
    "number", "state", "product", "product.code", "quantity", "unit.symbol", "planned_date",
    "planned_start_date", "bom", "routing", "works", "write_date", "create_date",
]  # fmt: skip


def _digest(content: Any) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _document(kind: str, key: str, fields: Mapping[str, Any]) -> InboundDocument:
    return InboundDocument(f"tryton:{kind}:{key}:{_digest(fields)[:20]}", kind, dict(fields))


def _quantity(value: Any) -> str:
    number = Decimal(str(value)).normalize()
    return format(number, "f")


def _stamp(row: Mapping[str, Any]) -> datetime:
    stamps: list[datetime] = [row[k] for k in ("write_date", "create_date") if row.get(k)]
    return max(stamps)


class Puller:
    """Reads productions and what they refer to, caching items within one pull."""

    def __init__(self, client: TrytonClient, units: Mapping[str, str]) -> None:
        self.client = client
        self.units = units
        self.documents: dict[str, InboundDocument] = {}

    def unit(self, symbol: str) -> str:
        return self.units.get(symbol, symbol)

    def add(self, document: InboundDocument) -> None:
        self.documents.setdefault(document.message_id, document)

    async def pull(self, cursor: str | None) -> Pulled:
        domain: list[Any] = [("state", "in", PULLED_STATES), ("number", "!=", None)]
        if cursor:
            since = datetime.fromisoformat(cursor)
            domain.append(["OR", ("write_date", ">", since), ("create_date", ">", since)])
        rows = await self.client.call(
            "production", "search_read", domain, 0, None, [("id", "ASC")], FIELDS
        )
        for row in sorted(rows, key=_stamp):
            await self.production(row)
        newest = max((_stamp(r) for r in rows), default=None)
        next_cursor = newest.isoformat() if newest else cursor
        return Pulled(list(self.documents.values()), next_cursor)

    async def production(self, row: Mapping[str, Any]) -> None:
        product = row["product."]["code"]
        bom_version = await self.bom(row["bom"], product) if row["bom"] else None
        routing_version = await self.routing(row, product) if row["routing"] else None
        due = row["planned_date"] or row["planned_start_date"] or _stamp(row).date()
        stamp = _stamp(row).replace(tzinfo=UTC)
        order = {
            "erp_order_id": row["number"],
            "erp_version": int(stamp.timestamp()),
            "item": product,
            "quantity": _quantity(row["quantity"]),
            "uom": self.unit(row["unit."]["symbol"]),
            "due_date": due.isoformat() if isinstance(due, date) else str(due),
            "erp_status": ERP_STATUS[row["state"]],
            "bom_version": bom_version,
            "routing_version": routing_version,
        }
        content = {k: v for k, v in order.items() if k != "erp_version"}
        self.add(InboundDocument(
            f"tryton:order:{row['number']}:{_digest(content)[:20]}", "order", order
        ))  # fmt: skip

    async def items(self, product_ids: list[int]) -> dict[int, str]:
        rows = await self.client.call(
            "product.product", "read", product_ids,
            ["code", "name", "default_uom.symbol", "template.lot_required"],
        )  # fmt: skip
        codes = {}
        for row in rows:
            fields = {
                "code": row["code"],
                "name": row["name"],
                "uom": self.unit(row["default_uom."]["symbol"]),
                "lot_tracked": bool(row["template."]["lot_required"]),
            }
            self.add(_document("item", row["code"], fields))
            codes[row["id"]] = row["code"]
        return codes

    async def bom(self, bom_id: int, product: str) -> str:
        [bom] = await self.client.call(
            "production.bom", "read", [bom_id], ["inputs", "outputs", "create_date"]
        )
        lines = await self.client.call(
            "production.bom.input", "read", bom["inputs"], ["product", "quantity", "unit.symbol"]
        )
        outputs = await self.client.call(
            "production.bom.output", "read", bom["outputs"],
            ["product", "product.code", "quantity"],
        )  # fmt: skip
        codes = await self.items(
            [line["product"] for line in lines] + [o["product"] for o in outputs]
        )
        made = next((o for o in outputs if o["product."]["code"] == product), outputs[0])
        content = {
            "quantity": _quantity(made["quantity"]),
            "lines": [
                {
                    "line_no": 10 * n,
                    "item": codes[line["product"]],
                    "quantity": _quantity(line["quantity"]),
                    "uom": self.unit(line["unit."]["symbol"]),
                }
                for n, line in enumerate(lines, start=1)
            ],
        }
        version = f"T{bom_id}.{_digest(content)[:8]}"
        fields = {
            "item": product,
            "version": version,
            "effective_from": bom["create_date"].date().isoformat(),
            **content,
        }
        self.add(_document("bom", f"{product}:{version}", fields))
        return version

    async def routing(self, row: Mapping[str, Any], product: str) -> str:
        works = await self.client.call(
            "production.work", "read", row["works"],
            ["sequence", "operation.name", "work_center.name"],
        )  # fmt: skip
        [routing] = await self.client.call(
            "production.routing", "read", [row["routing"]], ["create_date"]
        )
        operations = [
            {
                "operation_no": work["sequence"],
                "name": work["operation."]["name"],
                "work_center": (work.get("work_center.") or {}).get("name"),
            }
            for work in sorted(works, key=lambda w: w["sequence"])
        ]
        version = f"T{row['routing']}.{_digest(operations)[:8]}"
        fields = {
            "item": product,
            "version": version,
            "effective_from": routing["create_date"].date().isoformat(),
            "operations": operations,
        }
        self.add(_document("routing", f"{product}:{version}", fields))
        return version
