"""Stored machine signals as arrays: what `domain.tallies` recomputes OEE from.

The same samples `machine_history` reads (the window's state, death, heartbeat, context
and counter rows, and the last row of each before the window), as per-equipment arrays
instead of an object per sample, so a recompute over months of per-minute samples is
bounded by reading the rows, not by Python:

- PostgreSQL: one binary COPY per batch of equipment, the samples of each (equipment,
  metric) aggregated into two arrays (device times; values, with a state's code worked out
  in SQL); numpy reads them straight from the COPY buffer. The rows before the window
  and the context rows (a few per order change) are read as rows.
- Other databases (SQLite: tests, a demo): `machine_history`'s signals, turned into
  arrays.

Which samples count, as in `signals_queries`: every counter, heartbeat, context and
well-formed state sample is a sign of life; a counter sample is a count when its value is
a number at least 0 (cut to a whole number).
"""

from __future__ import annotations

import contextlib
import queue
import struct
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shopfloor.machines.domain import ContextSignal, EquipmentProfile
from shopfloor.machines.domain.tallies import (
    STATE_CODE,
    STATE_ORDER,
    Codes,
    SignalArrays,
    Times,
    arrays_from_signals,
    epoch_us,
)
from shopfloor.machines.signals_queries import (
    CONTEXT_FIELDS,
    COUNTERS,
    DEATH_METRIC,
    HISTORY_METRICS,
    machine_history,
    parse_state,
)
from shopfloor.machines.tables import MchSignal

_PG_EPOCH_US = 946_684_800_000_000  # PostgreSQL's binary timestamps count from 2000-01-01
_STATE_METRICS = ("state", DEATH_METRIC)
_STATE_SQL = " ".join(f"WHEN '{s.value}' THEN {STATE_CODE[s]}" for s in STATE_ORDER)
_COPY = (
    "COPY (SELECT equipment_id, metric, array_agg(device_time), array_agg(CASE WHEN metric "
    f"IN ('state', '{DEATH_METRIC}') THEN CASE split_part(text_value, ':', 1) {_STATE_SQL} "
    "ELSE -1 END ELSE coalesce(num_value, -1) END) FROM mch_signal "
    "WHERE equipment_id = ANY(%s) AND metric = ANY(%s) AND device_time >= %s "
    "AND device_time < %s GROUP BY equipment_id, metric ORDER BY equipment_id, metric) "
    "TO STDOUT (FORMAT BINARY)"
)
# Aggregate each (equipment, metric) in index order, one at a time: hashing them all would
# hold every sample in memory (spilling to disk past work_mem); and no JIT compile.
_PLAN = {"enable_hashagg": "off", "jit": "off"}
Samples = dict[str, tuple[Times, np.ndarray[Any, np.dtype[np.float64]]]]


def signal_arrays(
    session: Session,
    profiles: dict[int, EquipmentProfile],
    start: datetime,
    end: datetime,
) -> Iterator[tuple[int, SignalArrays]]:
    """Per equipment id (each once, in any order): its samples of [start, end) and what
    carries into it. On PostgreSQL an equipment's arrays are handed out while the next
    ones are still being read; the session must not be used until the iterator is done."""
    ids = list(profiles)
    if not ids:
        return
    if session.get_bind().dialect.name != "postgresql":
        codes = [profiles[i].equipment for i in ids]
        histories = machine_history(session, start=start, end=end, equipment_codes=codes)
        for i, history in zip(ids, histories, strict=True):
            yield i, arrays_from_signals(history.signals, history.counters)
        return
    rows = _carry_in_rows(session, ids, start) + _context_rows(session, ids, start, end)
    by_equipment: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_equipment[row.equipment_id].append(row)
    pending = set(ids)
    for i, samples in _copy_arrays(session, ids, start, end):
        pending.discard(i)
        yield i, _arrays(profiles[i], samples, by_equipment[i])
    for i in ids:
        if i in pending:
            yield i, _arrays(profiles[i], {}, by_equipment[i])


_CARRY_IN = text(
    "SELECT s.equipment_id, s.metric, s.device_time, s.num_value, s.text_value "
    "FROM unnest(CAST(:ids AS int[])) AS e(id) CROSS JOIN unnest(CAST(:metrics AS text[])) "
    "AS m(name) CROSS JOIN LATERAL (SELECT equipment_id, metric, device_time, num_value, "
    "text_value FROM mch_signal WHERE equipment_id = e.id AND metric = m.name "
    "AND device_time < :start ORDER BY device_time DESC LIMIT 1) AS s"
)


def _carry_in_rows(session: Session, ids: Sequence[int], start: datetime) -> list[Any]:
    """The last row before `start` of each (equipment, metric), as `carry_in_rows` finds
    it: one index probe each, in one statement."""
    arguments = {"ids": list(ids), "metrics": list(HISTORY_METRICS), "start": start}
    return list(session.execute(_CARRY_IN, arguments).all())


def _context_rows(
    session: Session, ids: Sequence[int], start: datetime, end: datetime
) -> list[Any]:
    statement = select(
        MchSignal.equipment_id,
        MchSignal.metric,
        MchSignal.device_time,
        MchSignal.num_value,
        MchSignal.text_value,
    ).where(
        MchSignal.equipment_id.in_(ids),
        MchSignal.metric.in_(CONTEXT_FIELDS),
        MchSignal.device_time >= start,
        MchSignal.device_time < end,
    )
    return list(session.execute(statement).all())


def _copy_arrays(
    session: Session, ids: Sequence[int], start: datetime, end: datetime
) -> Iterator[tuple[int, Samples]]:
    """(device times in µs since 1970, values) per metric, per equipment in id order, by a
    binary COPY read on a thread: an equipment is handed out once its last row is in."""
    raw: Any = session.connection().connection.driver_connection
    arguments = (list(ids), list(HISTORY_METRICS), start, end)
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=256)

    def read() -> None:
        try:
            with raw.cursor() as cursor:
                before = _set_local(cursor, _PLAN)
                with cursor.copy(_COPY, arguments) as copy:
                    for chunk in copy:
                        chunks.put(bytes(chunk))
                _set_local(cursor, before)
            chunks.put(None)
        except BaseException as exc:  # handed to the reading side
            chunks.put(exc)

    reader = threading.Thread(target=read, name="oee-copy", daemon=True)
    reader.start()
    try:
        yield from _parse_stream(chunks)
    finally:
        while reader.is_alive():  # let the COPY finish before the session is used again
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        reader.join()


def _set_local(cursor: Any, settings: dict[str, str]) -> dict[str, str]:
    """Set planner settings until the end of the transaction; returns what they were."""
    before = {}
    for name, value in settings.items():
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", (name, name, value))
        before[name] = cursor.fetchone()[0]
    return before


_TIMES = np.dtype([("size", ">i4"), ("value", ">i8")])
_VALUES = np.dtype([("size", ">i4"), ("value", ">f8")])


def _parse_stream(
    chunks: queue.Queue[bytes | BaseException | None],
) -> Iterator[tuple[int, Samples]]:
    buffer = b""
    offset = -1  # the header is not read yet
    current: tuple[int, Samples] | None = None
    while (chunk := chunks.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        buffer = buffer[max(offset, 0) :] + chunk if buffer else chunk
        offset = 0 if offset >= 0 else _header_length(buffer)
        if offset < 0:
            continue
        while (row := _row(buffer, offset)) is not None:
            offset, equipment_id, metric, pair = row
            if current is not None and current[0] != equipment_id:
                yield current
                current = None
            if current is None:
                current = (equipment_id, {})
            current[1][metric] = pair
    if current is not None:
        yield current


def _header_length(buffer: bytes) -> int:
    """Where the rows start, or -1 while the header is incomplete."""
    if len(buffer) < 19:
        return -1
    (extension,) = struct.unpack_from(">i", buffer, 15)
    return 19 + extension if len(buffer) >= 19 + extension else -1


def _row(
    buffer: bytes, offset: int
) -> tuple[int, int, str, tuple[Times, np.ndarray[Any, np.dtype[np.float64]]]] | None:
    """The row (equipment id, metric, timestamptz[], float8[]) at `offset`, with the
    offset after it; None if it is not complete yet or is the trailer."""
    fields_at = offset
    if len(buffer) < fields_at + 2 or struct.unpack_from(">h", buffer, fields_at)[0] == -1:
        return None
    cursor = fields_at + 2
    spans = []
    for _ in range(4):
        if len(buffer) < cursor + 4:
            return None
        (size,) = struct.unpack_from(">i", buffer, cursor)
        spans.append((cursor + 4, size))
        cursor += 4 + size
    if len(buffer) < cursor:
        return None
    (equipment_id,) = struct.unpack_from(">i", buffer, spans[0][0])
    metric = buffer[spans[1][0] : spans[1][0] + spans[1][1]].decode()
    times = _array(buffer, spans[2][0], _TIMES)
    values = _array(buffer, spans[3][0], _VALUES)
    pair = (times["value"].astype(np.int64) + _PG_EPOCH_US, values["value"].astype(np.float64))
    return cursor, equipment_id, metric, pair


def _array(buffer: bytes, offset: int, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """A one-dimensional array without nulls in PostgreSQL's binary format."""
    dimensions, _nulls, _oid, size, _lower = struct.unpack_from(">iiiii", buffer, offset)
    if dimensions != 1:
        raise ValueError("a one-dimensional array was expected")
    return np.frombuffer(buffer, dtype, count=size, offset=offset + 20)


def _arrays(profile: EquipmentProfile, samples: Samples, rows: Sequence[Any]) -> SignalArrays:
    """One equipment's arrays from its COPYed samples and its other rows (carry-in,
    context)."""
    series: dict[str, list[tuple[Times, np.ndarray[Any, Any]]]] = defaultdict(list)
    for metric, pair in samples.items():
        series[metric].append(pair)
    for row in rows:
        moment = np.array([epoch_us(row.device_time)], dtype=np.int64)
        if row.metric in _STATE_METRICS:
            state = parse_state(row.text_value)
            value = -1.0 if state is None else float(STATE_CODE[state[0]])
        elif row.num_value is not None:
            value = float(row.num_value)
        else:
            value = -1.0
        series[row.metric].append((moment, np.array([value], dtype=np.float64)))
    contexts = _context_signals(profile.equipment, rows)
    joined = {
        metric: (np.concatenate([t for t, _ in pairs]), np.concatenate([v for _, v in pairs]))
        for metric, pairs in series.items()
        if metric in HISTORY_METRICS
    }
    alive: list[Times] = []
    state_t: list[Times] = []
    codes: list[Codes] = []
    for metric, (moments, values) in joined.items():
        if metric in _STATE_METRICS:
            parsed = values >= 0
            alive.append(moments[parsed])
            state_t.append(moments[parsed])
            codes.append(values[parsed].astype(np.int8))
        else:
            alive.append(moments)
    total_t, total = _counter(joined.get(COUNTERS[0]))
    reject_t, reject = _counter(joined.get(COUNTERS[1]))
    return SignalArrays(
        alive=_join(alive),
        state_t=_join(state_t),
        state=np.concatenate(codes) if codes else np.zeros(0, dtype=np.int8),
        total_t=total_t,
        total=total,
        reject_t=reject_t,
        reject=reject,
        contexts=contexts,
    )


def _join(parts: list[Times]) -> Times:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _counter(pair: tuple[Times, np.ndarray[Any, Any]] | None) -> tuple[Times, Times]:
    """The samples that are counts: a number at least 0, cut to a whole number."""
    if pair is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    moments, values = pair
    whole = np.trunc(values)
    counted = np.isfinite(whole) & (whole >= 0)
    return moments[counted], whole[counted].astype(np.int64)


def _context_signals(code: str, rows: Sequence[Any]) -> tuple[ContextSignal, ...]:
    """Context signals as `signals_queries` builds them: each context row (in device-time
    then metric order) carries all three fields as they stand at that moment."""
    context: dict[str, str | None] = dict.fromkeys(CONTEXT_FIELDS)
    found = []
    for row in sorted(rows, key=lambda r: (r.device_time, r.metric)):
        if row.metric not in CONTEXT_FIELDS:
            continue
        context[row.metric] = row.text_value
        found.append(
            ContextSignal(
                code, row.device_time, context["order"], context["operation"], context["product"]
            )
        )
    return tuple(found)
