"""Machine data over HTTP: the batch endpoint for gateways, the tag map, ingest health.

`POST /machine-signals` takes the same JSON messages as the `shopfloor/json/<address>`
MQTT topics (with the address in each message) and answers after the commit: a 200 means
stored. Re-posting the same batch stores nothing twice (the duplicates are counted).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.api.deps import Command, ReadSession, require
from shopfloor.api.schemas_fields import CodePath, IdPath
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.machines import json_format
from shopfloor.machines import tag_map as tags
from shopfloor.machines.ingest import Reading, ingest_batch
from shopfloor.machines.tables import MchEdgeNode, MchIngestStat, MchMetricCurrent
from shopfloor.masterdata.tables import Equipment

router = APIRouter(tags=["machines"])

Integration = Annotated[Actor, require("integration")]
TagEditor = Annotated[Actor, require("planner")]
Reader = Annotated[Actor, require("supervisor", "planner", "quality", "operator")]
Scalar = float | bool | str | None
Time = int | str


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    value: Scalar = None
    ts: Time | None = Field(default=None, description="ISO 8601 or epoch milliseconds")
    historical: bool = False


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=200, examples=["plant1/line2/press3"])
    ts: Time | None = Field(default=None, description="ISO 8601 or epoch milliseconds")
    metrics: dict[str, Scalar] | list[MetricIn] = Field(
        description="name → value (all at `ts`), or a list with times of their own"
    )


class SignalBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[MessageIn] = Field(min_length=1, max_length=5000)


class IngestOut(BaseModel):
    received: int
    stored: int
    duplicates: int
    out_of_order: int
    skewed: int
    unmapped: int
    invalid: int


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["sparkplug", "json", "opcua"]
    address: str = Field(min_length=1, max_length=200)
    metric: str = Field(min_length=1, max_length=200, description="device metric, node id, or *")
    equipment: str = Field(min_length=1, max_length=64)
    kind: Literal["state", "total", "reject", "value", "context", "heartbeat"]
    name: str | None = Field(default=None, min_length=1, max_length=100)
    scale: float = Field(default=1.0, allow_inf_nan=False)
    states: dict[str, str] | None = None


class TagOut(BaseModel):
    id: int
    source: str
    address: str
    metric: str
    equipment: str
    kind: str
    name: str
    scale: float
    states: dict[str, Any] | None


def _readings(body: SignalBatchIn, ctx: CommandContext) -> list[Reading]:
    found: list[Reading] = []
    for message in body.messages:
        raw = message.model_dump(exclude={"address"}, exclude_none=True)
        found += json_format.readings_from(message.address, raw, ctx.now)
    return found


def _ingest(session: Session, ctx: CommandContext, body: SignalBatchIn) -> dict[str, int]:
    result = ingest_batch(session, _readings(body, ctx))
    return {name: getattr(result, name) for name in IngestOut.model_fields}


@router.post("/machine-signals", response_model=IngestOut, summary="Store machine signals")
async def post_signals(body: SignalBatchIn, run: Command, actor: Integration) -> JSONResponse:
    """A batch of JSON machine messages (the `shopfloor/json/…` format), mapped through the
    tag map and stored in one transaction; unmapped metrics are counted, not stored."""
    return await run(actor, lambda s, ctx: _ingest(s, ctx, body))


def _tag_out(tag: Any, code: str) -> dict[str, Any]:
    return {"id": tag.id, "source": tag.source, "address": tag.address, "metric": tag.metric,
            "equipment": code, "kind": tag.kind, "name": tag.name, "scale": tag.scale,
            "states": tag.states}  # fmt: skip


@router.get("/tag-map", response_model=list[TagOut], summary="The tag map")
def get_tags(
    session: ReadSession,
    actor: Annotated[Actor, require("planner", "supervisor")],
    source: Annotated[Literal["sparkplug", "json", "opcua"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    return [_tag_out(tag, code) for tag, code in tags.list_tags(session, source)]


@router.post("/tag-map", response_model=list[TagOut], summary="Add or change tags")
async def post_tags(
    body: Annotated[list[TagIn], Field(min_length=1, max_length=2000)],
    run: Command,
    actor: TagEditor,
) -> JSONResponse:
    """Tags keyed by source, address and metric: a known key is replaced. Workers pick
    changes up within seconds."""
    specs = [tags.TagSpec(**t.model_dump()) for t in body]

    def save(session: Session, ctx: CommandContext) -> list[dict[str, Any]]:
        saved = tags.set_tags(session, ctx, specs)
        codes = {t.equipment_id: c for t, c in tags.list_tags(session)}
        return [_tag_out(tag, codes[tag.equipment_id]) for tag in saved]

    return await run(actor, save)


@router.delete("/tag-map/{tag_id}", summary="Remove a tag")
async def delete_tag(tag_id: IdPath, run: Command, actor: TagEditor) -> JSONResponse:
    def remove(session: Session, ctx: CommandContext) -> dict[str, int]:
        tags.remove_tag(session, ctx, tag_id)
        return {"removed": tag_id}

    return await run(actor, remove)


@router.get("/machine-ingest/health", summary="Ingest health per equipment and edge node")
def ingest_health(session: ReadSession, actor: Reader) -> dict[str, Any]:
    """Per equipment: samples received and stored, duplicates, out-of-order, clock skew
    (largest and latest, ms: server receipt minus device time), deaths, last seen; per
    Sparkplug edge node: online, births, deaths, sequence gaps, rebirth requests."""
    stats = session.execute(
        select(MchIngestStat, Equipment.code).join(Equipment).order_by(Equipment.code)
    ).all()
    nodes = session.scalars(select(MchEdgeNode).order_by(MchEdgeNode.address)).all()
    skip = {"equipment_id"}
    return {
        "equipment": [
            {"equipment": code, **{c: getattr(s, c) for c in _columns(MchIngestStat, skip)}}
            for s, code in stats
        ],
        "edge_nodes": [{c: getattr(n, c) for c in _columns(MchEdgeNode, set())} for n in nodes],
    }


@router.get("/equipment/{code}/current-values", summary="Current metric values")
def current_values(code: CodePath, session: ReadSession, actor: Reader) -> list[dict[str, Any]]:
    """The latest live value of each metric; `stale_since` is set after a device death."""
    rows = session.scalars(
        select(MchMetricCurrent)
        .join(Equipment, Equipment.id == MchMetricCurrent.equipment_id)
        .where(Equipment.code == code)
        .order_by(MchMetricCurrent.metric)
    ).all()
    return [{c: getattr(r, c) for c in _columns(MchMetricCurrent, {"equipment_id"})} for r in rows]


def _columns(table: Any, skip: set[str]) -> list[str]:
    return [c.key for c in table.__table__.columns if c.key not in skip]
