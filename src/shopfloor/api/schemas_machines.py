"""Request and response models of OEE, downtime classification and maintenance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import Amount, Moment, Note, PlantCode, RowId

FactId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class OeeRowOut(ApiModel):
    """One group's figures: ratios in percent (two places, half up; null when undefined,
    e.g. no planned production time), minutes, counts and the six big losses in minutes."""

    group: dict[str, str | None] = Field(
        description="The group's keys: equipment, line, shift + production_day, product, order, day"
    )
    availability: Amount | None
    performance: Amount | None
    quality: Amount | None
    oee: Amount | None
    utilisation: Amount | None
    teep: Amount | None
    count_quality: Amount | None = Field(description="good / total, unweighted")
    total_count: int
    good_count: int
    reject_count: int
    minutes: dict[str, Amount]
    losses: dict[str, Amount]
    performance_exceeds_ideal: bool
    counts_without_run_time: bool


class ParetoBarOut(ApiModel):
    label: str
    minutes: Amount
    events: int
    share: Amount
    cumulative_share: Amount


class UnclassifiedOut(ApiModel):
    id: int
    equipment: str
    started_at: datetime
    ended_at: datetime
    minutes: Amount
    source: str
    erp_order_id: str | None
    waiting_minutes: Amount


class DetectIn(StrictInput):
    start: Moment
    end: Moment
    equipment: list[PlantCode] | None = Field(default=None, max_length=1000)


class ClassifyIn(StrictInput):
    reason_code: PlantCode = Field(description="A reason or detail of the reason tree")


class SplitIn(StrictInput):
    at: Moment = Field(description="Where the stop is split: strictly inside it")
    first_reason_code: PlantCode | None = None
    second_reason_code: PlantCode | None = None


class MergeIn(StrictInput):
    ids: list[FactId] = Field(min_length=2, max_length=100)
    reason_code: PlantCode | None = None


class MaintenanceStartIn(StrictInput):
    note: Note
    request_id: RowId | None = None
    at: Moment | None = None


class MaintenanceEndIn(StrictInput):
    at: Moment | None = None


class MaintenancePeriodOut(ApiModel):
    id: int
    equipment_id: int
    request_id: int | None
    note: str
    started_at: datetime
    ended_at: datetime | None


class RuleIn(StrictInput):
    equipment: PlantCode
    kind: str = Field(pattern=r"^(run_hours|cycle_count|repeated_downtime)$")
    threshold: Annotated[Decimal, Field(gt=0, le=Decimal("999999999"), decimal_places=6)]
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
    window_minutes: Annotated[int, Field(ge=1, le=525_600)] | None = None
    reason_code: PlantCode | None = None


class RuleOut(ApiModel):
    id: int
    equipment: str
    kind: str
    name: str
    threshold: Amount
    window_minutes: int | None
    reason: str | None
    active: bool


class RequestOut(ApiModel):
    """An item for the supervisor: maintenance asked for by a rule."""

    id: int
    equipment: str
    rule: str | None
    kind: str | None
    status: str
    measured: Amount | None
    threshold: Amount | None
    note: str
    raised_at: datetime
    closed_at: datetime | None
