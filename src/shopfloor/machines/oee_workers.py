"""The worker processes of the parallel OEE recompute (`oee_parallel`): started on demand,
then kept for the life of the process that started them, serving one recompute after
another.

Workers come from a fork server (`multiprocessing`'s "forkserver": a fresh process that
imports the machine modules once and forks a worker on request — never a fork of the
caller, which may be a threaded web server), on a thread, so the caller is at work from
the first moment. Keeping them pays off: a worker started for every recompute would pay
its start each time, a first connection, every statement compiled anew and — when the
caller was started as a script, as `shopfloor serve` is — the script's imports again
(1.4 s of CPU for `shopfloor.cli.main`, more than a month's recompute saves); a kept worker
pays none of that after its first recompute. Between recomputes a worker holds no database
connection (its engine's pool is emptied, its compiled statements kept) and collects its
garbage; it ends with the process that started it (a daemon).

One recompute at a time uses the workers (a second one waits). Chunks are claimed from a
counter in shared memory that carries the recompute's number, so a worker still busy with an
earlier recompute — or started too late for one — never takes a chunk of the next; its
messages carry the number too and are let go. A worker tells the caller when it has no
more chunks of a recompute ("done"), so the caller waits only for workers that may still
hand something in; a worker that dies closes its pipe.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.engine import Engine

from shopfloor.kernel.errors import ShopfloorError
from shopfloor.machines.oee_tallies import PlantWindow, chunk_tallies, plant_window
from shopfloor.platform.db import make_engine, session_factory

__all__ = [
    "Failed",
    "Job",
    "OeeWorkerError",
    "Share",
    "start_fork_server",
    "workers_of_this_process",
]

# imported once, by the fork server (a module that is not installed is left out)
PRELOAD = ["shopfloor.machines.oee_workers", "sqlalchemy.dialects.postgresql.psycopg", "psycopg"]
IDLE_S = 1.0  # a worker idle this long collects its garbage
LOCK_WAIT_S = 10.0  # the chunk counter is held for microseconds; longer: its holder died


class OeeWorkerError(RuntimeError):
    """A worker process of the OEE recompute failed, or ended without its chunks."""


@dataclass(frozen=True)
class Share:
    """One recompute, as every worker is given it: where to read, the window, the group
    keys, and the chunks of equipment codes (claimed by index)."""

    url: str
    start: datetime
    end: datetime
    keys: tuple[str, ...]
    chunks: tuple[tuple[str, ...], ...]

    def codes(self) -> list[str]:
        return [code for chunk in self.chunks for code in chunk]


@dataclass(frozen=True)
class Failed:
    """A worker's message when a recompute fails in it: the plant error itself (raised as
    it is, as in-process), or the traceback of anything else."""

    error: ShopfloorError | None
    report: str


class Claims:
    """The chunk counter shared by a process and its workers: the number of the recompute
    under way and the index of its next chunk nobody has claimed yet."""

    def __init__(self, context: Any) -> None:
        self._cells = context.Array("q", 2)  # recompute number, next chunk

    def open(self, job: int) -> None:
        with self._locked():
            self._cells[0], self._cells[1] = job, 0

    def take(self, job: int, count: int) -> int | None:
        """The next chunk of recompute `job`, now claimed; None when none is left."""
        with self._locked():
            index: int = self._cells[1]
            if self._cells[0] != job or index >= count:
                return None
            self._cells[1] = index + 1
        return index

    def close(self, job: int) -> None:
        """No more chunks of `job` for anyone (at its end, or when it failed)."""
        with self._locked():
            if self._cells[0] == job:
                self._cells[0] = 0

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self._cells.get_lock()
        if not lock.acquire(timeout=LOCK_WAIT_S):
            raise OeeWorkerError("the chunk counter stays locked: a worker process died in it")
        try:
            yield
        finally:
            lock.release()


class _Worker:
    """One worker process, and the caller's end of the pipe to it."""

    def __init__(self, context: Any, claims: Claims) -> None:
        self.connection, self._their_end = context.Pipe()
        self.process = context.Process(
            target=serve, args=(self._their_end, claims), name="oee-worker", daemon=True
        )
        self.start_error: BaseException | None = None
        self.ended = False  # its pipe closed: it died, or never started

    def start(self) -> None:
        try:
            self.process.start()
        except Exception as exc:  # the caller then tallies the chunks itself
            self.start_error = exc
        finally:
            self._their_end.close()  # only the worker holds its end now

    def ending(self) -> str:
        if self.start_error is not None:
            return f"not started: {self.start_error!r}"
        self.process.join(timeout=1.0)
        return f"pid {self.process.pid}, exit code {self.process.exitcode}"

    def stop(self) -> None:
        self.connection.close()
        if self.process.pid is None or self.start_error is not None:
            return
        self.process.terminate()
        self.process.join(timeout=5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Job:
    """One recompute on the workers: its number, share and the workers it was sent to;
    `listening`: those that may still hand something in (not done with it, not ended)."""

    def __init__(self, number: int, share: Share, claims: Claims, workers: list[_Worker]):
        self.number = number
        self.share = share
        self.claims = claims
        self.workers = workers
        self.listening = {worker.connection: worker for worker in workers}

    def claim(self) -> int | None:
        return self.claims.take(self.number, len(self.share.chunks))

    def endings(self) -> str:
        return "; ".join(worker.ending() for worker in self.workers if worker.ended)


class WorkerPool:
    """The worker processes of this process, kept between recomputes."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._claims = Claims(self._context)
        self._workers: list[_Worker] = []
        self._starters: list[threading.Thread] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.pid = os.getpid()

    @contextmanager
    def job(self, share: Share, workers: int) -> Iterator[Job]:
        """`share` handed to `workers` workers (started now if missing, on a thread that
        nobody waits for), one recompute at a time; after a worker failed or died, every
        worker is let go (the next recompute starts new ones)."""
        with self._lock:
            missing = self._missing(workers)
            if missing:
                starter = threading.Thread(
                    target=_start, args=(missing,), name="oee-workers", daemon=True
                )
                starter.start()
                self._starters = [t for t in self._starters if t.is_alive()] + [starter]
            number = next(self._numbers)
            self._claims.open(number)
            job = Job(number, share, self._claims, self._sent(number, share, workers))
            try:
                yield job
            except OeeWorkerError:
                self._stop_all()
                raise
            finally:
                self._claims.close(job.number)

    def start(self, workers: int) -> None:
        """Have `workers` workers running, those missing started now: a server at start-up,
        so that its first recompute need not wait for them."""
        with self._lock:
            _start(self._missing(workers))

    def _missing(self, workers: int) -> list[_Worker]:
        """New workers for those missing of `workers` (one that ended is let go), not
        started yet."""
        self._workers = [worker for worker in self._workers if not worker.ended]
        missing = [
            _Worker(self._context, self._claims) for _ in range(workers - len(self._workers))
        ]
        self._workers += missing
        return missing

    def _sent(self, number: int, share: Share, workers: int) -> list[_Worker]:
        """The first `workers` workers, each sent the recompute; one that has ended since
        the last recompute is let go."""
        sent = []
        for worker in self._workers[:workers]:
            try:
                worker.connection.send((number, share))
            except OSError:
                worker.ended = True
                continue
            sent.append(worker)
        return sent

    def _stop_all(self) -> None:
        """Let every worker go, and the chunk counter with them (one may have died in it)."""
        for starter in self._starters:
            starter.join()
        workers, self._workers, self._starters = self._workers, [], []
        for worker in workers:
            worker.stop()
        self._claims = Claims(self._context)


def _start(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.start()


def start_fork_server() -> None:
    """Start the fork server (once per process; nothing happens when it runs), so that it
    imports the machine modules while the caller does something else."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def workers_of_this_process() -> WorkerPool:
    """This process's worker pool (a new one in a forked child: the workers belong to the
    process that started them)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = WorkerPool()
        return _POOL


def serve(connection: Connection, claims: Claims) -> None:
    """A worker process: serve the recomputes it is handed, one after another, until the
    caller's end of its pipe closes.

    Tallies are pickled here and written to the pipe by a thread, so the worker goes on with
    its next chunk while the caller is busy with one of its own. The cycle collector is off
    (what a recompute makes is let go by reference counting; collecting generations full of
    arrays and tallies cost about a tenth of the work); it collects once the worker has been
    idle for a second, when nobody waits for it."""
    gc.disable()
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    writer = threading.Thread(target=_write, args=(outbox, connection), name="oee-worker-send")
    writer.start()
    engines = _Engines()
    try:
        while True:
            if not connection.poll(IDLE_S):
                gc.collect()
            try:
                number, share = connection.recv()
            except EOFError:
                return
            for message in _recompute(engines, number, share, claims):
                outbox.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
            engines.let_go()
    finally:
        outbox.put(None)
        writer.join()
        engines.let_go()


class _Engines:
    """A worker's engine, kept from one recompute to the next (its compiled statements
    with it), a new one when the database changes; `let_go` closes its connections."""

    def __init__(self) -> None:
        self._url = ""
        self._engine: Engine | None = None

    def of(self, url: str) -> Engine:
        if self._engine is None or url != self._url:
            if self._engine is not None:
                self._engine.dispose()
            self._engine, self._url = make_engine(url, pool_size=1), url
        return self._engine

    def let_go(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _recompute(
    engines: _Engines, number: int, share: Share, claims: Claims
) -> Iterator[tuple[Any, ...]]:
    """A worker's messages for one recompute: (number, chunk index, tallies) for each chunk
    it claims, (number, None, Failed) if it fails, and (number, None, None) at its end."""
    try:
        with session_factory(engines.of(share.url))() as session:
            plant: PlantWindow | None = None
            while (index := claims.take(number, len(share.chunks))) is not None:
                if plant is None:  # once, and only by a worker that gets a chunk
                    plant = plant_window(
                        session, start=share.start, end=share.end, equipment_codes=share.codes()
                    )
                chunk = chunk_tallies(session, plant, share.keys, share.chunks[index])
                yield (number, index, chunk)
    except Exception as exc:
        claims.close(number)  # the others stop at their next claim
        yield (number, None, _failure(exc))
    yield (number, None, None)


def _write(outbox: queue.SimpleQueue[bytes | None], connection: Connection) -> None:
    while (payload := outbox.get()) is not None:
        try:
            connection.send_bytes(payload)
        except OSError:  # the caller's end is gone: nothing to tell any more
            return


def _failure(exc: BaseException) -> Failed:
    report = "".join(traceback.format_exception(exc))
    if isinstance(exc, ShopfloorError):
        try:
            pickle.dumps(exc)
        except Exception:
            return Failed(None, report)
        return Failed(exc, report)
    return Failed(None, report)
