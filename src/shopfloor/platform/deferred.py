"""Rows a command appends and never reads back — audit entries, outbox events, stored
answers — written together at its end instead of one round trip each.

`defer` keeps the row with the session. The rows are written in the same transaction and
before anything could miss them:
- before the session commits;
- before any SELECT the session runs (a command reading what it wrote sees it);
- before a savepoint begins, when it is begun with `savepoint` (inside one, `defer` writes
  at once, so a savepoint rolled back takes exactly its own rows with it).
On PostgreSQL they go as one statement: each table's rows one multi-row INSERT, in the
order deferred, the INSERTs joined as data-modifying WITH clauses — a command's audit
entries, events, totals and stored answer cost one statement in all. (Not in a psycopg
pipeline with the COMMIT: measured under load, the pipeline cost more CPU than the round
trip it saves.)
A rollback forgets them. A failing row (a stored answer under a key that already has one)
fails the commit with SQLAlchemy's error, as the INSERT itself would have.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

import psycopg
from sqlalchemy import JSON, Dialect, Table, bindparam, event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.dml import Insert

from shopfloor.platform.db import to_json

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
        _write(session, rows)


def savepoint(session: Session) -> SessionTransaction:
    """`with deferred.savepoint(session):` — `begin_nested` with the rows deferred so far
    written first, so they keep their place before the savepoint's own."""
    flush(session)
    return session.begin_nested()


def _write(session: Session, rows: list[Row]) -> None:
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        for target, batch in _runs(rows):
            session.execute(_insert(target), batch)
        return
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    sql, params = "", dict[str, Any]()
    try:
        with driver.cursor() as cursor:
            for groups in _statements(rows):
                shape = tuple((t, columns, len(batch)) for t, columns, batch in groups)
                sql, params = _compiled(shape, dialect)([batch for _, _, batch in groups])
                cursor.execute(sql, params)
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


Group = tuple[Target, tuple[str, ...], list[dict[str, Any]]]


def _statements(rows: list[Row]) -> list[list[Group]]:
    """The rows as few statements as can hold them, each one INSERT per table (its rows
    as one multi-row VALUES, in the order deferred). A row that cannot join its table's
    INSERT — other columns, or a second upsert, which could meet the first's key — begins
    the next statement."""
    statements: list[list[Group]] = [[]]
    by_target: dict[Target, Group] = {}
    for target, values in rows:
        columns = tuple(sorted(values))
        group = by_target.get(target)
        if group is not None and (group[1] != columns or isinstance(target, Insert)):
            statements.append([])
            by_target.clear()
            group = None
        if group is None:
            group = (target, columns, [])
            by_target[target] = group
            statements[-1].append(group)
        group[2].append(values)
    return statements


def _processor(column: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy would do to a value of the column; JSON written as its text (the
    statement casts it), which spares psycopg a JSON wrapper and dumper per value."""
    if isinstance(column.type, JSON):
        return to_json  # None too: SQLAlchemy writes it as JSON null
    kind = column.type.dialect_impl(dialect)
    return cast(Callable[[Any], Any] | None, kind.bind_processor(dialect))


Shape = tuple[tuple[Target, tuple[str, ...], int], ...]
Render = Callable[[list[list[dict[str, Any]]]], tuple[str, dict[str, Any]]]


@lru_cache(maxsize=512)
def _compiled(shape: Shape, dialect: Dialect) -> Render:
    """One statement for groups of rows of this shape, compiled once: each table's INSERT
    with its rows as one VALUES list, all but the last as data-modifying WITH clauses of
    the last (PostgreSQL runs each of them exactly once, whatever the last one reads).
    Values are made ready the way SQLAlchemy makes them (JSON serialised, UTC checked)."""
    parts: list[str] = []
    binds: list[tuple[str, int, int, str, Callable[[Any], Any] | None]] = []
    for g, (target, columns, count) in enumerate(shape):
        statement = _insert(target)
        names = [{c: f"g{g}_{n}_{c}" for c in columns} for n in range(count)]
        compiled = statement.values(
            [{c: bindparam(name) for c, name in row.items()} for row in names]
        ).compile(dialect=dialect)
        if set(compiled.params) != {name for row in names for name in row.values()}:
            raise ValueError(f"deferred rows of {statement.table} need values for every column")
        parts.append(str(compiled))
        for n, row in enumerate(names):
            for column, name in row.items():
                binds.append((name, g, n, column, _processor(statement.table.c[column], dialect)))
    sql = parts[-1]
    if len(parts) > 1:
        sql = "WITH " + ", ".join(f"w{g} AS ({p})" for g, p in enumerate(parts[:-1])) + " " + sql

    def render(groups: list[list[dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {}
        for name, g, n, column, process in binds:
            value = groups[g][n][column]
            params[name] = process(value) if process else value
        return sql, params

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
