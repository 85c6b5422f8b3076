"""A sealed block decodes to the very rows it was built from (`signal_blocks_format`), and
the readers' shortcuts (steps of many blocks undone at once, state dictionaries, whole
numbers) give what a full decode gives."""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopfloor.machines.signal_blocks_format import (
    BlockRows,
    decode,
    encode,
    num_values,
    step_parts,
    text_codes,
    undo_steps,
    whole_numbers,
)

DAY_START = 1_772_323_200_000_000  # 2026-03-01 in µs since 1970

numbers = st.one_of(
    st.none(),
    st.integers(-(2**53), 2**53).map(float),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1e300, -1e-300, 2.0**63, -(2.0**63)]),
)
texts = st.one_of(st.none(), st.sampled_from(["running", "down:jam", "", "Ä:ü", '\x00\\"']))


@st.composite
def blocks(draw: st.DrawFn) -> BlockRows:
    gaps = draw(st.lists(st.integers(1, 10**11), max_size=300))
    times = DAY_START + np.cumsum(np.array([0, *gaps], dtype=np.int64))
    size = times.size if draw(st.booleans()) else 0
    times = times[:size]
    values = [draw(numbers) for _ in range(size)]
    whole = draw(st.booleans())  # counters: whole numbers only, none NULL
    if whole:
        values = [float(draw(st.integers(0, 2**40))) for _ in range(size)]
    skews = draw(st.lists(st.integers(-(10**10), 10**10), min_size=size, max_size=size))
    return BlockRows(
        device_time=times,
        received_at=times + np.array(skews, dtype=np.int64),
        kind=[draw(st.sampled_from(["state", "total", "value"])) for _ in range(size)],
        num_value=np.array([0.0 if v is None else v for v in values], dtype=np.float64),
        num_null=np.array([v is None for v in values], dtype=np.bool_),
        text_value=[draw(texts) for _ in range(size)],
        historical=np.array([draw(st.booleans()) for _ in range(size)], dtype=np.bool_),
        source=[draw(st.sampled_from(["json", "sparkplug", "opcua"])) for _ in range(size)],
    )


def same(a: BlockRows, b: BlockRows) -> bool:
    """Equal row by row, numbers bit for bit (NaN, -0.0)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a.rows(), b.rows(), strict=True):
        if x[3] is not None and y[3] is not None:
            if struct.pack("<d", x[3]) != struct.pack("<d", y[3]):
                return False
            x, y = x[:3] + x[4:], y[:3] + y[4:]
        if x != y:
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(rows=blocks())
def test_a_block_decodes_to_its_rows(rows: BlockRows) -> None:
    encoded = encode(rows)
    assert same(decode(encoded, len(rows)), rows)
    _, nulls = num_values(encoded.num_values, len(rows))
    assert np.array_equal(nulls, rows.num_null)


@settings(max_examples=60, deadline=None)
@given(series=st.lists(blocks(), min_size=1, max_size=6))
def test_the_steps_of_many_blocks_are_undone_at_once(series: list[BlockRows]) -> None:
    filled = [rows for rows in series if len(rows)]
    if not filled:
        return
    pairs = [(encode(rows), len(rows)) for rows in filled]
    times = undo_steps([step_parts(e.device_times, size) for e, size in pairs])
    assert np.array_equal(times, np.concatenate([r.device_time for r in filled]))
    wholes = [whole_numbers(e.num_values, size) for e, size in pairs]
    if all(w is not None for w in wholes):
        joined = undo_steps([w for w in wholes if w is not None]).astype(np.float64)
        assert np.array_equal(joined, np.concatenate([r.num_value for r in filled]))


def test_counters_are_stored_as_narrow_steps_and_floats_as_they_are() -> None:
    size = 1440
    times = DAY_START + np.arange(size, dtype=np.int64) * 60_000_000
    counts = np.cumsum(np.full(size, 37.0))
    rows = BlockRows(times, times, ["total"] * size, counts, np.zeros(size, bool), [None] * size,
                     np.zeros(size, bool), ["json"] * size)  # fmt: skip
    encoded = encode(rows)
    assert len(zlib.decompress(encoded.device_times)) == 9 + 4 * (size - 1)  # a minute: int32
    assert len(encoded.device_times) < 100  # and the same step each time
    assert encoded.text_values is None
    steps = whole_numbers(encoded.num_values, size)
    assert steps is not None and steps[0] == 37 and steps[1].dtype == np.int8
    halves = BlockRows(times, times, ["value"] * size, counts / 2, np.zeros(size, bool),
                       [None] * size, np.zeros(size, bool), ["json"] * size)  # fmt: skip
    assert whole_numbers(encode(halves).num_values, size) is None
    assert np.array_equal(decode(encode(halves), size).num_value, counts / 2)


def test_a_state_column_gives_its_dictionary_and_indexes() -> None:
    values = ["running", "down:jam", None, "running"]
    times = DAY_START + np.arange(4, dtype=np.int64)
    rows = BlockRows(times, times, ["state"] * 4, np.zeros(4), np.ones(4, bool), values,
                     np.zeros(4, bool), ["json"] * 4)  # fmt: skip
    dictionary, codes = text_codes(encode(rows).text_values, 4)

    assert [json.loads(dictionary)[i] for i in codes] == values
    assert num_values(encode(rows).num_values, 4)[1].all()  # every number NULL


def test_rows_out_of_order_or_twice_at_one_instant_are_refused() -> None:
    times = np.array([DAY_START + 5, DAY_START + 5], dtype=np.int64)
    rows = BlockRows(times, times, ["state"] * 2, np.zeros(2), np.ones(2, bool), [None] * 2,
                     np.zeros(2, bool), ["json"] * 2)  # fmt: skip
    with pytest.raises(ValueError, match="device-time order"):
        encode(rows)
    assert math.isfinite(float(times[0]))
