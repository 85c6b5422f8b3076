"""The reconciliation report over HTTP: shopfloor's facts beside what one ERP has posted.

Read-only. It reads shopfloor first, then asks the ERP subscriber's adapter for its
postings of the orders in scope, so it takes as long as ERP takes to answer; a failing ERP
is a 502 problem, never a half report.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shopfloor.api.deps import ReadSession, RuntimeDep, require
from shopfloor.api.schemas_reconciliation import ReconciliationOut
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.reconcile import service as reconciliation
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["ERP reconciliation"])

Reader = Annotated[Actor, require("planner", "supervisor", "quality", "integration")]
ErpName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description='A configured subscriber of transport "erp"',
    ),
]
Orders = Annotated[
    list[Annotated[str, Query(min_length=1, max_length=64)]] | None,
    Query(max_length=200, description="ERP order ids (repeat the parameter)"),
]
Day = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The orders with facts on this day"),
]
Shift = Annotated[
    str | None,
    Query(
        max_length=80,
        pattern=r"^\d{4}-\d{2}-\d{2}/[A-Za-z0-9:._-]+$",
        description="YYYY-MM-DD/SHIFT-CODE or YYYY-MM-DD/HH:MM (the shift's start)",
    ),
]


@router.get(
    "/erp/reconciliation",
    response_model=ReconciliationOut,
    summary="What shopfloor recorded beside what ERP posted, every difference named",
)
def reconciliation_report(
    session: ReadSession,
    runtime: RuntimeDep,
    actor: Reader,
    erp: ErpName,
    order: Orders = None,
    date: Day = None,
    shift: Shift = None,
) -> ReconciliationOut:
    """Per order (`order`, repeatable), per day (`date`) or per shift (`shift`; one of the
    three, none: today): per operation, kind, item and lot, shopfloor's net facts (reversals
    included) beside ERP's booked quantity. Each difference is split into causes —
    `fact_on_unreleased_order`, `dead_lettered` (with the event and its error),
    `not_yet_delivered`, `not_sent_to_subscriber`, `not_yet_booked`, `changed_in_erp`,
    `not_in_shopfloor`, `unit_differs`, and `unexplained` only when none applies. Where ERP
    keeps a kind per order only, the line is compared per order and says so."""
    report = reconciliation.reconcile(
        session,
        load_subscribers(runtime.settings),
        erp,
        now=runtime.context(actor).now,
        orders=order or (),
        day=date,
        shift=shift,
    )
    return ReconciliationOut.model_validate(report)
