"""The binary COPY reader of `machines.signal_arrays`: PostgreSQL's binary format parsed
however the stream is cut into chunks, each equipment handed out once its rows are in."""

from __future__ import annotations

import queue
import random
import struct

import numpy as np

from shopfloor.machines.signal_blocks import PG_EPOCH_US as _PG_EPOCH_US
from shopfloor.machines.signal_blocks_read import _parse_stream


def array(oid: int, code: str, values: list) -> bytes:
    body = struct.pack(">iiiii", 1, 0, oid, len(values), 1)
    body += b"".join(struct.pack(f">i{code}", 8, v) for v in values)
    return struct.pack(">i", len(body)) + body


def row(equipment_id: int, metric: str, times: list[int], values: list[float]) -> bytes:
    name = metric.encode()
    return (
        struct.pack(">hii", 4, 4, equipment_id)
        + struct.pack(">i", len(name))
        + name
        + array(1184, "q", times)
        + array(701, "d", values)
    )


def stream(rows: list[bytes], seed: int) -> queue.Queue:
    data = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 4) + b"ext!" + b"".join(rows)
    data += struct.pack(">h", -1)
    rng = random.Random(seed)
    chunks: queue.Queue = queue.Queue()
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 2, 3, 7, 19, 64, 1000])
        chunks.put(data[offset : offset + size])
        offset += size
    chunks.put(None)
    return chunks


def test_rows_are_parsed_whatever_the_chunks():
    rows = [
        row(3, "state", [0, 1_000_000], [4.0, 0.0]),
        row(3, "total", [5, 6, 7], [1.0, 2.5, -1.0]),
        row(8, "total", list(range(500)), [float(v) for v in range(500)]),
    ]
    for seed in range(20):
        found = list(_parse_stream(stream(rows, seed)))
        assert [e for e, _ in found] == [3, 8]
        times, values = found[0][1]["state"]
        assert times.tolist() == [_PG_EPOCH_US, _PG_EPOCH_US + 1_000_000]
        assert values.tolist() == [4.0, 0.0]
        assert found[0][1]["total"][1].tolist() == [1.0, 2.5, -1.0]
        assert np.array_equal(found[1][1]["total"][0] - _PG_EPOCH_US, np.arange(500))
