"""Request and response models of the floor's endpoints: operations, reports, material,
labour, downtime, corrections, the exceptions inbox, and lots and serial numbers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import (
    Amount,
    Count,
    Moment,
    Note,
    PlantCode,
    PlantDate,
    Quantity,
    Reason,
    RowId,
    UnitCode,
)
from shopfloor.api.schemas_orders import MoveOut

At = Annotated[Moment | None, Field(description="When it happened; default: now")]
FactId = Annotated[int, Field(ge=1, le=2**63 - 1)]

# --- operations ---------------------------------------------------------------------------


class StartIn(StrictInput):
    operator_id: RowId | None = Field(
        default=None, description="Who works on it; default: the signed-in person"
    )
    at: At = None


class PauseIn(StrictInput):
    reason: Reason
    at: At = None


class MomentIn(StrictInput):
    at: At = None


class OperationEventOut(ApiModel):
    """A status change of an operation: who moved it from what to what, and when."""

    id: int
    operation_id: int
    order_id: int
    command: str
    from_status: str
    to_status: str
    user_id: int
    reason: str | None
    discrepancy: str | None = Field(description="Set when ERP had not released the order")
    occurred_at: datetime


# --- production, material, labour, downtime -----------------------------------------------


class ProductionIn(StrictInput):
    kind: Literal["good", "scrap", "rework"]
    quantity: Quantity
    uom_code: UnitCode | None = Field(default=None, description="Must be the order's unit")
    lot_code: PlantCode | None = Field(default=None, description="Product lot (new: created)")
    serial: PlantCode | None = Field(default=None, description="Serial number of one unit")
    quality_code: PlantCode | None = Field(
        default=None, description="Scrap needs a scrap/defect code, rework a rework/defect code"
    )
    reason: Note | None = None
    occurred_at: At = None


class ProductionReportOut(ApiModel):
    id: int
    order_id: int
    operation_id: int
    kind: str
    quantity: Amount
    lot_id: int | None
    serial_id: int | None
    quality_code_id: int | None
    reason: str | None
    discrepancy: str | None
    bom_version: str
    routing_version: str
    user_id: int
    occurred_at: datetime
    recorded_at: datetime


class ConsumptionIn(StrictInput):
    item_code: PlantCode
    quantity: Quantity
    lot_code: PlantCode | None = Field(default=None, description="Needed for lot-tracked items")
    uom_code: UnitCode | None = None
    operation_no: Count | None = None
    overuse_reason: Reason | None = Field(
        default=None, description="Needed above norm * (1 + tolerance %) for the whole order"
    )
    substitute_for: PlantCode | None = Field(
        default=None, description="The BOM component this approved alternative replaces"
    )
    into_lot: PlantCode | None = Field(default=None, description="Product lot it went into")
    into_serial: PlantCode | None = Field(default=None, description="Product unit it went into")
    occurred_at: At = None


class ReturnIn(StrictInput):
    item_code: PlantCode
    quantity: Quantity
    lot_code: PlantCode | None = None
    uom_code: UnitCode | None = None
    operation_no: Count | None = None
    reason: Note | None = None
    occurred_at: At = None


class LaborIn(StrictInput):
    worker_id: RowId | None = Field(default=None, description="Default: the signed-in person")
    started_at: Moment
    ended_at: Moment


class LaborOut(ApiModel):
    id: int
    order_id: int
    operation_id: int
    worker_id: int
    started_at: datetime
    ended_at: datetime
    minutes: Amount
    discrepancy: str | None
    recorded_at: datetime


class DowntimeIn(StrictInput):
    work_center_code: PlantCode
    reason_code: PlantCode
    started_at: Moment
    ended_at: Moment
    order_id: RowId | None = None
    operation_id: RowId | None = None
    note: Note | None = None


class DowntimeOut(ApiModel):
    id: int
    work_center_id: int
    order_id: int | None
    operation_id: int | None
    reason_id: int | None
    planned: bool
    source: str
    started_at: datetime
    ended_at: datetime
    minutes: Amount
    note: str | None
    discrepancy: str | None
    recorded_at: datetime


# --- corrections and exceptions -----------------------------------------------------------


class CorrectionIn(StrictInput):
    fact: Literal["production", "move", "labor", "downtime"] = Field(
        description="production report, material move, labour record or downtime"
    )
    fact_id: FactId
    reason: Reason


class CorrectionOut(ApiModel):
    """The reversing entry: the original's quantity (or minutes) negated."""

    fact: str
    fact_id: int
    reversal_id: int
    quantity: Amount | None = None
    minutes: Amount | None = None
    reason: str | None
    discrepancy: str | None
    recorded_at: datetime


class FlaggedFactOut(ApiModel):
    fact: str
    fact_id: int
    kind: str
    order_id: int
    erp_order_id: str
    discrepancy: str
    occurred_at: datetime


# --- lots and serial numbers --------------------------------------------------------------


class LotIn(StrictInput):
    item_code: PlantCode
    lot_code: PlantCode
    origin: Literal["erp_receipt", "floor"] = "erp_receipt"
    expires_on: PlantDate | None = None
    status: Literal["released", "on_hold", "quarantined"] = "released"
    order_id: RowId | None = Field(default=None, description="The order that made it")


class LotStatusIn(StrictInput):
    status: Literal["released", "on_hold", "quarantined"]
    reason: Reason


class LotOut(ApiModel):
    id: int
    item: str = Field(description="Item code")
    code: str
    status: str
    origin: str
    expires_on: date | None
    order_id: int | None


class SerialIn(StrictInput):
    item_code: PlantCode
    serial: PlantCode
    lot_id: RowId | None = None
    order_id: RowId | None = None


class SerialOut(ApiModel):
    id: int
    item_code: str
    serial: str
    lot_id: int | None
    order_id: int | None
    status: str


class GenealogyEntryOut(ApiModel):
    kind: str = Field(description="lot or serial")
    id: int
    item: str
    code: str
    depth: int = Field(description="Steps away from the lot asked about")
    via_kind: str
    via_id: int


class GenealogyOut(ApiModel):
    lot: LotOut
    direction: str
    entries: list[GenealogyEntryOut]


class LotDetailOut(LotOut):
    moves: list[MoveOut] = Field(description="Every move from, of or into the lot")
