"""The floor of the API benchmark: a bare FastAPI app whose one POST endpoint inserts one
row through SQLAlchemy (the engine shopfloor uses) and answers JSON. No auth, no
idempotency, no rules, no audit, no outbox: what any HTTP write costs on this machine.

Served with `uvicorn bench.lib.floor_app:create_app --factory`; the database URL comes from
`BENCH_FLOOR_DATABASE_URL`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.engine import Engine

from shopfloor.platform.db import make_engine

HEALTH_PATH = "/floor/healthz"
metadata = MetaData()
facts = Table(
    "bench_floor_fact",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("ref", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", Numeric(18, 6), nullable=False),
    Column("request_key", String(255)),
    Column("payload", JSON),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


class Fact(BaseModel):
    kind: str
    quantity: Decimal


def create_table(engine: Engine) -> None:
    """Create the floor's table (once, before the server starts its workers)."""
    metadata.create_all(engine)


def create_app(engine: Engine | None = None) -> FastAPI:
    engine = engine or make_engine(os.environ["BENCH_FLOOR_DATABASE_URL"])
    app = FastAPI(title="shopfloor benchmark floor")

    @app.get(HEALTH_PATH)
    def health() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.post("/floor/{ref}/facts", status_code=201)
    def record(
        ref: int,
        body: Fact,
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    ) -> JSONResponse:
        values: dict[str, Any] = {
            "ref": ref,
            "kind": body.kind,
            "quantity": body.quantity,
            "request_key": idempotency_key,
            "payload": {"kind": body.kind, "quantity": str(body.quantity)},
            "recorded_at": datetime.now(UTC),
        }
        with engine.begin() as conn:
            new_id = conn.execute(insert(facts).values(**values).returning(facts.c.id)).scalar_one()
        return JSONResponse(
            {"id": new_id, "ref": ref, "kind": body.kind, "quantity": str(body.quantity)},
            status_code=201,
        )

    return app
