"""How a sealed block stores its rows: columns of arrays, each compressed on its own.

A block (`tables.MchSignalBlock`) holds every `mch_signal` row of one metric of one
equipment on one UTC day, in device-time order (the primary key makes device times unique
within a block), column by column. Each stored column is compressed with zlib on its own,
so a reader decompresses only the columns it needs: the OEE recompute reads the device
times and one value column, never the receipt details. Encoding 1, little-endian:

- `device_times`: whole microseconds since 1970-01-01 UTC as *steps*: a width byte, the
  first value (int64), then the difference of each next value to the one before, in the
  narrowest of int8, int16, int32 and int64 that holds them all — samples a minute apart
  take four bytes each before compression and almost nothing after.
- `num_values` (NULL when every value is NULL): a layout byte — `i` when every value is a
  whole number whose float64 survives the round trip through int64 bit for bit (counters),
  stored as steps; `f` otherwise, the float64 values as they are — the length of the null
  bitmap (0 when no value is NULL), the bitmap, the values (0 where NULL).
- `text_values` (NULL when every value is NULL): the length of a dictionary, the
  dictionary (a JSON list of the distinct values, null included when present), and each
  row's index into it (uint8, uint16 or uint32, as the dictionary's size needs).
- `ingest_details`: length-prefixed parts: received_at as microseconds after device_time
  (int64), kind and source (a dictionary and indexes each, as above), and the historical
  flags as a bitmap.

Decoding is exact: a block decodes to the very rows it was built from (tested:
tests/unit/test_signal_blocks_format.py).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

ENCODING = 1
Times = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
Indexes = npt.NDArray[np.intp]

_STEPS = struct.Struct("<Bq")  # width, first value
_NUMBERS = struct.Struct("<cI")  # layout, length of the null bitmap
_LENGTH = struct.Struct("<I")
_WHOLE = b"i"
_FLOAT = b"f"
_WIDTHS: dict[int, np.dtype[Any]] = {w: np.dtype(f"<i{w}") for w in (1, 2, 4, 8)}
_CODES: dict[int, np.dtype[Any]] = {w: np.dtype(f"<u{w}") for w in (1, 2, 4)}


@dataclass(frozen=True)
class BlockRows:
    """The rows of one block, column by column, in device-time order. `num_null` marks
    the NULL numbers (their `num_value` is 0)."""

    device_time: Times
    received_at: Times
    kind: Sequence[str]
    num_value: Floats
    num_null: Flags
    text_value: Sequence[str | None]
    historical: Flags
    source: Sequence[str]

    def __len__(self) -> int:
        return int(self.device_time.size)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """(device µs, kind, received µs, number or None, text, historical, source)."""
        for n in range(len(self)):
            number = None if self.num_null[n] else float(self.num_value[n])
            yield (
                int(self.device_time[n]),
                self.kind[n],
                int(self.received_at[n]),
                number,
                self.text_value[n],
                bool(self.historical[n]),
                self.source[n],
            )


@dataclass(frozen=True)
class EncodedBlock:
    """The stored columns of a block (see the module docstring)."""

    device_times: bytes
    num_values: bytes | None
    text_values: bytes | None
    ingest_details: bytes


def encode(rows: BlockRows) -> EncodedBlock:
    """The stored columns of rows sorted by device time, each time once."""
    if rows.device_time.size > 1 and not bool((np.diff(rows.device_time) > 0).all()):
        raise ValueError("the rows of a block must be in device-time order, each time once")
    no_number = bool(rows.num_null.all())
    no_text = all(t is None for t in rows.text_value)
    return EncodedBlock(
        device_times=zlib.compress(_steps(rows.device_time)),
        num_values=None if no_number else zlib.compress(_numbers(rows.num_value, rows.num_null)),
        text_values=None if no_text else zlib.compress(_dictionary(rows.text_value)),
        ingest_details=zlib.compress(
            b"".join(
                _LENGTH.pack(len(part)) + part
                for part in (
                    (rows.received_at - rows.device_time).astype("<i8").tobytes(),
                    _dictionary(rows.kind),
                    _dictionary(rows.source),
                    np.packbits(rows.historical).tobytes(),
                )
            )
        ),
    )


def decode(block: EncodedBlock, samples: int) -> BlockRows:
    """Every column of a block back, exactly as it was encoded."""
    times = _from_steps(zlib.decompress(block.device_times), samples)
    numbers, nulls = num_values(block.num_values, samples)
    details = memoryview(zlib.decompress(block.ingest_details))
    received, kinds, sources, flags = _parts(details)
    return BlockRows(
        device_time=times,
        received_at=times + np.frombuffer(received, "<i8"),
        kind=_entries(kinds, samples),
        num_value=numbers,
        num_null=nulls,
        text_value=text_values(block.text_values, samples),
        historical=np.unpackbits(np.frombuffer(flags, np.uint8), count=samples).astype(bool),
        source=_entries(sources, samples),
    )


def step_parts(column: bytes, samples: int) -> tuple[int, npt.NDArray[Any]]:
    """(first value, the steps after it) of a column stored as steps, for readers that
    undo the steps of many blocks at once (`undo_steps`)."""
    frame = zlib.decompress(column)
    width, first = _STEPS.unpack_from(frame)
    return first, np.frombuffer(frame, _WIDTHS[width], samples - 1, _STEPS.size)


def undo_steps(parts: Sequence[tuple[int, npt.NDArray[Any]]]) -> Times:
    """The values of consecutive blocks' steps, joined: one cumulative sum for them all,
    each block then moved to its first value (int64 wraps around, and the differences
    stay exact)."""
    sizes = np.array([steps.size + 1 for _, steps in parts], dtype=np.int64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    moves = np.zeros(int(ends[-1]), dtype=np.int64)  # 0 where each block starts
    for (_, steps), start, end in zip(parts, starts.tolist(), ends.tolist(), strict=True):
        moves[start + 1 : end] = steps
    running = np.cumsum(moves)
    firsts = np.array([first for first, _ in parts], dtype=np.int64)
    running += np.repeat(firsts - running[starts], sizes)
    return running


def num_values(column: bytes | None, samples: int) -> tuple[Floats, Flags]:
    """The numbers (0 where NULL) and the NULL flags."""
    if column is None:
        return np.zeros(samples, dtype=np.float64), np.ones(samples, dtype=np.bool_)
    frame = zlib.decompress(column)
    layout, bitmap_size = _NUMBERS.unpack_from(frame)
    values = frame[_NUMBERS.size + bitmap_size :]
    if layout == _WHOLE:
        numbers = _from_steps(values, samples).astype(np.float64)
    else:
        numbers = np.frombuffer(values, "<f8").astype(np.float64)
    if not bitmap_size:
        return numbers, np.zeros(samples, dtype=np.bool_)
    bitmap = np.frombuffer(frame, np.uint8, bitmap_size, _NUMBERS.size)
    return numbers, np.unpackbits(bitmap, count=samples).astype(np.bool_)


def whole_numbers(column: bytes | None, samples: int) -> tuple[int, npt.NDArray[Any]] | None:
    """The steps of a number column without NULLs whose values are whole, for readers
    that undo many blocks' steps at once; None for any other number column."""
    if column is None:
        return None
    frame = zlib.decompress(column)
    layout, bitmap_size = _NUMBERS.unpack_from(frame)
    if layout != _WHOLE or bitmap_size:
        return None
    width, first = _STEPS.unpack_from(frame, _NUMBERS.size)
    steps = np.frombuffer(frame, _WIDTHS[width], samples - 1, _NUMBERS.size + _STEPS.size)
    return first, steps


def text_values(column: bytes | None, samples: int) -> list[str | None]:
    if column is None:
        return [None] * samples
    return _entries(memoryview(zlib.decompress(column)), samples)


def text_codes(column: bytes | None, samples: int) -> tuple[bytes, Indexes]:
    """The dictionary of a text column (as stored: a JSON list) and each row's index into
    it, for readers that map the few distinct values rather than every row."""
    if column is None:
        return b"[null]", np.zeros(samples, dtype=np.intp)
    frame = zlib.decompress(column)
    (size,) = _LENGTH.unpack_from(frame)
    dictionary = frame[_LENGTH.size : _LENGTH.size + size]
    return dictionary, _indexes(frame, _LENGTH.size + size, samples).astype(np.intp)


def _steps(values: Times) -> bytes:
    if values.size == 0:
        return _STEPS.pack(1, 0)
    steps = np.diff(values)
    width = _width(int(steps.min()), int(steps.max())) if steps.size else 1
    head: bytes = _STEPS.pack(width, int(values[0]))
    return head + steps.astype(_WIDTHS[width]).tobytes()


def _width(low: int, high: int) -> int:
    """The fewest bytes of a signed integer that hold every value from low to high."""
    for width in (1, 2, 4):
        limit = 1 << (8 * width - 1)
        if -limit <= low and high < limit:
            return width
    return 8


def _from_steps(frame: bytes, samples: int) -> Times:
    if samples == 0:
        return np.zeros(0, dtype=np.int64)
    width, first = _STEPS.unpack_from(frame)
    steps = np.frombuffer(frame, _WIDTHS[width], samples - 1, _STEPS.size)
    values = np.empty(samples, dtype=np.int64)
    values[0] = first
    np.cumsum(steps, dtype=np.int64, out=values[1:])
    values[1:] += first
    return values


def _numbers(values: Floats, nulls: Flags) -> bytes:
    values = np.where(nulls, 0.0, values)
    with np.errstate(invalid="ignore"):
        whole = values.astype(np.int64)
    exact = np.array_equal(whole.astype(np.float64).view(np.int64), values.view(np.int64))
    bitmap = np.packbits(nulls).tobytes() if bool(nulls.any()) else b""
    if exact:
        return _NUMBERS.pack(_WHOLE, len(bitmap)) + bitmap + _steps(whole)
    return _NUMBERS.pack(_FLOAT, len(bitmap)) + bitmap + values.astype("<f8").tobytes()


def _dictionary(values: Sequence[str | None]) -> bytes:
    """The distinct values (a JSON list, with its length) and each row's index into it."""
    index: dict[str | None, int] = {}
    codes = np.fromiter(
        (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
    )
    names = json.dumps(list(index), separators=(",", ":")).encode()
    width = 1 if len(index) <= 1 << 8 else 2 if len(index) <= 1 << 16 else 4
    head: bytes = _LENGTH.pack(len(names)) + names
    return head + codes.astype(_CODES[width]).tobytes()


def _entries(frame: bytes | memoryview, samples: int) -> list[Any]:
    (size,) = _LENGTH.unpack_from(frame)
    dictionary = json.loads(bytes(frame[_LENGTH.size : _LENGTH.size + size]))
    return [dictionary[i] for i in _indexes(frame, _LENGTH.size + size, samples).tolist()]


def _indexes(frame: bytes | memoryview, offset: int, samples: int) -> npt.NDArray[Any]:
    """Each row's index into its dictionary (as wide as the dictionary's size needs)."""
    if samples == 0:
        return np.zeros(0, dtype=np.uint8)
    indexes: npt.NDArray[Any] = np.frombuffer(
        frame, _CODES[(len(frame) - offset) // samples], samples, offset
    )
    return indexes


def _parts(frame: memoryview) -> list[memoryview]:
    parts, offset = [], 0
    while offset < len(frame):
        (size,) = _LENGTH.unpack_from(frame, offset)
        parts.append(frame[offset + _LENGTH.size : offset + _LENGTH.size + size])
        offset += _LENGTH.size + size
    return parts
