"""Response models of the reconciliation report (the CLI's `--json` prints the same)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shopfloor.api.schemas import ApiModel
from shopfloor.api.schemas_fields import Amount

CauseName = Literal[
    "fact_on_unreleased_order",
    "dead_lettered",
    "not_yet_delivered",
    "not_sent_to_subscriber",
    "not_yet_booked",
    "changed_in_erp",
    "not_in_shopfloor",
    "unit_differs",
    "unexplained",
]
Delivery = Literal[
    "unclaimed",
    "in_flight",
    "held",
    "pending",
    "grouped",
    "delivered",
    "dead",
    "not_sent",
    "no_event",
]


class EventRefOut(ApiModel):
    event_id: str | None = Field(description="The outbox event (None: the fact has none)")
    event_type: str | None
    fact: str = Field(description="The fact's table and id, e.g. 'material_move 12'")
    delivery: Delivery = Field(description="Where the event stands for this ERP subscriber")
    quantity: Amount
    error: str | None = Field(description="The receiver's last error (dead letters)")


class CauseOut(ApiModel):
    cause: CauseName
    quantity: Amount = Field(description="This cause's share of shopfloor - ERP")
    detail: str
    events: list[EventRefOut]


class LineOut(ApiModel):
    order: str = Field(description="ERP order id")
    operation_no: int | None = Field(
        description="Set when ERP keeps this kind per operation; None: compared per order"
    )
    kind: Literal["consumption", "return", "output", "scrap", "labour"]
    item: str
    lot: str | None
    unit: str
    shopfloor: Amount = Field(description="Net of every fact, reversals included")
    erp: Amount = Field(description="What ERP has booked")
    erp_open: Amount = Field(description="What ERP holds on records it has not booked yet")
    window: Amount | None = Field(
        description="Shopfloor's part recorded in the date or shift asked for"
    )
    difference: Amount = Field(description="shopfloor - erp")
    matches: bool
    causes: list[CauseOut]
    note: str | None = Field(description="How the line was compared, where that matters")
    erp_references: list[str] = Field(description="ERP's own records behind the line")


class OperationTotalsOut(ApiModel):
    operation_no: int
    good: Amount
    scrap: Amount
    rework: Amount
    labour_minutes: Amount
    erp_labour_minutes: Amount | None = Field(
        description="ERP's booked labour here; None when ERP keeps labour per order only"
    )


class OrderHeadOut(ApiModel):
    erp_order_id: str
    item: str
    unit: str
    erp_status: str | None
    execution_status: str | None
    in_shopfloor: bool


class OrderResultOut(ApiModel):
    head: OrderHeadOut
    lines: list[LineOut]
    operations: list[OperationTotalsOut]
    notes: list[str]


class SummaryOut(ApiModel):
    orders_checked: int
    lines: int
    matching: int
    differences: int
    by_cause: dict[str, int] = Field(description="Lines per cause (a line may have several)")
    unexplained: int


class ReconciliationOut(ApiModel):
    erp: str = Field(description="The ERP subscriber reconciled")
    adapter: str
    scope: str
    window_start: datetime | None
    window_end: datetime | None
    generated_at: datetime
    summary: SummaryOut
    orders: list[OrderResultOut]
    causes: dict[str, str] = Field(description="What each cause means")
