"""The samples of a window for the OEE arrays, for a batch of equipment: from the blocks of
the sealed days, from the raw rows of the stretches no block covers.

Per (equipment, sealed metric) a series of (device times, values) in device-time order,
the values as `signal_arrays` needs them (`sample_value`): a state's code (STATE_ORDER; -1
when the text is not a state), a counter's number (-1 when NULL), -1 for the other metrics.

- Blocks: only the device times and the one value column a metric needs are decompressed;
  the steps of a series' blocks are undone at once; a day the window cuts is trimmed.
- Raw stretches (days not sealed yet, or whose block a late sample dropped): on PostgreSQL
  one binary COPY, each stretch aggregated into two arrays by an index range scan (the
  state's code worked out in SQL) that numpy reads straight from the COPY buffer; on
  SQLite as rows.
"""

from __future__ import annotations

import json
import queue
import struct
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from shopfloor.kernel.errors import ShopfloorError
from shopfloor.machines.domain.tallies import STATE_CODE, STATE_ORDER, Times, epoch_us
from shopfloor.machines.signal_blocks import PG_EPOCH_US, SEALED_METRICS, day_start, days_between
from shopfloor.machines.signal_blocks_format import (
    ENCODING,
    Floats,
    num_values,
    step_parts,
    text_codes,
    undo_steps,
    whole_numbers,
)
from shopfloor.machines.signals_queries import COUNTERS, DEATH_METRIC, parse_state
from shopfloor.machines.tables import MchSignal, MchSignalBlock

STATE_METRICS = ("state", DEATH_METRIC)
Pair = tuple[Times, Floats]
Samples = dict[str, Pair]  # metric → (device times, values)
Key = tuple[int, str]  # equipment id, metric
Range = tuple[int, str, datetime, datetime]  # equipment id, metric, from, until (excluded)
_STATE_SQL = " ".join(f"WHEN '{s.value}' THEN {STATE_CODE[s]}" for s in STATE_ORDER)
_COPY = (
    "COPY (SELECT r.e, r.m, a.times, a.codes FROM unnest(CAST(%s AS int[]), "
    "CAST(%s AS text[]), CAST(%s AS timestamptz[]), CAST(%s AS timestamptz[])) AS r(e, m, f, t) "
    "CROSS JOIN LATERAL (SELECT array_agg(device_time) AS times, array_agg(CASE WHEN r.m IN "
    f"({', '.join(repr(m) for m in STATE_METRICS)}) THEN CASE split_part(text_value, ':', 1) "
    f"{_STATE_SQL} ELSE -1 END ELSE coalesce(num_value, -1) END) AS codes FROM mch_signal "
    "WHERE equipment_id = r.e AND metric = r.m AND device_time >= r.f AND device_time < r.t) "
    "AS a WHERE a.times IS NOT NULL) TO STDOUT (FORMAT BINARY)"
)
_PLAN = {"jit": "off"}  # no JIT compile for statements that only walk an index


@dataclass
class SealedSamples:
    """Per (equipment, metric): the sealed days of the window, and their samples."""

    days: dict[Key, set[date]] = field(default_factory=lambda: defaultdict(set))
    pairs: dict[Key, list[Pair]] = field(default_factory=lambda: defaultdict(list))


def sealed_samples(
    connection: Connection,
    ids: Sequence[int],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
) -> SealedSamples:
    """The blocks of these equipment and metrics on the days [start, end) touches: each
    series' sealed days, and their samples in [start, end) joined in time order."""
    lo, hi = epoch_us(start), epoch_us(end)
    found = SealedSamples()
    state_codes: dict[bytes, Floats] = {}  # per dictionary of states: each entry's code
    rows = _block_rows(connection, ids, metrics, start.date(), _last_day(end))
    for key, series in groupby(rows, key=lambda row: (row[0], row[1])):
        blocks = list(series)
        found.days[key] = {row[2] for row in blocks}
        filled = [row for row in blocks if row[3]]
        if any(row[4] != ENCODING for row in filled):
            raise ShopfloorError("a signal block's encoding is not known to this version")
        if filled:
            found.pairs[key].append(_trimmed(_pair(key[1], filled, state_codes), lo, hi))
    return found


_BLOCKS = (
    "SELECT equipment_id, metric, day, samples, encoding, device_times, num_values, "
    "text_values FROM mch_signal_block WHERE equipment_id = ANY(%s) AND metric = ANY(%s) "
    "AND day >= %s AND day <= %s ORDER BY equipment_id, metric, day"
)


def _block_rows(
    connection: Connection, ids: Sequence[int], metrics: Sequence[str], first: date, last: date
) -> list[Any]:
    """(equipment id, metric, day, samples, encoding, device times, numbers, texts) of
    each block, by equipment, metric and day."""
    if connection.dialect.name == "postgresql":  # a few thousand rows: no row objects
        raw: Any = connection.connection.driver_connection
        with raw.cursor(binary=True) as cursor:
            cursor.execute(_BLOCKS, (list(ids), list(metrics), first, last))
            return list(cursor.fetchall())
    block = MchSignalBlock
    statement = (
        select(
            block.equipment_id,
            block.metric,
            block.day,
            block.samples,
            block.encoding,
            block.device_times,
            block.num_values,
            block.text_values,
        )
        .where(
            block.equipment_id.in_(ids),
            block.metric.in_(metrics),
            block.day >= first,
            block.day <= last,
        )
        .order_by(block.equipment_id, block.metric, block.day)
    )
    return list(connection.execute(statement).all())


def _pair(metric: str, blocks: list[Any], state_codes: dict[bytes, Floats]) -> Pair:
    """The samples of consecutive blocks of one series, as one pair of arrays."""
    times = undo_steps([step_parts(row[5], row[3]) for row in blocks])
    if metric in STATE_METRICS:
        values = np.concatenate([_states(row[7], row[3], state_codes) for row in blocks])
    elif metric in COUNTERS:
        values = _numbers(blocks)
    else:
        values = np.full(times.size, -1.0)
    return times, values


def _states(column: bytes | None, samples: int, state_codes: dict[bytes, Floats]) -> Floats:
    dictionary, codes = text_codes(column, samples)
    lookup = state_codes.get(dictionary)
    if lookup is None:
        entries = json.loads(dictionary)
        lookup = state_codes[dictionary] = np.array([_state_code(v) for v in entries])
    return lookup[codes]


def _numbers(blocks: list[Any]) -> Floats:
    """A counter's numbers (-1 where NULL): whole numbers all undone at once when every
    block holds them so."""
    wholes = [whole_numbers(row[6], row[3]) for row in blocks]
    if all(whole is not None for whole in wholes):
        return undo_steps([whole for whole in wholes if whole is not None]).astype(np.float64)
    parts = []
    for row in blocks:
        number, null = num_values(row[6], row[3])
        parts.append(np.where(null, -1.0, number))
    return np.concatenate(parts)


def _trimmed(pair: Pair, lo: int, hi: int) -> Pair:
    """The samples inside [lo, hi) (of days the window cuts), times being in order."""
    times, values = pair
    if times[0] >= lo and times[-1] < hi:
        return pair
    first, last = np.searchsorted(times, (lo, hi))
    return times[first:last], values[first:last]


def _state_code(value: str | None) -> float:
    state = parse_state(value)
    return -1.0 if state is None else float(STATE_CODE[state[0]])


def unsealed_ranges(
    ids: Sequence[int],
    metrics: Sequence[str],
    sealed: SealedSamples,
    start: datetime,
    end: datetime,
) -> list[Range]:
    """The stretches of [start, end) without a block, per equipment and metric: whole
    unsealed days merged, cut to the window; in equipment, metric, time order."""
    days = days_between(start.date(), _last_day(end))
    ranges: list[Range] = []
    for equipment_id in ids:
        for metric in metrics:
            done = sealed.days.get((equipment_id, metric), set())
            open_from: date | None = None
            for day in [*days, None]:
                if day is not None and day not in done:
                    open_from = day if open_from is None else open_from
                    continue
                if open_from is not None:
                    until = day_start(day) if day is not None else end
                    begin = max(start, day_start(open_from))
                    ranges.append((equipment_id, metric, begin, min(until, end)))
                    open_from = None
    return ranges


def _last_day(end: datetime) -> date:
    return (end - timedelta(microseconds=1)).date()


def window_samples(
    connection: Connection, ids: Sequence[int], start: datetime, end: datetime
) -> list[tuple[int, Samples]]:
    """The samples of [start, end) of a few equipment, per sealed metric, each
    series in device-time order: from the blocks of sealed days, from the raw rows of the
    stretches without a block."""
    sealed = sealed_samples(connection, ids, SEALED_METRICS, start, end)
    parts = sealed.pairs
    ranges = unsealed_ranges(ids, SEALED_METRICS, sealed, start, end)
    if connection.dialect.name == "postgresql":
        raw = _copy_ranges(connection, ranges)
    else:
        raw = _select_ranges(connection, ranges)
    for key, pair in raw:
        parts[key].append(_in_time_order(pair))
    found = []
    for equipment_id in ids:
        samples = {}
        for metric in SEALED_METRICS:
            series = _series(parts.get((equipment_id, metric), []))
            if series is not None:
                samples[metric] = series
        found.append((equipment_id, samples))
    return found


def _series(pairs: list[Pair]) -> Pair | None:
    """Stretches of one series (sealed days, raw stretches) joined in time order."""
    pairs = [p for p in pairs if p[0].size]
    if len(pairs) <= 1:
        return pairs[0] if pairs else None
    pairs.sort(key=lambda p: int(p[0][0]))
    joined = (np.concatenate([t for t, _ in pairs]), np.concatenate([v for _, v in pairs]))
    return _in_time_order(joined)  # sealed days around a raw stretch interleave with it


def _in_time_order(pair: Pair) -> Pair:
    times, values = pair
    if times.size > 1 and not bool((times[1:] > times[:-1]).all()):
        order = np.argsort(times, kind="stable")
        return times[order], values[order]
    return pair


def _select_ranges(connection: Connection, ranges: Sequence[Range]) -> Iterator[tuple[Key, Pair]]:
    """The raw rows of each stretch, as rows (SQLite)."""
    signal = MchSignal
    for equipment_id, metric, begin, until in ranges:
        rows = connection.execute(
            select(signal.device_time, signal.num_value, signal.text_value)
            .where(
                signal.equipment_id == equipment_id,
                signal.metric == metric,
                signal.device_time >= begin,
                signal.device_time < until,
            )
            .order_by(signal.device_time)
        ).all()
        if rows:
            times = np.array([epoch_us(r.device_time) for r in rows], dtype=np.int64)
            values = [sample_value(metric, r.num_value, r.text_value) for r in rows]
            yield (equipment_id, metric), (times, np.array(values, dtype=np.float64))


def sample_value(metric: str, number: float | None, text: str | None) -> float:
    """A row's value as the COPY works it out: a state's code, a number, or -1."""
    if metric in STATE_METRICS:
        state = parse_state(text)
        return -1.0 if state is None else float(STATE_CODE[state[0]])
    return -1.0 if number is None else float(number)


def _copy_ranges(connection: Connection, ranges: Sequence[Range]) -> Iterator[tuple[Key, Pair]]:
    """The raw rows of each stretch by one binary COPY (PostgreSQL), aggregated per
    stretch: an index range scan each."""
    if not ranges:
        return
    raw: Any = connection.connection.driver_connection
    arguments = tuple(list(column) for column in zip(*ranges, strict=True))
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue()
    with raw.cursor() as cursor:
        before = _set_local(cursor, _PLAN)
        with cursor.copy(_COPY, arguments) as copy:
            for chunk in copy:
                chunks.put(bytes(chunk))
        _set_local(cursor, before)
    chunks.put(None)
    for equipment_id, samples in _parse_stream(chunks):
        for metric, pair in samples.items():
            yield (equipment_id, metric), pair


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
            if metric in current[1]:  # another stretch of the same series
                times, values = current[1][metric]
                pair = (np.concatenate((times, pair[0])), np.concatenate((values, pair[1])))
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
    pair = (times["value"].astype(np.int64) + PG_EPOCH_US, values["value"].astype(np.float64))
    return cursor, equipment_id, metric, pair


def _array(buffer: bytes, offset: int, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """A one-dimensional array without nulls in PostgreSQL's binary format."""
    dimensions, _nulls, _oid, size, _lower = struct.unpack_from(">iiiii", buffer, offset)
    if dimensions != 1:
        raise ValueError("a one-dimensional array was expected")
    return np.frombuffer(buffer, dtype, count=size, offset=offset + 20)
