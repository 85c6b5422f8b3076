"""The outbox relay's loop: claim (commit), send, settle (commit), again.

Delivery is at least once: a relay killed after sending but before settling leaves its
rows claimed; when their lease runs out any relay sends them again with the same ids, and
receivers deduplicate. Several relays may run side by side: on PostgreSQL each claims with
`FOR UPDATE SKIP LOCKED`, so none waits for or takes another's rows; on SQLite claims queue
on the write lock. `run` overlaps the database work of one batch with the sending of the
previous one; `run_once` is one plain pass (`shopfloor worker relay --once`, tests).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from shopfloor.bootstrap import Runtime
from shopfloor.integration import dispatch, service
from shopfloor.integration.edge import EdgeLoop
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber, receivers
from shopfloor.integration.transports import Transport, transport_for
from shopfloor.kernel.clock import Clock, utc_now
from shopfloor.kernel.ids import new_event_id
from shopfloor.platform.logging import logger
from shopfloor.workers.relay_pipeline import DEPTH, Batch, run_pipeline

log = logger("shopfloor.relay")


@dataclass
class PassReport:
    """What one pass did: messages claimed, and how they ended."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, outcomes: Sequence[Outcome]) -> None:
        self.claimed += len(outcomes)
        for outcome in outcomes:
            if outcome.ok:
                self.delivered += 1
            else:
                self.failed += 1
                if outcome.error and len(self.errors) < 5:
                    self.errors.append(f"{outcome.message.subscriber}: {outcome.error}")


class RelayWorker:
    """Delivers the outbox to `subscribers` (but pull-only ERPs), using `runtime`'s
    database."""

    def __init__(
        self,
        runtime: Runtime,
        subscribers: Sequence[Subscriber],
        *,
        clock: Clock = utc_now,
        transports: dict[str, Transport] | None = None,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.subscribers = receivers(subscribers)
        self.clock = clock
        self.batch = settings.relay_batch
        self.poll = settings.relay_poll_seconds
        self.lease = timedelta(seconds=settings.relay_lease_seconds)
        self.edge = EdgeLoop()
        self.transports = transports or {s.name: transport_for(s) for s in self.subscribers}
        self.totals = PassReport()
        self.async_engine: AsyncEngine | None = None  # PostgreSQL: made on the edge loop

    def _claim(self) -> Batch | None:
        token, now = new_event_id(), self.clock()
        with self.runtime.unit_of_work() as uow:
            messages = self.claim_in(uow.session, token, now)
            uow.commit()
        if not messages:
            return None
        future = self.edge.submit(self.deliver(messages, now))
        return Batch(token, now, messages, future)

    def claim_in(self, session: Session, token: str, now: datetime) -> list[Outgoing]:
        """This pass's claim, in the caller's transaction."""
        return service.claim(session, self.subscribers, now=now, limit=self.batch, token=token,
                             lease=self.lease)  # fmt: skip

    def deliver(
        self, messages: list[Outgoing], now: datetime
    ) -> Coroutine[Any, Any, list[Outcome]]:
        """Sending a claimed batch, on the edge loop. Nothing of it is started later than
        80 % into its lease: after the lease another relay may take the rows over, and
        both would send them."""
        send_before = time.monotonic() + 0.8 * self.lease.total_seconds()
        return dispatch.deliver(self.transports, messages, now, send_before)

    def settle_in(self, session: Session, batch: Batch, outcomes: Sequence[Outcome]) -> None:
        """Record a batch's outcomes, in the caller's transaction."""
        service.settle(session, self.subscribers, batch.messages, outcomes, now=self.clock(),
                       token=batch.token, claimed_at=batch.claimed_at)  # fmt: skip

    def _settle(self, batch: Batch) -> PassReport:
        assert isinstance(batch.outcomes, Future)
        outcomes = batch.outcomes.result()
        with self.runtime.unit_of_work() as uow:
            self.settle_in(uow.session, batch, outcomes)
            uow.commit()
        return self.count(outcomes)

    def count(self, outcomes: Sequence[Outcome]) -> PassReport:
        """Add a settled batch to the totals; its report."""
        report = PassReport()
        report.add(outcomes)
        self._count(report)
        return report

    def _count(self, report: PassReport) -> None:
        self.totals.claimed += report.claimed
        self.totals.delivered += report.delivered
        self.totals.failed += report.failed
        if report.failed:
            log.warning("deliveries failed; they wait with backoff", failed=report.failed,
                        first_errors=report.errors)  # fmt: skip

    def run_once(self) -> PassReport:
        """One pass: claim, send, settle. Returns what it did (claimed 0: nothing was due)."""
        batch = self._claim()
        return PassReport() if batch is None else self._settle(batch)

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; batches in flight are settled first.

        Claiming, sending and settling overlap, so the database, the receivers and both
        cores work at once: up to `DEPTH` batches per claimer are in flight. On PostgreSQL
        all three are tasks of the edge loop (`relay_pipeline`: two claimers, SKIP LOCKED
        keeps them apart). On SQLite one claiming thread and one settling thread hand
        batches to the loop. Errors are logged and retried after a pause: the rows are safe
        in the database whatever happens here (a batch whose settling failed is sent again
        after its lease).
        """
        if not self.runtime.settings.is_sqlite:
            self.edge.run(run_pipeline(self, stop))
            return
        inflight: queue.Queue[Batch | None] = queue.Queue(maxsize=DEPTH)
        settler = threading.Thread(target=self._settle_all, args=(inflight,), daemon=True,
                                   name="relay-settle")  # fmt: skip
        settler.start()
        self._claim_all(stop, inflight)
        inflight.put(None)
        settler.join()

    def _claim_all(self, stop: threading.Event, inflight: queue.Queue[Batch | None]) -> None:
        while not stop.is_set():
            try:
                batch = self._claim()
            except Exception:
                log.exception("claiming failed; trying again after a pause")
                stop.wait(self.poll)
                continue
            if batch is None:
                stop.wait(self.poll)
            else:
                inflight.put(batch)

    def _settle_all(self, inflight: queue.Queue[Batch | None]) -> None:
        while (batch := inflight.get()) is not None:
            try:
                self._settle(batch)
            except Exception:
                log.exception("settling failed; the batch is sent again after its lease")

    def close(self) -> None:
        async def close_all() -> None:
            for transport in self.transports.values():
                await transport.close()
            if self.async_engine is not None:
                await self.async_engine.dispose()

        try:
            self.edge.run(close_all(), timeout=15)
        finally:
            self.edge.close()
