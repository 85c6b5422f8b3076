"""Request and response models of the ERP inbox endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import ONE_LINE

DocumentKind = Literal["item", "bom", "routing", "order"]
InboxStatus = Literal["applied", "waiting", "rejected"]
Outcome = Literal["applied", "duplicate", "waiting", "rejected"]
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class InboundDocumentIn(StrictInput):
    message_id: str = Field(
        min_length=1,
        max_length=255,
        pattern=ONE_LINE,
        description="ERP's own id of this document: a repeat is recognised and does nothing",
        examples=["PO-4711-v1"],
    )
    kind: DocumentKind = Field(description="What the document is: item, bom, routing, order")
    fields: dict[str, Any] = Field(
        max_length=100,
        description="The fields of the same record in `shopfloor import` (an item, a BOM "
        "version with `lines`, a routing version with `operations`, an order version)",
    )


class InboxPushIn(StrictInput):
    source: str = Field(
        default="push",
        pattern=SOURCE_PATTERN,
        description="Who sends: message ids are unique per source",
    )
    documents: list[InboundDocumentIn] = Field(min_length=1, max_length=500)


class ReceivedOut(ApiModel):
    message_id: str
    kind: str
    key: str = Field(description="The record's name: item code, item + version, ERP order id")
    outcome: Outcome = Field(
        description="applied; duplicate (received before, nothing done); waiting (for an "
        "item, BOM or routing version not there yet); rejected (see detail)"
    )
    status: InboxStatus = Field(description="What is filed now (a duplicate: the first's)")
    detail: str | None = None


class InboxPushOut(ApiModel):
    applied: int
    duplicate: int
    waiting: int
    rejected: int
    documents: list[ReceivedOut]


class InboxDocumentOut(ApiModel):
    id: int
    source: str
    message_id: str
    kind: str
    key: str
    status: InboxStatus
    detail: str | None
    attempts: int
    received_by: str
    received_at: datetime
    settled_at: datetime | None
    fields: Any


class PullOut(ApiModel):
    subscriber: str
    pulled_at: datetime | None
    documents: int
    failures: int
    next_pull_at: datetime | None
    last_error: str | None


class InboxOut(ApiModel):
    counts: dict[str, int]
    oldest_waiting: datetime | None
    pulls: list[PullOut]
    documents: list[InboxDocumentOut]


ORDER_EXAMPLE = {
    "message_id": "PO-4711-v1",
    "kind": "order",
    "fields": {
        "erp_order_id": "PO-4711",
        "erp_version": 1,
        "item": "WS-100",
        "quantity": 20,
        "uom": "pcs",
        "due_date": "2026-03-06",
        "erp_status": "released",
        "bom_version": "B1",
        "routing_version": "R1",
    },
}
BOM_EXAMPLE = {
    "message_id": "BOM-WS-100-B1",
    "kind": "bom",
    "fields": {
        "item": "WS-100",
        "version": "B1",
        "effective_from": "2026-01-01",
        "lines": [
            {"line_no": 10, "item": "HOUSING", "quantity": 1, "uom": "pcs", "operation_no": 10},
            {"line_no": 20, "item": "CABLE", "quantity": 2, "uom": "pcs", "operation_no": 10},
        ],
    },
}
PUSH_EXAMPLES: dict[str, Any] = {
    "order": {
        "summary": "One production order",
        "description": "Applied at once when item, BOM and routing versions are known; "
        "otherwise it waits for them.",
        "value": {"documents": [ORDER_EXAMPLE]},
    },
    "bom_then_order": {
        "summary": "A BOM version and the order that uses it",
        "value": {"source": "erp", "documents": [BOM_EXAMPLE, ORDER_EXAMPLE]},
    },
}
