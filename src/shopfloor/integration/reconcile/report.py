"""The reconciliation report's value objects, pure: lines, causes, orders, the summary.

A line is matched when it has no cause; a difference has one or more causes whose
quantities add up to shopfloor - ERP. The summary counts lines per cause (a line with two
causes counts under both); `unexplained` lines make the CLI exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

CAUSES: dict[str, str] = {
    "fact_on_unreleased_order": "recorded while ERP had not released (or had closed) the "
    "order; kept, flagged and never forced into ERP",
    "dead_lettered": "an event was given up (dead letter); `shopfloor outbox retry` sends it again",
    "not_yet_delivered": "events still on their way to ERP (unclaimed, in flight, held for "
    "their group or waiting for a retry)",
    "not_sent_to_subscriber": "events fanned out before this ERP subscriber was configured",
    "not_yet_booked": "delivered; ERP holds them on records it has not booked yet",
    "changed_in_erp": "everything was delivered but ERP's quantity differs: changed in ERP",
    "not_in_shopfloor": "ERP has booked what shopfloor has no delivered fact for",
    "unit_differs": "the two sides count in different units; nothing is converted",
    "unexplained": "no cause applies",
}


@dataclass(frozen=True)
class FactEntry:
    """One fact of shopfloor as reconciliation sees it, with its event's delivery.

    `kind` is a posting kind (consumption, return, output, scrap, labour) or, for the
    operation totals only, `good` (good units of an earlier operation) or `rework`.
    `delivery` is one of `domain.DELIVERIES` for the subscriber reconciled.
    """

    order: str
    operation_no: int | None
    kind: str
    item: str
    lot: str | None
    quantity: Decimal
    unit: str
    fact: str  # the fact table's name and row id, e.g. "material_move 12"
    event_id: str | None
    event_type: str | None
    delivery: str
    error: str | None = None
    discrepancy: str | None = None
    occurred_at: datetime | None = None
    in_window: bool = True


@dataclass(frozen=True)
class EventRef:
    event_id: str | None
    event_type: str | None
    fact: str
    delivery: str
    quantity: Decimal
    error: str | None = None


@dataclass(frozen=True)
class Cause:
    """One named part of a difference; `quantity` is its share of shopfloor - ERP."""

    cause: str
    quantity: Decimal
    detail: str
    events: tuple[EventRef, ...] = ()


@dataclass(frozen=True)
class Line:
    order: str
    operation_no: int | None
    kind: str
    item: str
    lot: str | None
    unit: str
    shopfloor: Decimal
    erp: Decimal
    erp_open: Decimal
    window: Decimal | None
    causes: tuple[Cause, ...]
    note: str | None = None
    erp_references: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return not self.causes

    @property
    def difference(self) -> Decimal:
        return self.shopfloor - self.erp


@dataclass(frozen=True)
class OperationTotals:
    """Shopfloor's totals of one operation, and ERP's labour there when ERP keeps it."""

    operation_no: int
    good: Decimal
    scrap: Decimal
    rework: Decimal
    labour_minutes: Decimal
    erp_labour_minutes: Decimal | None


@dataclass(frozen=True)
class OrderHead:
    erp_order_id: str
    item: str = ""
    unit: str = ""
    erp_status: str | None = None
    execution_status: str | None = None
    in_shopfloor: bool = True


@dataclass(frozen=True)
class OrderResult:
    head: OrderHead
    lines: tuple[Line, ...]
    operations: tuple[OperationTotals, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summary:
    orders_checked: int
    lines: int
    matching: int
    differences: int
    by_cause: dict[str, int]
    unexplained: int


def summarise(orders: Sequence[OrderResult]) -> Summary:
    """Orders checked, lines, matching lines, and differences counted per cause."""
    lines = [line for result in orders for line in result.lines]
    by_cause: dict[str, int] = {}
    for line in lines:
        for cause in {c.cause for c in line.causes}:
            by_cause[cause] = by_cause.get(cause, 0) + 1
    differing = [line for line in lines if not line.matches]
    return Summary(
        orders_checked=len(orders),
        lines=len(lines),
        matching=len(lines) - len(differing),
        differences=len(differing),
        by_cause=dict(sorted(by_cause.items(), key=lambda kv: list(CAUSES).index(kv[0]))),
        unexplained=by_cause.get("unexplained", 0),
    )


@dataclass(frozen=True)
class Report:
    """The whole reconciliation of one ERP subscriber over one scope."""

    erp: str
    adapter: str
    scope: str
    window_start: datetime | None
    window_end: datetime | None
    generated_at: datetime
    summary: Summary
    orders: tuple[OrderResult, ...]
    causes: dict[str, str] = field(default_factory=lambda: dict(CAUSES))
