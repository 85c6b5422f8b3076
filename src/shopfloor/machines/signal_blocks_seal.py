"""Sealing: each closed UTC day of an equipment's sealed metrics, written once as blocks.

Which days: those queued in `mch_signal_reseal` (a late sample dropped their blocks), and,
per equipment that sends data, every day after its last sealed day (or from its first
sample) up to the day of its last sample, as long as the day is sealable
(`signal_blocks.sealable_before`). Days without samples of a metric are sealed too, as
empty blocks, so the sealed days of an equipment have no holes: a reader finds nothing
to look up in the raw rows, and the last sealed day is where the next pass starts.

Sealing an equipment-day takes its advisory lock exclusively (PostgreSQL), reads the day's
raw rows of every sealed metric, and replaces whatever blocks the day had: sealing the same
day twice writes the same blocks. The caller commits; a pass is bounded by `limit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby, pairwise
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from shopfloor.machines.domain.steps import EPOCH, epoch_us
from shopfloor.machines.signal_blocks import (
    PG_EPOCH_US,
    SEALED_METRICS,
    day_start,
    days_between,
    lock_equipment,
    sealable_before,
)
from shopfloor.machines.signal_blocks_format import ENCODING, BlockRows, encode
from shopfloor.machines.tables import MchIngestStat, MchSignal, MchSignalBlock, MchSignalReseal

EquipmentDay = tuple[int, date]
DAY_US = 86_400_000_000
RUN_DAYS = 31  # the most days of one equipment read in one statement


@dataclass(frozen=True)
class SealReport:
    """Equipment-days sealed, blocks written, the samples in them and their stored bytes."""

    days: int = 0
    blocks: int = 0
    samples: int = 0
    stored_bytes: int = 0

    def __add__(self, other: SealReport) -> SealReport:
        return SealReport(
            self.days + other.days,
            self.blocks + other.blocks,
            self.samples + other.samples,
            self.stored_bytes + other.stored_bytes,
        )


def seal_signals(
    session: Session, *, now: datetime, seal_after: timedelta, limit: int | None = None
) -> SealReport:
    """Seal the days that ended `seal_after` ago or longer and have no blocks yet (at most
    `limit` equipment-days, the oldest first)."""
    days = days_to_seal(session, sealable_before(now, seal_after))
    return seal_days(session, days if limit is None else days[:limit], now)


def days_to_seal(session: Session, before: datetime) -> list[EquipmentDay]:
    """The equipment-days before `before` (a midnight) to seal, oldest first."""
    last_day = before.date() - timedelta(days=1)
    queued = session.execute(
        select(MchSignalReseal.equipment_id, MchSignalReseal.day).where(
            MchSignalReseal.day <= last_day
        )
    ).all()
    found: set[EquipmentDay] = {(e, d) for e, d in queued}
    equipment = list(session.scalars(select(MchIngestStat.equipment_id)))
    sealed = _last_sealed_days(session, equipment)
    behind = [e for e in equipment if sealed.get(e) is None or sealed[e] < last_day]
    first = _sample_days(session, [e for e in behind if sealed.get(e) is None], earliest=True)
    last = _sample_days(session, behind, earliest=False)
    for e in behind:
        sealed_day = sealed.get(e)
        begin = sealed_day + timedelta(days=1) if sealed_day is not None else first.get(e)
        end = last.get(e)
        if begin is not None and end is not None:
            found.update((e, d) for d in days_between(begin, min(end, last_day)))
    return sorted(found, key=lambda found_day: (found_day[1], found_day[0]))


def seal_days(
    session: Session,
    days: Sequence[EquipmentDay],
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> SealReport:
    """Seal these equipment-days (again, if they are sealed): one block per sealed metric
    and day. `progress` is told the equipment-days done as they are."""
    if not days:
        return SealReport()
    lock_equipment(session, {e for e, _ in days}, exclusive=True)
    queued = MchSignalReseal
    session.execute(
        delete(queued).where(tuple_(queued.equipment_id, queued.day).in_(days)),
        execution_options={"synchronize_session": False},
    )
    report = SealReport()
    for equipment_id, run in _runs(days):
        report += _seal_run(session, equipment_id, run, now)
        if progress is not None:
            progress(len(run))
    return report


def _seal_run(session: Session, equipment_id: int, run: list[date], now: datetime) -> SealReport:
    start, end = day_start(run[0]), day_start(run[-1] + timedelta(days=1))
    found = _day_rows(session, equipment_id, start, end)
    values = []
    for day in run:
        for metric in SEALED_METRICS:
            rows = found.get((metric, day)) or _NO_ROWS
            values.append(_block(equipment_id, metric, day, rows, now))
    block = MchSignalBlock
    session.execute(
        delete(block).where(
            block.equipment_id == equipment_id, block.day >= run[0], block.day <= run[-1]
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(insert(block), values)
    stored = sum(
        len(v[c] or b"")
        for v in values
        for c in ("device_times", "num_values", "text_values", "ingest_details")
    )
    return SealReport(len(run), len(values), sum(v["samples"] for v in values), stored)


def _block(
    equipment_id: int, metric: str, day: date, rows: BlockRows, now: datetime
) -> dict[str, Any]:
    encoded = encode(rows)
    size = len(rows)
    return {
        "equipment_id": equipment_id,
        "metric": metric,
        "day": day,
        "samples": size,
        "first_time": _moment(int(rows.device_time[0])) if size else None,
        "last_time": _moment(int(rows.device_time[-1])) if size else None,
        "encoding": ENCODING,
        "device_times": encoded.device_times,
        "num_values": encoded.num_values,
        "text_values": encoded.text_values,
        "ingest_details": encoded.ingest_details,
        "sealed_at": now,
    }


def _moment(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


def _runs(days: Sequence[EquipmentDay]) -> list[tuple[int, list[date]]]:
    """Per equipment, its days in runs of consecutive days (at most RUN_DAYS each)."""
    runs: list[tuple[int, list[date]]] = []
    for equipment_id, group in groupby(sorted(set(days)), key=lambda d: d[0]):
        run: list[date] = []
        for _, day in group:
            if run and (day - run[-1] != timedelta(days=1) or len(run) == RUN_DAYS):
                runs.append((equipment_id, run))
                run = []
            run.append(day)
        runs.append((equipment_id, run))
    return runs


def _last_sealed_days(session: Session, equipment: Sequence[int]) -> dict[int, date]:
    """The last sealed day per equipment (days are sealed for every metric at once, so the
    first metric's blocks tell it: a dropped block of it is queued, and sealed again)."""
    block = MchSignalBlock
    last = (
        select(func.max(block.day))
        .where(block.equipment_id == MchIngestStat.equipment_id, block.metric == SEALED_METRICS[0])
        .scalar_subquery()
    )
    found = session.execute(
        select(MchIngestStat.equipment_id, last).where(MchIngestStat.equipment_id.in_(equipment))
    ).all()
    return {e: d for e, d in found if d is not None}


def _sample_days(session: Session, equipment: Sequence[int], *, earliest: bool) -> dict[int, date]:
    """The day of the first (or last) sample of a sealed metric, per equipment: an index
    probe per equipment and metric."""
    if not equipment:
        return {}
    extreme, pick = (func.min, min) if earliest else (func.max, max)
    signal = MchSignal
    probes = [
        select(extreme(signal.device_time))
        .where(signal.equipment_id == MchIngestStat.equipment_id, signal.metric == metric)
        .scalar_subquery()
        for metric in SEALED_METRICS
    ]
    found = session.execute(
        select(MchIngestStat.equipment_id, *probes).where(MchIngestStat.equipment_id.in_(equipment))
    ).all()
    days = {}
    for e, *moments in found:
        known = [m for m in moments if m is not None]
        if known:
            days[e] = pick(known).date()
    return days


_NO_ROWS = BlockRows(
    device_time=np.zeros(0, dtype=np.int64),
    received_at=np.zeros(0, dtype=np.int64),
    kind=(),
    num_value=np.zeros(0, dtype=np.float64),
    num_null=np.zeros(0, dtype=np.bool_),
    text_value=(),
    historical=np.zeros(0, dtype=np.bool_),
    source=(),
)
_COLUMNS = ("metric", "device_time", "kind", "received_at", "num_value", "text_value",
            "historical", "source")  # fmt: skip
_SEAL_ROWS = (
    f"SELECT {', '.join(_COLUMNS)} FROM mch_signal WHERE equipment_id = %s "
    "AND metric = ANY(%s) AND device_time >= %s AND device_time < %s "
    "ORDER BY metric, device_time"
)


def _day_rows(
    session: Session, equipment_id: int, start: datetime, end: datetime
) -> dict[tuple[str, date], BlockRows]:
    """The rows of [start, end) of each sealed metric, per (metric, UTC day)."""
    if session.get_bind().dialect.name == "postgresql":
        from psycopg.types.numeric import Int8BinaryLoader

        raw: Any = session.connection().connection.driver_connection
        with raw.cursor(binary=True) as cursor:  # times as integers: no datetime per row
            cursor.adapters.register_loader("timestamptz", Int8BinaryLoader)
            cursor.execute(_SEAL_ROWS, (equipment_id, list(SEALED_METRICS), start, end))
            return _split(cursor.fetchall(), PG_EPOCH_US)
    signal = MchSignal
    statement = (
        select(*(getattr(signal, c) for c in _COLUMNS))
        .where(
            signal.equipment_id == equipment_id,
            signal.metric.in_(SEALED_METRICS),
            signal.device_time >= start,
            signal.device_time < end,
        )
        .order_by(signal.metric, signal.device_time)
    )
    rows = [
        (m, epoch_us(t), k, epoch_us(r), n, x, h, s)
        for m, t, k, r, n, x, h, s in session.execute(statement)
    ]
    return _split(rows, 0)


def _split(rows: Sequence[Any], offset: int) -> dict[tuple[str, date], BlockRows]:
    """Rows (metric, µs, kind, received µs, number, text, historical, source) in metric
    then device-time order → the rows of each (metric, day), column by column."""
    if not rows:
        return {}
    metric, device, kind, received, number, texts, historical, source = zip(*rows, strict=True)
    times = np.array(device, dtype=np.int64) + offset
    nulls = np.fromiter((n is None for n in number), dtype=np.bool_, count=len(number))
    names = np.array(metric)
    days = times // DAY_US
    cuts = np.flatnonzero((names[1:] != names[:-1]) | (days[1:] != days[:-1])) + 1
    bounds = [0, *cuts.tolist(), len(rows)]
    columns: dict[str, Any] = {
        "received_at": np.array(received, dtype=np.int64) + offset,
        "num_value": np.array(number, dtype=np.float64),
        "historical": np.array(historical, dtype=np.bool_),
    }
    found = {}
    for a, b in pairwise(bounds):
        day = (EPOCH + timedelta(microseconds=int(times[a]))).date()
        found[(str(metric[a]), day)] = BlockRows(
            device_time=times[a:b],
            received_at=columns["received_at"][a:b],
            kind=kind[a:b],
            num_value=columns["num_value"][a:b],
            num_null=nulls[a:b],
            text_value=texts[a:b],
            historical=columns["historical"][a:b],
            source=source[a:b],
        )
    return found
