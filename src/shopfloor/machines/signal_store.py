"""The batch writer of raw machine signals: fast, idempotent, and honest about the data.

Rules of storage:

- A sample is identified by (equipment, metric, device time). A re-delivery (MQTT QoS 1
  redelivers after a reconnect, a gateway retries a POST) hits the primary key and is
  dropped and counted as a duplicate, so delivering the same messages twice, or in another
  order, leaves the same rows.
- Out of order: a (non-historical) sample that arrives after a later sample of the same
  equipment (the domain's definition: one stream per equipment). It is stored all the same
  (history is ordered by device time) and counted.
- Clock skew: server receipt time minus device time. Both are stored; a sample whose skew
  exceeds the equipment's tolerance is counted, and the largest skew is kept per equipment.
  Historical samples are old on purpose and are left out of both counts.
- The current value of a metric is the latest non-historical sample by device time;
  historical samples never replace it, and a sample older than a death does not revive it.

PostgreSQL: rows are COPYed (binary, encoded by `signal_copy`, perhaps ahead on another
thread) straight into mch_signal under a savepoint; when a row is a duplicate, into a
session-local staging table instead, then moved with one `INSERT … SELECT … ON CONFLICT DO
NOTHING` (duplicates = staged - inserted). The tallies are worked out while PostgreSQL takes
the COPY in. SQLite: `INSERT OR IGNORE` with executemany. The caller commits.

Late samples (for a UTC day that may be sealed already, see `signal_blocks`) drop the
sealed blocks they fall on in the same transaction, under a shared advisory lock taken
before the insert; a batch without late samples costs one pass over its device times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import utc_now
from shopfloor.machines.signal_blocks import drop_late_blocks, late_days, lock_equipment
from shopfloor.machines.signal_copy import Encoded, copy_data
from shopfloor.machines.tables import (
    MchEquipmentProfile,
    MchIngestStat,
    MchMetricCurrent,
    MchSignal,
)
from shopfloor.masterdata.tables import Equipment

T = TypeVar("T")

DEFAULT_SKEW_TOLERANCE = timedelta(seconds=5)


class SignalRow(NamedTuple):
    """One sample to store; `kind` is state, total, reject, value, heartbeat or context.
    A named tuple: ingest makes one per metric, and COPY writes it as it is."""

    equipment_id: int
    metric: str
    kind: str
    device_time: datetime
    received_at: datetime
    num_value: float | None = None
    text_value: str | None = None
    historical: bool = False
    source: str = "json"


@dataclass(frozen=True)
class StoreResult:
    """`inserted` new rows; `duplicates` dropped re-deliveries (stored already)."""

    inserted: int
    duplicates: int
    out_of_order: int = 0
    skewed: int = 0
    duplicates_by_equipment: Mapping[int, int] = field(default_factory=dict)


@dataclass
class _Tally:
    received: int = 0
    inserted: int = 0
    out_of_order: int = 0
    skewed: int = 0
    max_skew_ms: int = 0
    last_skew_ms: int | None = None
    last_device_time: datetime | None = None
    last_seen: datetime | None = None


def store_signals(
    session: Session, rows: Sequence[SignalRow], ready: Encoded | None = None
) -> StoreResult:
    """Store a batch of samples, drop and count duplicates, keep current values and the
    per-equipment ingest statistics (received, duplicates, out of order, skew). `ready`:
    the first rows in PostgreSQL's COPY format already (`signal_copy.encoded`)."""
    if not rows:
        return StoreResult(0, 0)
    equipment = {r.equipment_id for r in rows}
    latest_stored, tolerance_ms = _stored_state(session, equipment)
    now = utc_now()
    late = late_days(rows, now)  # samples for days that may be sealed: none, mostly
    if late:
        lock_equipment(session, late, exclusive=False)
    if session.get_bind().dialect.name == "postgresql":
        inserted, (tallies, current) = _insert_postgresql(
            session, rows, partial(_tally_for_copy, rows, latest_stored, tolerance_ms), ready
        )
        if late:
            drop_late_blocks(session, late, inserted, now)
        _update_current_postgresql(session, current)
    else:
        tallies, newest = _tally(rows, latest_stored, tolerance_ms)
        inserted = _insert_generic(session, rows)
        if late:
            drop_late_blocks(session, late, inserted, now)
        _update_current(session, newest.values())
    for equipment_id, count in inserted.items():
        tallies[equipment_id].inserted = count
    _update_stats(session, tallies)
    total_inserted = sum(inserted.values())
    duplicates = {e: t.received - t.inserted for e, t in tallies.items() if t.received > t.inserted}
    return StoreResult(
        inserted=total_inserted,
        duplicates=len(rows) - total_inserted,
        out_of_order=sum(t.out_of_order for t in tallies.values()),
        skewed=sum(t.skewed for t in tallies.values()),
        duplicates_by_equipment=duplicates,
    )


def _stored_state(
    session: Session, equipment: set[int]
) -> tuple[dict[int, datetime], dict[int, float]]:
    """Per equipment, in one round trip: the newest device time stored, and the clock skew
    tolerance in milliseconds (the default where the equipment has no profile)."""
    found = session.execute(
        select(Equipment.id, MchIngestStat.last_device_time, MchEquipmentProfile.skew_tolerance_s)
        .outerjoin(MchIngestStat, MchIngestStat.equipment_id == Equipment.id)
        .outerjoin(MchEquipmentProfile, MchEquipmentProfile.equipment_id == Equipment.id)
        .where(Equipment.id.in_(equipment))
    ).all()
    default = DEFAULT_SKEW_TOLERANCE.total_seconds() * 1000
    latest = {e: t for e, t, _ in found if t is not None}
    tolerances = dict.fromkeys(equipment, default)
    tolerances.update({e: s * 1000 for e, _, s in found if s is not None})
    return latest, tolerances


def _tally(
    rows: Sequence[SignalRow],
    latest_stored: dict[int, datetime],
    tolerance_ms: dict[int, float],
) -> tuple[dict[int, _Tally], dict[tuple[int, str], SignalRow]]:
    """Per equipment: counts, out of order, skew; per metric: the newest live sample.
    Samples of one message share their times, so the skew is worked out once per run."""
    tallies: dict[int, _Tally] = {e: _Tally() for e in tolerance_ms}
    latest = dict(latest_stored)
    newest: dict[tuple[int, str], SignalRow] = {}
    millisecond = timedelta(milliseconds=1)
    previous: tuple[int, datetime, datetime] | None = None
    tally = _Tally()
    for row in rows:
        equipment, device_time, received_at = row.equipment_id, row.device_time, row.received_at
        same = previous == (equipment, device_time, received_at)
        if not same:
            tally = tallies[equipment]
            if tally.last_seen is None or received_at > tally.last_seen:
                tally.last_seen = received_at
        tally.received += 1
        if row.historical or row.metric[0] == "$":
            continue  # old on purpose, or a death the server recorded
        seen = latest.get(equipment)
        if seen is not None and device_time < seen:
            tally.out_of_order += 1
        else:
            latest[equipment] = device_time
        key = (equipment, row.metric)
        kept = newest.get(key)
        if kept is None or device_time >= kept.device_time:
            newest[key] = row
        if same:
            if tally.last_skew_ms is not None and abs(tally.last_skew_ms) > tolerance_ms[equipment]:
                tally.skewed += 1
            continue
        previous = (equipment, device_time, received_at)
        skew_ms = round((received_at - device_time) / millisecond)
        tally.last_skew_ms = skew_ms
        if abs(skew_ms) > tolerance_ms[equipment]:
            tally.skewed += 1
        tally.max_skew_ms = max(tally.max_skew_ms, abs(skew_ms))
        if tally.last_device_time is None or device_time > tally.last_device_time:
            tally.last_device_time = device_time
    return tallies, newest


def _tally_for_copy(
    rows: Sequence[SignalRow],
    latest_stored: dict[int, datetime],
    tolerance_ms: dict[int, float],
) -> tuple[dict[int, _Tally], bytes | None]:
    """`_tally`, with the newest samples as COPY data (None: there are none)."""
    tallies, newest = _tally(rows, latest_stored, tolerance_ms)
    return tallies, copy_data(list(newest.values())) if newest else None


_STAGE = "mch_signal_stage"


def _raw(session: Session) -> Any:
    """The psycopg connection under the session, inside the session's transaction."""
    return session.connection().connection.driver_connection


_COLUMNS = SignalRow._fields


def _copy_signals(cursor: Any, table: str, data: bytes, meanwhile: Callable[[], T]) -> T:
    """COPY finished bytes (`signal_copy`) into mch_signal or its stage; `meanwhile` runs
    once they are sent, while PostgreSQL takes them in."""
    with cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(data)
        return meanwhile()


def _insert_postgresql(
    session: Session,
    rows: Sequence[SignalRow],
    meanwhile: Callable[[], T],
    ready: Encoded | None = None,
) -> tuple[Counter[int], T]:
    """Optimistic: COPY straight into mch_signal under a savepoint — re-deliveries are rare.
    If any row is a duplicate the savepoint is rolled back and the batch goes the safe way:
    COPY into a staging table, then one INSERT … ON CONFLICT DO NOTHING. `meanwhile` runs
    while PostgreSQL takes the rows in (`_copy_signals`), again on the safe way (it is pure);
    its result comes back with the counts."""
    import psycopg

    raw = _raw(session)
    data = copy_data(rows, ready)
    with raw.cursor() as cursor:
        try:
            with raw.transaction():  # a savepoint inside the session's transaction
                done = _copy_signals(cursor, "mch_signal", data, meanwhile)
            return Counter(r.equipment_id for r in rows), done
        except psycopg.errors.UniqueViolation:
            pass
        _create_stage(cursor)
        done = _copy_signals(cursor, _STAGE, data, meanwhile)
        columns = ", ".join(_COLUMNS)
        cursor.execute(
            f"WITH moved AS (INSERT INTO mch_signal ({columns}) SELECT {columns} FROM {_STAGE} "
            f"ON CONFLICT DO NOTHING RETURNING equipment_id) "
            f"SELECT equipment_id, count(*) FROM moved GROUP BY equipment_id"
        )
        inserted = Counter({e: n for e, n in cursor.fetchall()})
        cursor.execute(f"TRUNCATE {_STAGE}")
    return inserted, done


def _insert_generic(session: Session, rows: Sequence[SignalRow]) -> Counter[int]:
    """INSERT OR IGNORE per equipment (the row count of each executemany is its inserts)."""
    by_equipment: dict[int, list[dict[str, object]]] = {}
    for r in rows:
        by_equipment.setdefault(r.equipment_id, []).append(r._asdict())
    statement = sqlite_insert(MchSignal).on_conflict_do_nothing()
    inserted: Counter[int] = Counter()
    connection = session.connection()
    for equipment_id, values in by_equipment.items():
        result = connection.execute(statement, values)
        inserted[equipment_id] = max(result.rowcount, 0)
    return inserted


def _update_current(session: Session, newest: Iterable[SignalRow]) -> None:
    """Upsert the newest live sample per metric unless a newer one (or a death after it)
    is recorded already (SQLite; PostgreSQL: `_update_current_postgresql`)."""
    values = [
        {
            "equipment_id": r.equipment_id,
            "metric": r.metric,
            "kind": r.kind,
            "device_time": r.device_time,
            "received_at": r.received_at,
            "num_value": r.num_value,
            "text_value": r.text_value,
            "stale_since": None,
        }
        for r in newest
    ]
    if not values:
        return
    statement = sqlite_insert(MchMetricCurrent)
    current = MchMetricCurrent.__table__.c
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[current.equipment_id, current.metric],
        set_={
            "kind": excluded.kind,
            "device_time": excluded.device_time,
            "received_at": excluded.received_at,
            "num_value": excluded.num_value,
            "text_value": excluded.text_value,
            "stale_since": None,
        },
        where=(excluded.device_time >= current.device_time)
        & ((current.stale_since.is_(None)) | (excluded.device_time >= current.stale_since)),
    )
    session.execute(statement, values)


_CURRENT = SignalRow._fields[:7]  # equipment_id … text_value: a current value's columns


def _update_current_postgresql(session: Session, current: bytes | None) -> None:
    """The same upsert as `_update_current`'s, fed by COPY (`signal_copy` data of the newest
    samples) through the signals' staging table: thousands of metrics per batch."""
    if current is None:
        return
    columns = ", ".join(_CURRENT)
    with _raw(session).cursor() as cursor:
        _create_stage(cursor)
        _copy_signals(cursor, _STAGE, current, lambda: None)
        cursor.execute(  # both in one round trip (no parameters: simple query protocol)
            f"INSERT INTO mch_metric_current AS c ({columns}) SELECT {columns} FROM {_STAGE} "
            "ON CONFLICT (equipment_id, metric) DO UPDATE SET kind = excluded.kind, "
            "device_time = excluded.device_time, received_at = excluded.received_at, "
            "num_value = excluded.num_value, text_value = excluded.text_value, "
            "stale_since = NULL WHERE excluded.device_time >= c.device_time "
            "AND (c.stale_since IS NULL OR excluded.device_time >= c.stale_since); "
            f"TRUNCATE {_STAGE}"
        )


def _create_stage(cursor: Any) -> None:
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
        f"(LIKE mch_signal INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )


def _update_stats(session: Session, tallies: Mapping[int, _Tally]) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = [
        {
            "equipment_id": e,
            "received": t.received,
            "inserted": t.inserted,
            "duplicates": t.received - t.inserted,
            "out_of_order": t.out_of_order,
            "skewed": t.skewed,
            "max_skew_ms": t.max_skew_ms,
            "last_skew_ms": t.last_skew_ms,
            "deaths": 0,
            "last_device_time": t.last_device_time,
            "last_seen": t.last_seen or datetime.now(UTC),
        }
        for e, t in sorted(tallies.items())
    ]
    statement = insert(MchIngestStat)
    stat = MchIngestStat.__table__.c
    excluded = statement.excluded
    greatest = _greatest(dialect)
    statement = statement.on_conflict_do_update(
        index_elements=[stat.equipment_id],
        set_={
            "received": stat.received + excluded.received,
            "inserted": stat.inserted + excluded.inserted,
            "duplicates": stat.duplicates + excluded.duplicates,
            "out_of_order": stat.out_of_order + excluded.out_of_order,
            "skewed": stat.skewed + excluded.skewed,
            "max_skew_ms": greatest(stat.max_skew_ms, excluded.max_skew_ms),
            "last_skew_ms": text("coalesce(excluded.last_skew_ms, mch_ingest_stat.last_skew_ms)"),
            "last_device_time": text(
                "CASE WHEN mch_ingest_stat.last_device_time IS NULL "
                "OR excluded.last_device_time > mch_ingest_stat.last_device_time "
                "THEN excluded.last_device_time ELSE mch_ingest_stat.last_device_time END"
            ),
            "last_seen": greatest(stat.last_seen, excluded.last_seen),
        },
    )
    session.execute(statement, values)


def _greatest(dialect: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    return func.greatest if dialect == "postgresql" else func.max
