"""The relay on PostgreSQL: claiming, sending and settling as tasks of one event loop.

The edge loop, where the transports keep their connections, also runs the database work,
through psycopg's async driver: while one batch waits for PostgreSQL, another is being
published and a third acknowledged, all in one thread. Threads would do the same work at a
higher price — measured, the relay spent about a third more CPU per event with claiming and
settling threads beside the loop's, the three taking turns at the interpreter lock.

The rules stay the synchronous services of `integration.service`: SQLAlchemy runs them
inside the loop (`AsyncSession.run_sync`), so both databases share one implementation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.kernel.ids import new_event_id
from shopfloor.platform.db import make_async_engine
from shopfloor.platform.logging import logger

if TYPE_CHECKING:
    from shopfloor.workers.relay import RelayWorker

log = logger("shopfloor.relay")
CLAIMERS = 2  # claiming tasks (SKIP LOCKED keeps them apart, as it does separate relays)
DEPTH = 2  # batches claimed but not yet settled, per claimer
Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Batch:
    """A claimed batch being sent: its outcomes come from the edge loop, as a future
    (claimed by a thread) or a task (claimed on the loop)."""

    token: str
    claimed_at: datetime
    messages: list[Outgoing]
    outcomes: Future[list[Outcome]] | asyncio.Future[list[Outcome]]


async def run_pipeline(worker: RelayWorker, stop: threading.Event) -> None:
    """Claim, send and settle until `stop` is set; batches in flight are settled first."""
    if worker.async_engine is None:  # kept until the worker closes, like the transports
        url = worker.runtime.settings.database_url
        worker.async_engine = make_async_engine(url, pool_size=CLAIMERS + 1)
    sessions = async_sessionmaker(worker.async_engine, expire_on_commit=False)
    inflight: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=DEPTH * CLAIMERS)
    settler = asyncio.create_task(_settle_all(worker, sessions, inflight))
    try:
        await asyncio.gather(*(_claim_all(worker, sessions, stop, inflight)
                               for _ in range(CLAIMERS)))  # fmt: skip
    finally:
        await inflight.put(None)
        await settler


async def _claim_all(
    worker: RelayWorker,
    sessions: Sessions,
    stop: threading.Event,
    inflight: asyncio.Queue[Batch | None],
) -> None:
    while not stop.is_set():
        try:
            batch = await _claim(worker, sessions)
        except Exception:
            log.exception("claiming failed; trying again after a pause")
            await _pause(stop, worker.poll)
            continue
        if batch is None:
            await _pause(stop, worker.poll)
        else:
            await inflight.put(batch)


async def _claim(worker: RelayWorker, sessions: Sessions) -> Batch | None:
    token, now = new_event_id(), worker.clock()
    async with sessions() as session:
        messages = await session.run_sync(worker.claim_in, token, now)
        await session.commit()
    if not messages:
        return None
    return Batch(token, now, messages, asyncio.ensure_future(worker.deliver(messages, now)))


async def _settle_all(
    worker: RelayWorker, sessions: Sessions, inflight: asyncio.Queue[Batch | None]
) -> None:
    while (batch := await inflight.get()) is not None:
        try:
            assert isinstance(batch.outcomes, asyncio.Future)
            outcomes: Sequence[Outcome] = await batch.outcomes
            async with sessions() as session:
                await session.run_sync(worker.settle_in, batch, outcomes)
                await session.commit()
            worker.count(outcomes)
        except Exception:
            log.exception("settling failed; the batch is sent again after its lease")


async def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleep up to `seconds`, waking early (within 0.1 s) when `stop` is set."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while not stop.is_set() and (left := until - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.1))
