"""Database engine, the declarative base with a naming convention, and portable column types.

SQLite (embedded) and PostgreSQL (production) are both first-class: the types below keep
times in UTC and quantities exact on both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    Dialect,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.types import DateTime, TypeDecorator

from shopfloor.kernel.quantities import qty
from shopfloor.platform import direct

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Quantity(TypeDecorator[Decimal]):
    """An exact quantity: NUMERIC(18,6) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 6))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = qty(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else qty(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME  # times as `datetime.isoformat` writes them
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def to_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; decimals and times as strings. (orjson: it
    writes every audit entry, event and stored answer, several times faster than `json`.)"""
    return orjson.dumps(value, default=_json_default, option=_CANONICAL).decode()


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=to_json,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(
        url,
        json_serializer=to_json,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def make_async_engine(url: str, pool_size: int) -> AsyncEngine:
    """An asyncio engine on PostgreSQL (psycopg 3's async driver), configured as
    `make_engine`'s: for work that runs on an event loop beside its network I/O."""
    return create_async_engine(
        url, json_serializer=to_json, pool_size=pool_size, max_overflow=0, pool_pre_ping=True
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_INTENT = "shopfloor_write"


def _sqlite_begin_immediate(connection: Any) -> None:
    """A unit of work takes SQLite's write lock at BEGIN, so two writers queue (busy
    timeout) instead of failing when both try to upgrade a read lock; reads stay deferred
    and never block anyone in WAL mode."""
    write = connection.get_execution_options().get(WRITE_INTENT, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=True)
    event.listen(factory, "loaded_as_persistent", _hold)
    return factory


def _hold(session: Session, instance: object) -> None:
    """Keep every row a session loaded referenced for the session's short life (one command
    or one read). The identity map holds rows weakly: without this, an item read by a join
    and looked up by id a moment later would be gone, and read again."""
    session.info.setdefault("held", []).append(instance)


_CODES = "shopfloor_codes"


def note_codes(session: Session, table: str, codes: dict[int, str]) -> None:
    """Keep the codes of rows a command read as plain columns (not entities) for the
    session's short life, so a view of what it wrote names them without reading again."""
    session.info.setdefault(_CODES, {}).setdefault(table, {}).update(codes)


def noted_codes(session: Session, table: str) -> dict[int, str]:
    found: dict[int, str] = session.info.get(_CODES, {}).get(table, {})
    return found


@cache
def _appending(table: Table) -> ReturningInsert[int]:
    return insert(table).returning(table.c.id)


def append(session: Session, entity: type[Base], values: dict[str, Any]) -> int:
    """INSERT one row of an append-only table and return its id: a plain INSERT, not the
    unit of work, whose bookkeeping costs more than the row (facts are never updated).
    Sent on the session's connection: the session's own execute adds nothing a Core
    statement needs and costs about half as much again as the round trip."""
    statement = _appending(cast(Table, entity.__table__))
    (row,) = direct.rows(session, statement, values)
    return int(row[0])


class QuantitySums:
    """Σ quantity per group of `keys` over the rows matching `where`, exactly; built once
    (with `bindparam`s in `where`), run with their values.

    PostgreSQL sums NUMERIC in the database; SQLite keeps quantities as decimal text, which
    its SUM would turn into floating point, so there the rows are summed here as Decimals.
    """

    def __init__(self, quantity: Any, keys: tuple[Any, ...], *where: Any) -> None:
        self._summed = select(*keys, func.sum(quantity)).where(*where).group_by(*keys)
        self._rows = select(*keys, quantity).where(*where)

    def __call__(self, session: Session, **params: Any) -> dict[tuple[Any, ...], Decimal]:
        """Run on the session's connection (see `append`), after flushing any pending
        entities the sums could depend on."""
        session.flush()
        connection = session.connection()
        in_database = connection.dialect.name == "postgresql"
        totals: dict[tuple[Any, ...], Decimal] = {}
        for row in connection.execute(self._summed if in_database else self._rows, params):
            group, amount = tuple(row[:-1]), row[-1]
            if amount is None:  # SUM over no rows (no GROUP BY) or a NULL quantity
                continue
            totals[group] = totals.get(group, Decimal(0)) + qty(amount)
        return totals
