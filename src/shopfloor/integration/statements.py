"""The SQL of the relay: portable statements, and PostgreSQL's faster forms of the hot ones.

On PostgreSQL new events are taken with `FOR UPDATE SKIP LOCKED` through
`= ANY(ARRAY(subquery))` (each row reached by its primary key whatever the outbox's size),
lists travel as one array parameter, and the database writes the message JSON itself.
SQLite gets the plain forms; its write lock keeps relays apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    Row,
    String,
    Table,
    Text,
    any_,
    bindparam,
    insert,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from shopfloor.integration.tables import IntDelivery
from shopfloor.platform.db import UtcDateTime, to_json
from shopfloor.platform.outbox import OutboxEvent

DISPATCHED = "dispatched"
D = IntDelivery
DELIVERY = cast(Table, IntDelivery.__table__)
E = OutboxEvent
EVENT_COLUMNS = (
    E.position, E.event_id, E.type, E.occurred_at, E.recorded_at, E.site, E.glue,
    E.bom_version, E.routing_version, E.payload, E.schema_version,
)  # fmt: skip


def event_message(row: Row[Any]) -> dict[str, Any]:
    """The event as it leaves shopfloor: the outbox's data contract, from a plain row."""
    return OutboxEvent.as_message(row)  # type: ignore[arg-type]


def body_bytes(message: dict[str, Any]) -> bytes:
    return to_json(message).encode()


def _utc_text(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


# On PostgreSQL the database writes the message itself: the fields and values of
# `OutboxEvent.as_message`, the stored JSON of payload and glue spliced in as it is (it was
# written compact by `to_json`). It spares the relay decoding and re-encoding every payload
# in Python, the largest share of its own CPU time, and costs the database less than
# building jsonb. The glue is spliced as text: `outbox.emit` writes it through `to_json`,
# compact, so an empty glue is exactly '{}' and its members lie between the outer braces.
_GLUE = "glue::text"
PG_BODY_SQL = (
    "('{\"id\":' || to_json(event_id)::text || ',\"type\":' || to_json(type)::text"
    f' || \',"occurred_at":"\' || {_utc_text("occurred_at")}'
    f' || \'","recorded_at":"\' || {_utc_text("recorded_at")} || \'"\''
    " || ',\"site\":' || to_json(site)::text"
    " || ',\"bom_version\":' || coalesce(to_json(bom_version)::text, 'null')"
    " || ',\"routing_version\":' || coalesce(to_json(routing_version)::text, 'null')"
    " || ',\"payload\":' || payload::text || ',\"schema_version\":' || schema_version::text"
    f" || CASE WHEN {_GLUE} = '{{}}' THEN '' ELSE ',' || substr({_GLUE}, 2,"
    f" length({_GLUE}) - 2) END || '}}')"
)
PG_BODY = literal_column(PG_BODY_SQL, String).label("body")
PG_COLUMNS = (E.position, E.event_id, E.type, E.site, PG_BODY)


def message_columns(session: Session) -> tuple[Any, ...]:
    return PG_COLUMNS if is_postgres(session) else EVENT_COLUMNS


def row_body(row: Row[Any], written: bool) -> bytes:
    """The message of an event row: written by PostgreSQL, or built here on SQLite."""
    return str(row.body).encode() if written else body_bytes(event_message(row))


def row_bodies(rows: Sequence[Row[Any]]) -> list[bytes]:
    """`row_body` of each row (all of one result)."""
    if not rows or "body" not in rows[0]._fields:
        return [body_bytes(event_message(row)) for row in rows]
    index = rows[0]._fields.index("body")
    return [row[index].encode() for row in rows]


def dispatch_new(session: Session, limit: int, grouping: bool) -> Sequence[Row[Any]]:
    """Mark up to `limit` new outbox events `dispatched` and return them, oldest first
    taken, skipping rows another relay has locked."""
    if is_postgres(session):
        extra = ", glue, occurred_at" if grouping else ""
        return session.execute(
            text(PG_DISPATCH.format(body=PG_BODY_SQL, extra=extra)), {"limit": limit}
        ).all()
    picked = (
        select(E.position)
        .where(E.status == "pending")
        .order_by(E.position)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.execute(
        update(E)
        .where(E.position.in_(picked.scalar_subquery()), E.status == "pending")
        .values(status=DISPATCHED)
        .returning(*EVENT_COLUMNS)
        .execution_options(synchronize_session=False)
    ).all()


# `= ANY(ARRAY(subquery))`: the locked positions are collected first, then each row is
# reached through the primary key — whatever the size of the outbox or its statistics.
PG_DISPATCH = (
    f"UPDATE platform_outbox_event SET status = '{DISPATCHED}' "
    "WHERE position = ANY(ARRAY(SELECT position FROM platform_outbox_event "
    "WHERE status = 'pending' ORDER BY position LIMIT :limit FOR UPDATE SKIP LOCKED)) "
    "AND status = 'pending' RETURNING position, event_id, type, site, {body} AS body{extra}"
)


def insert_from_outbox(
    session: Session,
    subscriber: str,
    positions: Sequence[int],
    *,
    status: str,
    first_attempt_at: datetime,
    next_attempt_at: datetime | None = None,
    delivered_at: datetime | None = None,
    last_error: str | None = None,
) -> None:
    """Delivery rows after one attempt, straight from the outbox rows (INSERT … SELECT:
    one statement for the whole batch), skipping rows that exist already (a lease that ran
    out was recovered meanwhile)."""
    if not positions:
        return
    columns = ["position", "subscriber", "message_id", "status", "attempts",
               "next_attempt_at", "first_attempt_at", "last_attempt_at", "delivered_at",
               "last_error"]  # fmt: skip
    stamp = literal(first_attempt_at, UtcDateTime())
    source = select(
        E.position, literal(subscriber, String), E.event_id, literal(status, String),
        literal(1, Integer), literal(next_attempt_at, UtcDateTime()), stamp, stamp,
        literal(delivered_at, UtcDateTime()), literal(last_error, String),
    ).where(among(session, E.position, positions, BigInteger))  # fmt: skip
    if is_postgres(session):
        statement: Any = pg_insert(DELIVERY).from_select(columns, source).on_conflict_do_nothing()
    else:
        statement = insert(DELIVERY).from_select(columns, source).prefix_with("OR IGNORE")
    session.execute(statement)


def insert_held(session: Session, subscriber: str, held: list[tuple[Row[Any], str]]) -> None:
    """Rows that wait for their aggregation group (no attempt yet)."""
    if held:
        session.execute(
            insert(DELIVERY),
            [{"position": row.position, "subscriber": subscriber, "message_id": row.event_id,
              "group_key": key, "status": "held", "attempts": 0} for row, key in held],
        )  # fmt: skip


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: Any, values: Sequence[Any], kind: Any) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one parameter however many values
    (a long IN list makes the driver parse a long statement on every batch), sent as the
    array's text: the driver's list adaptation costs more than the rest of the statement."""
    if is_postgres(session):
        literal_array = "{" + ",".join(map(str, values)) + "}"
        return column == any_(sql_cast(bindparam(None, literal_array, type_=Text), ARRAY(kind)))
    return column.in_(values)
