"""Rows a command appends and never reads back — audit entries, outbox events, stored
answers — written together at its end instead of one round trip each.

`defer` keeps the row with the session. The rows are written, in the order they were
deferred, in the same transaction and before anything could miss them:
- by `commit` (the unit of work's): on PostgreSQL in one pipeline with the COMMIT itself,
  so a command's audit entries, events and stored answer cost one round trip in all;
- before any SELECT the session runs (a command reading what it wrote sees it);
- before a savepoint begins, when it is begun with `savepoint` (inside one, `defer` writes
  at once, so a savepoint rolled back takes exactly its own rows with it);
- before any other commit of the session.
A rollback forgets them. A failing row (a stored answer under a key that already has one)
fails the commit with SQLAlchemy's error, as the INSERT itself would have.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import psycopg
from sqlalchemy import Dialect, Table, event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.dml import Insert

_PENDING = "shopfloor_deferred_rows"

Target = Table | Insert  # a table to append to, or an INSERT of its own (an upsert)
Row = tuple[Target, dict[str, Any]]


def defer(session: Session, target: Target, values: dict[str, Any]) -> None:
    """Append one row at the end of the transaction (at once in a savepoint)."""
    if session.in_nested_transaction():
        session.execute(_insert(target), values)
        return
    session.info.setdefault(_PENDING, []).append((target, values))


def _insert(target: Target) -> Insert:
    return insert(target) if isinstance(target, Table) else target


def flush(session: Session) -> None:
    """Write the deferred rows now, inside the transaction."""
    rows: list[Row] | None = session.info.pop(_PENDING, None)
    if rows:
        _write(session, rows, commit=False)


def commit(session: Session) -> None:
    """Write the deferred rows and commit: on PostgreSQL in one round trip."""
    rows: list[Row] | None = session.info.pop(_PENDING, None)
    if rows:
        _write(session, rows, commit=True)
    session.commit()


def savepoint(session: Session) -> SessionTransaction:
    """`with deferred.savepoint(session):` — `begin_nested` with the rows deferred so far
    written first, so they keep their place before the savepoint's own."""
    flush(session)
    return session.begin_nested()


def _write(session: Session, rows: list[Row], *, commit: bool) -> None:
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        for target, batch in _runs(rows):
            session.execute(_insert(target), batch)
        return
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    sql, params = "", dict[str, Any]()
    try:
        with driver.pipeline(), driver.cursor() as cursor:
            for target, values in rows:
                sql, params = _statement(target, frozenset(values), dialect)(values)
                cursor.execute(sql, params)
            if commit:
                driver.commit()  # queued behind the rows: one round trip for all
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc


def _runs(rows: list[Row]) -> list[tuple[Target, list[dict[str, Any]]]]:
    """Consecutive rows of one target as one batch (one executemany), order kept."""
    runs: list[tuple[Target, list[dict[str, Any]]]] = []
    for target, values in rows:
        if runs and runs[-1][0] is target:
            runs[-1][1].append(values)
        else:
            runs.append((target, [values]))
    return runs


Render = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


@cache
def _statement(target: Target, columns: frozenset[str], dialect: Dialect) -> Render:
    """The INSERT as the driver gets it from SQLAlchemy, and its values made ready the way
    SQLAlchemy makes them (JSON serialised, UTC times checked), compiled once."""
    statement = _insert(target)
    table = statement.table
    sql = str(statement.compile(dialect=dialect, column_keys=sorted(columns)))
    processors = {
        name: processor
        for name in columns
        if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    }

    def render(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return sql, {
            name: processors[name](value) if name in processors else value
            for name, value in values.items()
        }

    return render


@event.listens_for(Session, "do_orm_execute")
def _before_select(state: ORMExecuteState) -> None:
    if state.is_select and state.session.info.get(_PENDING):
        flush(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    flush(session)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
