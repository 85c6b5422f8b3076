"""The plant's configuration as every signed-in person may read it: the seven boundary
decisions between ERP and shopfloor, their current values and what each means.

Read-only on purpose: the decisions are deployment settings (`SHOPFLOOR_ORDER_ORIGIN`,
`SHOPFLOOR_LOT_CREATION`, `SHOPFLOOR_ERP_POSTING`, …), changed where the processes are
configured, so every API process, relay and ERP sync worker applies the same ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shopfloor.api.deps import RuntimeDep, require
from shopfloor.api.schemas_fields import EVERY_ROLE
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.subscribers import erp_postings
from shopfloor.kernel.context import Actor

router = APIRouter(tags=["plant"])


class DecisionOut(BaseModel):
    number: int = Field(description="1 to 7, in the order of the boundary decisions")
    key: str
    title: str
    setting: str = Field(description="The environment variable that sets it")
    value: str
    options: list[str]
    fixed: bool = Field(description="True when shopfloor offers only this value")
    meaning: str = Field(description="What the current value means on the floor")


class ErpPostingOut(BaseModel):
    subscriber: str
    aggregation: str = Field(description="event, operation or shift: what is in effect")
    source: str = Field(
        description="'SHOPFLOOR_ERP_POSTING' (the plant's default) or 'subscriber' (its own)"
    )


class BoundaryOut(BaseModel):
    decisions: list[DecisionOut]
    erp_postings: list[ErpPostingOut] = Field(
        description="The effective aggregation of each subscriber with transport erp"
    )


@router.get(
    "/plant/boundary",
    response_model=BoundaryOut,
    summary="The seven ERP/shopfloor boundary decisions of this plant",
)
def plant_boundary(
    runtime: RuntimeDep, actor: Annotated[Actor, require(*EVERY_ROLE)]
) -> BoundaryOut:
    """Where orders originate, who owns the BOM, where lots are created, how inventory
    movements reach ERP (and, per ERP subscriber, the aggregation in effect), where the batch
    record and deviations live, and who owns finished-goods cost."""
    settings = runtime.settings
    return BoundaryOut(
        decisions=[
            DecisionOut(
                number=d.number,
                key=d.key,
                title=d.title,
                setting=d.setting,
                value=d.value,
                options=list(d.options),
                fixed=d.fixed,
                meaning=d.meaning,
            )
            for d in settings.boundary.decisions()
        ],
        erp_postings=[
            ErpPostingOut(subscriber=name, aggregation=aggregation, source=source)
            for name, aggregation, source in erp_postings(load_subscribers(settings))
        ],
    )
