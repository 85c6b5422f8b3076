"""Core statements of the hot path run on the session's DBAPI connection, compiled once.

A command's reads and appends are a few small statements each. Through SQLAlchemy's
`Connection.execute` every one of them pays for the execution context, the result object
and its metadata — measured at about 45 µs a statement, on top of the driver's own 60.
Here a statement is compiled once per dialect
into its SQL text, the bind processors of its parameters and the result processors of its
columns, exactly as SQLAlchemy would apply them; each run then only converts the values
and hands the SQL to psycopg (which prepares it server-side after a few runs).

On SQLite the statement runs through SQLAlchemy as before. Statements with expanding
parameters (`IN` over a list) are not taken: they must run through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import psycopg
from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None


@dataclass
class _Ready:
    sql: str
    binds: tuple[tuple[str, str, Processor], ...]  # parameter key, name in the SQL, processor
    constants: Mapping[str, Any]  # values written into the statement, processed
    types: tuple[Any, ...]  # the SQLAlchemy type of each result column
    results: tuple[Processor, ...] | None = None  # per column, once the driver's types are
    # known (SQLAlchemy picks some by them); empty when no column needs one

    def processors(self, dialect: Dialect, cursor: Any) -> tuple[Processor, ...]:
        """Found on the first run (psycopg builds `description` anew at each access)."""
        if self.results is None:
            found = tuple(
                kind._cached_result_processor(dialect, column.type_code)
                for kind, column in zip(self.types, cursor.description, strict=True)
            )
            self.results = found if any(found) else ()
        return self.results


@lru_cache(maxsize=1024)
def _ready(statement: Executable, dialect: Dialect, columns: tuple[str, ...] | None) -> _Ready:
    """`columns`: for an INSERT, the columns given values (as SQLAlchemy compiles it)."""
    compiled: Any = cast(Any, statement).compile(dialect=dialect, column_keys=columns)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError(f"expanding parameters: run through SQLAlchemy: {compiled.string}")
    if getattr(compiled, "insert_prefetch", None):
        raise ValueError(f"Python-side column defaults: run through SQLAlchemy: {compiled.string}")
    processors = compiled._bind_processors
    binds, constants = [], {}
    for bind, name in compiled.bind_names.items():
        process = processors.get(name)
        if bind.required:
            binds.append((bind.key, name, process))
        else:
            value = bind.effective_value
            constants[name] = process(value) if process else value
    types = tuple(column.type for column in compiled._result_columns)
    return _Ready(compiled.string, tuple(binds), constants, types)


def rows(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Every row of `statement` (a Core SELECT, or DML with RETURNING) as tuples."""
    given = params or {}
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(statement, dict(given))]
    columns = tuple(sorted(given)) if isinstance(statement, Insert) else None
    ready = _ready(statement, connection.dialect, columns)
    values = dict(ready.constants)
    for key, name, process in ready.binds:
        values[name] = process(given[key]) if process else given[key]
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        with driver.cursor() as cursor:
            cursor.execute(ready.sql, values)
            if not ready.types:  # no result columns: a statement without RETURNING
                return []
            fetched: list[tuple[Any, ...]] = cursor.fetchall()
            processors = ready.processors(connection.dialect, cursor)
    except psycopg.Error as exc:
        raise DBAPIError.instance(ready.sql, values, exc, psycopg.Error) from exc
    if not processors:
        return fetched
    return [
        tuple(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in fetched
    ]


def first(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of `statement`, or None."""
    found = rows(session, statement, params)
    return found[0] if found else None
