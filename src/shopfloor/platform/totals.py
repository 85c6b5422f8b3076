"""Running totals of append-only facts: Σ quantity per key, kept with every fact written.

A rule that needs what was reported or consumed so far (the flow check of a production
report, the norm check of a consumption) reads one row per key instead of summing the
order's whole history, so its cost stays the same on the thousandth fact as on the first.
The facts stay the record; a total is what their quantities add up to, and the fact
writers keep it: each adds the quantity it appends (a reversal its negated quantity).

On PostgreSQL the addition is an exact NUMERIC upsert written with the command's other
deferred rows; on SQLite, whose arithmetic on decimal text would be floating point, the
row is read and written back as a Decimal (its writers are serialised anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from shopfloor.kernel.quantities import qty
from shopfloor.platform import deferred, direct


class RunningTotal:
    """Σ `quantity` of a table keyed by `keys` (its primary key, without the quantity)."""

    def __init__(self, table: Table, keys: Sequence[str]) -> None:
        self.table, self.keys = table, tuple(keys)
        t = table.c
        self._current = select(t.quantity).where(*(t[k] == bindparam(k) for k in self.keys))
        self._first = table.insert()
        self._update = (
            table.update()
            .where(*(t[k] == bindparam(f"k_{k}") for k in self.keys))
            .values(quantity=bindparam("amount"))
        )

    def add(self, session: Session, amount: Decimal, **key: Any) -> None:
        """Add `amount` to the total of `key` (created at zero when new)."""
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            deferred.defer(session, _upsert(self.table, self.keys), {**key, "quantity": amount})
            return
        current = connection.execute(self._current, key).scalar_one_or_none()
        if current is None:
            connection.execute(self._first, {**key, "quantity": qty(amount)})
        else:
            params = {f"k_{k}": v for k, v in key.items()}
            connection.execute(self._update, {**params, "amount": qty(current) + qty(amount)})

    def read(self, session: Session, statement: Any, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of `statement` (a select over the totals) after the deferred additions."""
        deferred.flush(session)
        return direct.rows(session, statement, params)


@cache
def _upsert(table: Table, keys: tuple[str, ...]) -> Insert:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET quantity = quantity + the new amount."""
    stmt = postgresql.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={"quantity": table.c.quantity + stmt.excluded.quantity}
    )
