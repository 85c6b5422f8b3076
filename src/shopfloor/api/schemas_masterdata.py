"""Request and response models of the master-data endpoints."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import (
    ONE_LINE,
    Amount,
    Count,
    LocalTime,
    Name,
    NonNegative,
    Percent,
    PlantCode,
    PlantDate,
    Quantity,
    Reason,
    RowId,
    ShortName,
    UnitCode,
    Username,
)

Dimension = Literal["count", "mass", "length", "area", "volume", "time"]
EquipmentLevel = Literal["enterprise", "site", "area", "line", "work_center", "equipment"]
ReasonLevel = Literal["category", "reason", "detail"]
QualityKind = Literal["scrap", "defect", "rework"]
Minutes = Annotated[int, Field(ge=0, le=1440)]
AttributeKey = Annotated[str, Field(min_length=1, max_length=64, pattern=ONE_LINE)]
AttributeValue = Annotated[str, Field(max_length=500, pattern=ONE_LINE)]

# --- units --------------------------------------------------------------------------------


class UomIn(StrictInput):
    code: UnitCode
    name: Name
    dimension: Dimension


class UomOut(ApiModel):
    id: int
    code: str
    name: str
    dimension: str


class UomConversionIn(StrictInput):
    from_uom: UnitCode
    to_uom: UnitCode
    factor: Quantity = Field(description="1 from_uom = factor * to_uom")
    item_code: PlantCode | None = Field(
        default=None, description="Only for this item (e.g. 1 box = 12 pcs, 1 kg = 40 pcs)"
    )


class UomConversionOut(ApiModel):
    id: int
    from_uom: str
    to_uom: str
    factor: Amount
    item_code: str | None


# --- equipment ----------------------------------------------------------------------------


class EquipmentIn(StrictInput):
    code: PlantCode
    name: Name
    level: EquipmentLevel
    parent_code: PlantCode | None = Field(default=None, description="One level above")
    calendar_code: PlantCode | None = None


class EquipmentOut(ApiModel):
    id: int
    code: str
    name: str
    level: str
    parent_code: str | None
    calendar_code: str | None
    active: bool


class EquipmentNodeOut(ApiModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    calendar_code: str | None
    children: list[EquipmentNodeOut] = []


# --- items, BOMs, routings ----------------------------------------------------------------


class ItemIn(StrictInput):
    code: PlantCode
    name: Name
    uom_code: UnitCode
    lot_tracked: bool = False
    serial_tracked: bool = False
    erp_version: PlantCode | None = None
    attributes: dict[AttributeKey, AttributeValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Local attributes, e.g. line code or label template",
    )


class ItemOut(ApiModel):
    code: str
    name: str
    uom_code: str
    lot_tracked: bool
    serial_tracked: bool
    erp_version: str | None
    attributes: dict[str, str]


class AlternativeIn(StrictInput):
    item_code: PlantCode
    ratio: Quantity = Field(default=Decimal(1), description="Units of it per unit replaced")


class BomLineIn(StrictInput):
    line_no: Count
    item_code: PlantCode
    quantity: Quantity
    uom_code: UnitCode
    tolerance_pct: Percent = Decimal(0)
    operation_no: Count | None = None
    alternatives: list[AlternativeIn] = Field(default_factory=list, max_length=20)


class BomIn(StrictInput):
    version: PlantCode
    quantity: Quantity = Field(default=Decimal(1), description="The lines are per this much")
    effective_from: PlantDate
    effective_to: PlantDate | None = None
    lines: list[BomLineIn] = Field(min_length=1, max_length=500)


class AlternativeOut(ApiModel):
    item_code: str
    ratio: Amount


class BomLineOut(ApiModel):
    line_no: int
    item_code: str
    item_name: str
    quantity: Amount
    uom_code: str
    tolerance_pct: Amount
    operation_no: int | None
    alternatives: list[AlternativeOut]


class BomOut(ApiModel):
    id: int
    item_code: str
    version: str
    quantity: Amount
    effective_from: date
    effective_to: date | None
    recorded_at: datetime
    lines: list[BomLineOut]


class OperationIn(StrictInput):
    operation_no: Count
    name: Name
    work_center_code: PlantCode
    setup_minutes: NonNegative = Decimal(0)
    ideal_cycle_seconds: NonNegative = Decimal(0)
    required_skill_code: PlantCode | None = None


class RoutingIn(StrictInput):
    version: PlantCode
    effective_from: PlantDate
    effective_to: PlantDate | None = None
    operations: list[OperationIn] = Field(min_length=1, max_length=200)


class RoutingOperationOut(ApiModel):
    operation_no: int
    name: str
    work_center_code: str
    setup_minutes: Amount
    ideal_cycle_seconds: Amount
    required_skill_code: str | None


class RoutingOut(ApiModel):
    id: int
    item_code: str
    version: str
    effective_from: date
    effective_to: date | None
    recorded_at: datetime
    operations: list[RoutingOperationOut]


# --- skills and certifications ------------------------------------------------------------


class SkillIn(StrictInput):
    code: PlantCode
    name: Name


class SkillOut(ApiModel):
    id: int
    code: str
    name: str


class CertificationIn(StrictInput):
    user_id: RowId | None = Field(default=None, description="The person, by id …")
    username: Username | None = Field(default=None, description="… or by user name")
    skill_code: PlantCode
    valid_from: PlantDate
    expires_on: PlantDate | None = Field(default=None, description="Last valid day; none: for good")


class RevokeIn(StrictInput):
    reason: Reason


class CertificationOut(ApiModel):
    id: int
    user_id: int
    username: str
    skill_code: str
    skill_name: str
    valid_from: date
    expires_on: date | None
    revoked: bool
    valid_today: bool


# --- calendars, shifts, crews -------------------------------------------------------------


class CalendarIn(StrictInput):
    code: PlantCode
    name: Name
    timezone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",
        examples=["Europe/Berlin"],
    )


class CalendarOut(ApiModel):
    id: int
    code: str
    name: str
    timezone: str


class BreakIn(StrictInput):
    name: ShortName
    offset_minutes: Minutes = Field(description="Minutes after the shift starts")
    minutes: Annotated[int, Field(ge=1, le=1440)]


class BreakOut(ApiModel):
    name: str
    offset_minutes: int
    minutes: int


class ShiftIn(StrictInput):
    calendar_code: PlantCode
    code: PlantCode
    name: Name
    starts_at: LocalTime = Field(description="Local time in the calendar's time zone")
    minutes: Annotated[int, Field(ge=1, le=1440)]
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="0 = Monday … 6 = Sunday"
    )
    breaks: list[BreakIn] = Field(default_factory=list, max_length=20)


class ShiftOut(ApiModel):
    calendar_code: str
    code: str
    name: str
    starts_at: time
    minutes: int
    weekdays: list[int]
    breaks: list[BreakOut]


class CrewIn(StrictInput):
    code: PlantCode
    name: Name
    shift_code: PlantCode | None = None
    calendar_code: PlantCode | None = Field(
        default=None, description="Needed when the shift code exists in several calendars"
    )
    members: list[Username] = Field(default_factory=list, max_length=500)


class CrewOut(ApiModel):
    code: str
    name: str
    calendar_code: str | None
    shift_code: str | None
    members: list[str]


# --- downtime reasons and quality codes ---------------------------------------------------


class DowntimeReasonIn(StrictInput):
    code: PlantCode
    name: Name
    level: ReasonLevel
    parent_code: PlantCode | None = Field(default=None, description="One level above")
    planned: bool = Field(default=False, description="A planned stop (not an OEE loss)")


class DowntimeReasonOut(ApiModel):
    id: int
    code: str
    name: str
    level: str
    parent_code: str | None
    planned: bool


class ReasonNodeOut(ApiModel):
    code: str
    name: str
    level: str
    planned: bool
    children: list[ReasonNodeOut] = []


class QualityCodeIn(StrictInput):
    code: PlantCode
    name: Name
    kind: QualityKind


class QualityCodeOut(ApiModel):
    id: int
    code: str
    name: str
    kind: str
