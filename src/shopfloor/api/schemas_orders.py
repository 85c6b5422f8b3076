"""Request and response models of the order endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import (
    MAX_ID,
    Amount,
    PlantCode,
    PlantDate,
    Quantity,
    Reason,
    UnitCode,
)

ErpStatus = Literal["created", "released", "closed"]
ExecutionStatus = Literal["queued", "dispatched", "running", "paused", "completed", "aborted"]


class OrderIn(StrictInput):
    erp_order_id: PlantCode = Field(description="ERP's order number: the glue key")
    erp_version: Annotated[int, Field(ge=1, le=MAX_ID)] = Field(
        description="ERP's revision of the order; an older one than recorded is refused"
    )
    item_code: PlantCode
    quantity: Quantity
    uom_code: UnitCode
    due_date: PlantDate
    priority: Annotated[int, Field(ge=1, le=9)] = Field(
        default=5, description="1 = most urgent … 9"
    )
    erp_status: ErpStatus = "created"
    bom_version: PlantCode | None = Field(
        default=None, description="Exact BOM version; none: the one effective today"
    )
    routing_version: PlantCode | None = Field(
        default=None, description="Exact routing version; none: the one effective today"
    )
    origin: Literal["erp", "mes"] = Field(
        default="erp", description="'mes' for unplanned work opened on the floor"
    )


class ReleaseIn(StrictInput):
    reason: Reason | None = Field(
        default=None, description="Needed when ERP has not released the order yet"
    )


class AbortIn(StrictInput):
    reason: Reason


class OrderOut(ApiModel):
    id: int
    erp_order_id: str
    erp_version: int
    origin: str
    item_code: str
    item_name: str
    quantity: Amount
    uom_code: str
    due_date: date
    priority: int
    erp_status: str
    execution_status: str
    bom_version: str
    routing_version: str
    received_at: datetime
    released_at: datetime | None
    completed_at: datetime | None


class OperationProgressOut(ApiModel):
    operation_no: int
    name: str
    work_center: str
    status: str
    planned: Amount
    good: Amount
    scrap: Amount
    rework: Amount
    started_at: datetime | None
    completed_at: datetime | None


class ComponentProgressOut(ApiModel):
    line_no: int
    item: str
    unit: str
    norm: Amount
    tolerance_pct: Amount
    consumed: Amount
    returned: Amount
    net: Amount
    overuse_reasons: list[str]
    substitutes: dict[str, Amount] = Field(
        description="Approved alternative item code → net quantity used instead"
    )

    @field_validator("substitutes", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        return dict(value) if isinstance(value, list | tuple) else value


class OrderDetailOut(OrderOut):
    """The order with plan against actual."""

    good: Amount = Field(description="Good units out of the last operation")
    scrap: Amount = Field(description="Scrap of every operation")
    operations: list[OperationProgressOut]
    components: list[ComponentProgressOut]
    downtime_minutes: dict[str, Amount] = Field(description="Reason code → minutes")
    labor_minutes: Amount


class OperationOut(ApiModel):
    id: int
    operation_no: int
    name: str
    work_center_code: str
    required_skill_code: str | None
    setup_minutes: Amount
    ideal_cycle_seconds: Amount
    status: str
    started_at: datetime | None
    completed_at: datetime | None


class DispatchEntryOut(ApiModel):
    order_id: int
    erp_order_id: str
    item_code: str
    item_name: str
    operation_id: int
    operation_no: int
    operation_name: str
    status: str
    quantity: Amount
    uom_code: str
    due_date: date
    priority: int
    required_skill_code: str | None


class MoveOut(ApiModel):
    """One line of the material ledger; a correction is a new line with `reverses_id`."""

    id: int
    kind: str
    order_id: int | None
    operation_id: int | None
    item_code: str
    lot_code: str | None
    serial: str | None
    quantity: Amount
    uom_code: str
    substitute_for: str | None
    overuse_reason: str | None
    into_lot_code: str | None
    into_serial: str | None
    reverses_id: int | None
    reason: str | None
    discrepancy: str | None
    user_id: int
    occurred_at: datetime
    recorded_at: datetime
