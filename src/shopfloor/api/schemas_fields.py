"""Field types shared by the request bodies and parameters of the plant routers.

Every bound here mirrors a column: codes fit their column, free text carries no control
characters (PostgreSQL refuses NUL), quantities fit NUMERIC(18,6), ids fit an INTEGER, and
times carry their time zone. Bad input is therefore a 422 naming the field, never a 500.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, Field, PlainSerializer

from shopfloor.identity.domain import ROLES
from shopfloor.kernel.quantities import fmt

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-/ ]*$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"
MAX_ID = 2**31 - 1
MAX_QUANTITY = Decimal("999999999")

EVERY_ROLE = tuple(role for role in ROLES if role != "admin")

PlantCode = Annotated[
    str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN, examples=["WS-100"])
]
UnitCode = Annotated[
    str, Field(min_length=1, max_length=16, pattern=CODE_PATTERN, examples=["pcs"])
]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=ONE_LINE)]
ShortName = Annotated[str, Field(min_length=1, max_length=100, pattern=ONE_LINE)]
Reason = Annotated[
    str,
    Field(
        min_length=3,
        max_length=2000,
        pattern=NO_NUL,
        description="Why: recorded in the audit trail",
    ),
]
Note = Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=1, le=999_999)]

Quantity = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_QUANTITY,
        max_digits=18,
        decimal_places=6,
        description="A positive quantity, up to six decimal places",
    ),
]
NonNegative = Annotated[Decimal, Field(ge=0, le=MAX_QUANTITY, max_digits=18, decimal_places=6)]
Percent = Annotated[Decimal, Field(ge=0, le=1000, max_digits=18, decimal_places=6)]

Amount = Annotated[
    Decimal,
    PlainSerializer(fmt, return_type=str, when_used="json"),
    Field(description="An exact decimal as text, without trailing zeros: 42, 0.5"),
]
"""A quantity, factor or number of minutes in a response."""


def _plant_date(value: date) -> date:
    if not 1900 <= value.year <= 2999:
        raise ValueError("a date between the years 1900 and 2999")
    return value


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _plant_time(value: datetime) -> datetime:
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("a time between 1970 and 2200")
    return value.astimezone(UTC)


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time of day without a time zone (the calendar has one)")
    return value


PlantDate = Annotated[date, AfterValidator(_plant_date)]
Moment = Annotated[
    AwareDatetime,
    AfterValidator(_plant_time),
    Field(description="ISO 8601 with time zone, e.g. 2026-03-02T06:00:00Z"),
]
LocalTime = Annotated[time, AfterValidator(_local_time)]

# --- path and query parameters -----------------------------------------------------------

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="shopfloor id")]
CodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=CODE_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many rows (≤ 500)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Skip this many rows")]
