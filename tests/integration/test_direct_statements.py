"""Statements run on the driver (`platform.direct`) answer exactly what SQLAlchemy would:
the same values of the same types (UTC times, exact quantities, JSON), constants bound,
INSERTs compiled for the columns given; and they fail the way SQLAlchemy would."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry
from shopfloor.demo.plant import seed_demo_plant
from shopfloor.materials.tables import Lot, MaterialMove
from shopfloor.platform import direct
from shopfloor.platform.db import append

_MOVES = select(
    MaterialMove.id, MaterialMove.kind, MaterialMove.quantity, MaterialMove.occurred_at
).where(MaterialMove.order_id == bindparam("order_id"), MaterialMove.kind == "consume")
_AUDIT = select(AuditEntry.action, AuditEntry.new_value, AuditEntry.recorded_at).where(
    AuditEntry.entity_type == bindparam("kind")
)


def test_rows_equal_what_sqlalchemy_reads(session, ctx):
    seed_demo_plant(session, ctx)
    audit.record(session, ctx, "thing.noted", "thing", 1, new={"at": ctx.now, "n": 2})
    session.flush()
    order_id = session.scalars(select(MaterialMove.order_id).where(MaterialMove.kind == "consume"))
    params = {"order_id": order_id.first()}
    assert direct.rows(session, _MOVES, params) == [
        tuple(r) for r in session.execute(_MOVES, params)
    ]
    ((_, kind, quantity, occurred_at),) = direct.rows(session, _MOVES, params)[:1]
    assert kind == "consume" and isinstance(quantity, Decimal) and occurred_at.tzinfo is not None
    found = direct.rows(session, _AUDIT, {"kind": "thing"})
    assert found == [("thing.noted", {"at": ctx.now.isoformat(), "n": 2}, ctx.now)]
    assert direct.first(session, _AUDIT, {"kind": "nothing"}) is None


def test_an_insert_is_compiled_for_the_columns_given(session, ctx):
    seed_demo_plant(session, ctx)
    lot = session.scalars(select(Lot)).first()
    assert lot is not None
    values = {"item_id": lot.item_id, "code": "DIRECT-1", "status": "released",
              "origin": "floor", "created_at": ctx.now}  # fmt: skip
    new_id = append(session, Lot, values)
    assert session.get(Lot, new_id) is not None and session.get(Lot, new_id).code == "DIRECT-1"
    with pytest.raises(IntegrityError):  # the same lot code of the same item again
        direct.rows(session, insert(Lot).returning(Lot.id), values)


def test_expanding_parameters_are_refused_on_postgresql(session, db_url):
    listed = select(Lot.id).where(Lot.id.in_(bindparam("ids", expanding=True)))
    if not db_url.startswith("postgresql"):
        assert direct.rows(session, listed, {"ids": [1, 2]}) == []  # SQLAlchemy runs it
        return
    with pytest.raises(ValueError, match="expanding"):
        direct.rows(session, listed, {"ids": [1, 2]})
