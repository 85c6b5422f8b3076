"""A full OEE recompute on one process per core: the caller's side.

Recomputing a month of a plant's machines is Python work — reading and decoding the sealed
blocks, the rules over arrays, adding up, the figures — and the interpreter lock keeps a
second thread from sharing it. Here the equipment are cut into chunks that the caller and
its worker processes (`oee_workers`) claim one at a time, so a worker that starts late (the
first start of the fork server imports shopfloor) or a slow chunk evens out instead of
being waited for. A worker tallies each chunk it claims (`oee_tallies.chunk_tallies`) and
hands back the chunk's sums per group: whole milliseconds, counts and exact Decimals, which
pickle in microseconds a group and add up in any order. The caller tallies chunks too,
between the workers', and works out every group's figures as its chunks come in, so a
published row is the same Decimals whichever process tallied its equipment
(tests/integration/test_oee_parallel.py compares them with the in-process recompute).

Only worth it and only right when another process reads what the caller's session reads:
at least `MIN_EQUIPMENT` equipment over more than `MIN_WINDOW`, a database file or server
(not SQLite in memory, not a test's single shared connection), and a session that has not
written in its open transaction (rows no other process sees yet): PostgreSQL has assigned
it no transaction id, nobody holds SQLite's write lock. Otherwise the recompute stays in
the caller's process.

A failing worker fails the recompute: a plant error (a count without an ideal cycle time,
an unknown equipment) is raised as itself, anything else as `OeeWorkerError` with the
worker's traceback; a worker that dies without a word (killed, out of memory) closes its
pipe, which the caller notices — it never waits for a chunk that cannot come.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime, timedelta
from multiprocessing.connection import Connection, wait
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from shopfloor.machines.oee_tallies import GroupTallies, PlantWindow, chunk_tallies, plant_window
from shopfloor.machines.oee_workers import (
    Failed,
    Job,
    OeeWorkerError,
    Share,
    start_fork_server,
    workers_of_this_process,
)

__all__ = [
    "MIN_EQUIPMENT",
    "MIN_WINDOW",
    "OeeWorkerError",
    "chunked",
    "process_count",
    "shareable_url",
    "start_early",
    "start_workers",
    "tallies_in_workers",
]

MIN_EQUIPMENT = 8  # fewer equipment, or a window of a day or less: stays in-process
MIN_WINDOW = timedelta(days=1)
LARGEST_CHUNK = 40  # equipment a claim: each claim costs its setup queries (~20 ms)
SMALLEST_CHUNK = 8  # ... and the last ones small, so that the processes end together


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def start_early(workers: int | None, window: timedelta) -> None:
    """Start the fork server now when a recompute of `window` may use workers (a long
    window, more than one core): it then imports shopfloor while this process reads the
    equipment list, instead of after."""
    if window > MIN_WINDOW and workers != 1 and cores() > 1:
        start_fork_server()


def start_workers(workers: int | None) -> int:
    """Start now the worker processes a large recompute would use (`workers` as in
    `process_count`): what a server does as it starts, so that its first recompute finds
    them ready rather than paying the fork server's start (about a second of a core).
    Returns how many were asked for; none on one core or with `workers` 1."""
    processes = min(workers or cores(), cores())
    if processes < 2:
        return 0
    start_fork_server()
    workers_of_this_process().start(processes - 1)
    return processes - 1


def process_count(workers: int | None, equipment: int, window: timedelta) -> int:
    """How many processes recompute, the caller included (1: the caller alone): `workers`
    (None or 0: one per core), at most one per core and one per equipment; 1 for fewer
    than `MIN_EQUIPMENT` equipment or a window of `MIN_WINDOW` or less, where starting
    processes would cost more than it saves."""
    if equipment < MIN_EQUIPMENT or window <= MIN_WINDOW:
        return 1
    available = cores()
    return max(1, min(workers or available, available, equipment))


def shareable_url(session: Session) -> str | None:
    """The URL (password included) under which another process reads what `session`
    reads, or None when it cannot: SQLite in memory or through one shared connection,
    another database kind, or rows the session wrote and has not committed."""
    engine: Engine = session.get_bind().engine
    url = engine.url
    if isinstance(engine.pool, StaticPool | SingletonThreadPool):
        return None
    if session.new or session.dirty or session.deleted:
        return None
    backend = url.get_backend_name()
    if backend == "postgresql":
        assigned = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
        return None if assigned is not None else url.render_as_string(hide_password=False)
    if backend != "sqlite" or url.query:
        return None
    path = Path(url.database or "")
    if url.database in (None, "", ":memory:") or not path.is_file() or _sqlite_writing(path):
        return None
    return make_url(f"sqlite:///{path.resolve()}").render_as_string(hide_password=False)


def _sqlite_writing(path: Path) -> bool:
    """Whether a connection holds the database's write lock: an open transaction that has
    written (the caller's own, perhaps), whose rows no other connection sees yet."""
    try:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return True
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.Error:
        return True
    finally:
        probe.close()


def chunked(codes: Sequence[str], processes: int) -> tuple[tuple[str, ...], ...]:
    """The equipment codes (each once) in chunks that shrink as they go ("guided"): each a
    share of what is left, so the processes even out at the end without paying a claim's
    setup queries for every few equipment; `LARGEST_CHUNK` at most, `SMALLEST_CHUNK` at
    least (smaller only for few equipment, so that every process gets some)."""
    distinct = tuple(dict.fromkeys(codes))
    smallest = max(1, min(SMALLEST_CHUNK, len(distinct) // (2 * processes)))
    chunks = []
    first = 0
    while first < len(distinct):
        left = len(distinct) - first
        size = min(LARGEST_CHUNK, max(smallest, -(-left // (2 * processes))))
        if left - size < smallest:  # no small remainder of its own
            size = left
        chunks.append(distinct[first : first + size])
        first += size
    return tuple(chunks)


def tallies_in_workers(
    session: Session,
    url: str,
    codes: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    keys: Sequence[str],
    processes: int,
    caller_works: bool = True,
) -> Generator[GroupTallies, None, None]:
    """The per-group tallies of [start, end) of the equipment, a chunk at a time as each is
    done (in any order), tallied by `processes - 1` worker processes reading `url` and —
    unless `caller_works` is False — by the caller on `session` between two chunks of the
    workers. Closing the iterator early lets the workers stop."""
    share = Share(url, start, end, tuple(keys), chunked(codes, processes))
    with workers_of_this_process().job(share, max(1, processes - 1)) as job:
        yield from _gather(session, job, caller_works)


def _gather(session: Session, job: Job, caller_works: bool) -> Iterator[GroupTallies]:
    """The chunks as they are done: the workers' first (so that theirs wait least), then
    one of the caller's while chunks are left, then the workers' until every chunk is in."""
    count = len(job.share.chunks)
    received = 0
    plant: PlantWindow | None = None
    while True:
        for chunk in _received(job, timeout=0):
            received += 1
            yield chunk
        index = job.claim() if caller_works else None
        if index is None:
            break
        if plant is None:  # the plant's side of the window, once for every chunk
            share = job.share
            plant = plant_window(
                session, start=share.start, end=share.end, equipment_codes=share.codes()
            )
        yield chunk_tallies(session, plant, job.share.keys, job.share.chunks[index])
        received += 1
    while received < count:
        if not job.listening:
            raise OeeWorkerError(
                f"{count - received} of {count} chunks of equipment never came back: a worker "
                f"process ended without handing them over ({job.endings()})"
            )
        for chunk in _received(job, timeout=None):
            received += 1
            yield chunk


def _received(job: Job, timeout: float | None) -> list[GroupTallies]:
    """The chunks the workers have handed in (waiting up to `timeout` for a message). A
    worker that is done with the recompute, or has ended, is no longer listened to; a
    message of an earlier recompute is let go; a worker's failure is raised."""
    chunks = []
    for ready in wait(list(job.listening), timeout):
        assert isinstance(ready, Connection)
        try:
            number, index, content = pickle.loads(ready.recv_bytes())
        except EOFError:
            job.listening.pop(ready).ended = True
            continue
        if number != job.number:
            continue
        if index is not None:
            chunks.append(content)
        elif content is None:  # done: it has no more chunks of this recompute
            del job.listening[ready]
        elif isinstance(content, Failed) and content.error is not None:
            raise content.error
        else:
            raise OeeWorkerError(f"an OEE worker process failed:\n{content.report}")
    return chunks
