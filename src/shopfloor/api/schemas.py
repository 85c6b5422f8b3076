"""API models shared by several routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StrictInput(BaseModel):
    """Base of request bodies: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/ ]*$")
Reason = Field(min_length=3, max_length=2000, description="Why: recorded in the audit trail")


class AuditEntryOut(ApiModel):
    id: int
    recorded_at: datetime
    actor_id: int
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    old_value: Any = None
    new_value: Any = None
    reason: str | None = None
    seq: int | None = None
    hash: str | None = None
