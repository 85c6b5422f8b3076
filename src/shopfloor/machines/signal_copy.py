"""Signal rows in PostgreSQL's binary COPY format, made in plain Python.

The MQTT ingest worker decodes a batch on one thread while it stores the one before on
another. Encoding the rows for COPY is a good part of storing; made here, the decoding
thread does it (`encoded`) while the storing thread waits for the database, and the storing
thread sends finished bytes (`copy_data`). Rows of one message share their equipment,
times and source, and a plant's metric names repeat, so each distinct value is encoded once
per batch.

The format (PostgreSQL's documentation, "COPY … Binary Format"): a signature, then per row
the number of fields and each field as its length and bytes (-1 for NULL), then -1.
Columns: `COLUMNS`, a `signal_store.SignalRow`'s fields in its order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

COLUMNS = ("equipment_id", "metric", "kind", "device_time", "received_at", "num_value",
           "text_value", "historical", "source")  # fmt: skip
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_FIELDS = struct.pack(">h", len(COLUMNS))
_NULL = struct.pack(">i", -1)
_BOOL = {False: struct.pack(">ib", 1, 0), True: struct.pack(">ib", 1, 1)}
_INT4 = struct.Struct(">ii")
_FLOAT8 = struct.Struct(">id")
_TIMESTAMP = struct.Struct(">iq")
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Encoded:
    """The first `count` rows of a batch, encoded (no signature, no trailer)."""

    count: int
    data: bytes


class _Texts(dict[str, bytes]):
    def __missing__(self, value: str) -> bytes:
        raw = value.encode()
        found = self[value] = struct.pack(">i", len(raw)) + raw
        return found


class _Times(dict[datetime, bytes]):
    def __missing__(self, moment: datetime) -> bytes:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        found = self[moment] = _TIMESTAMP.pack(8, (aware - _POSTGRES_EPOCH) // _MICROSECOND)
        return found


class _Ids(dict[int, bytes]):
    def __missing__(self, number: int) -> bytes:
        found = self[number] = _FIELDS + _INT4.pack(4, number)
        return found


def encoded(rows: Sequence[tuple[Any, ...]]) -> Encoded:
    """The rows' COPY bytes."""
    texts, times, ids = _Texts(), _Times(), _Ids()
    float8, null, booleans = _FLOAT8.pack, _NULL, _BOOL
    out = bytearray()
    for row in rows:
        equipment, metric, kind, device_time, received_at, number, text, historical, source = row
        out += ids[equipment]
        out += texts[metric]
        out += texts[kind]
        out += times[device_time]
        out += times[received_at]
        out += null if number is None else float8(8, number)
        out += null if text is None else texts[text]
        out += booleans[historical]
        out += texts[source]
    return Encoded(len(rows), bytes(out))


def copy_data(rows: Sequence[tuple[Any, ...]], ready: Encoded | None = None) -> bytes:
    """The whole COPY stream of the rows; `ready`: their first rows, encoded already."""
    first = ready or Encoded(0, b"")
    rest = encoded(rows[first.count :]) if len(rows) > first.count else Encoded(0, b"")
    return b"".join((SIGNATURE, first.data, rest.data, TRAILER))
