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
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shopfloor.bootstrap import Runtime
from shopfloor.integration import dispatch, service
from shopfloor.integration.edge import EdgeLoop
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber
from shopfloor.integration.transports import Transport, transport_for
from shopfloor.kernel.clock import Clock, utc_now
from shopfloor.kernel.ids import new_event_id
from shopfloor.platform.logging import logger

log = logger("shopfloor.relay")
DEPTH = 2  # batches claimed but not yet settled, per claiming thread
CLAIMERS = 2  # claiming threads on PostgreSQL (SKIP LOCKED keeps them apart)


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


@dataclass
class _Batch:
    token: str
    claimed_at: datetime
    messages: list[Outgoing]
    outcomes: Future[list[Outcome]]


class RelayWorker:
    """Delivers the outbox to `subscribers`, using `runtime`'s database."""

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
        self.subscribers = tuple(subscribers)
        self.clock = clock
        self.batch = settings.relay_batch
        self.poll = settings.relay_poll_seconds
        self.lease = timedelta(seconds=settings.relay_lease_seconds)
        self.edge = EdgeLoop()
        self.transports = transports or {s.name: transport_for(s) for s in self.subscribers}
        self.totals = PassReport()

    def _claim(self) -> _Batch | None:
        token = new_event_id()
        now = self.clock()
        with self.runtime.unit_of_work() as uow:
            messages = service.claim(
                uow.session, self.subscribers, now=now, limit=self.batch, token=token,
                lease=self.lease,
            )  # fmt: skip
            uow.commit()
        if not messages:
            return None
        # Nothing of the batch is started later than 80 % into its lease: after the lease
        # another relay may take the rows over, and both would send them.
        send_before = time.monotonic() + 0.8 * self.lease.total_seconds()
        future = self.edge.submit(dispatch.deliver(self.transports, messages, now, send_before))
        return _Batch(token, now, messages, future)

    def _settle(self, batch: _Batch) -> PassReport:
        outcomes = batch.outcomes.result()
        with self.runtime.unit_of_work() as uow:
            service.settle(
                uow.session, self.subscribers, batch.messages, outcomes, now=self.clock(),
                token=batch.token, claimed_at=batch.claimed_at,
            )  # fmt: skip
            uow.commit()
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

        Claiming, sending and settling overlap: claiming threads (two on PostgreSQL, where
        SKIP LOCKED keeps them apart; one on SQLite) fill a queue of at most `DEPTH` batches
        each, the edge loop sends them, and a settling thread with its own connection
        records the outcomes — so the database, the receivers and both cores work at once.
        Errors are logged and retried after a pause: the rows are safe in the database
        whatever happens here (a batch whose settling failed is sent again after its lease).
        """
        claimers = 1 if self.runtime.settings.is_sqlite else CLAIMERS
        inflight: queue.Queue[_Batch | None] = queue.Queue(maxsize=DEPTH * claimers)
        settler = threading.Thread(target=self._settle_all, args=(inflight,), daemon=True,
                                   name="relay-settle")  # fmt: skip
        settler.start()
        threads = [
            threading.Thread(target=self._claim_all, args=(stop, inflight), daemon=True,
                             name=f"relay-claim-{n}")
            for n in range(claimers)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        inflight.put(None)
        settler.join()

    def _claim_all(self, stop: threading.Event, inflight: queue.Queue[_Batch | None]) -> None:
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

    def _settle_all(self, inflight: queue.Queue[_Batch | None]) -> None:
        while (batch := inflight.get()) is not None:
            try:
                self._settle(batch)
            except Exception:
                log.exception("settling failed; the batch is sent again after its lease")

    def close(self) -> None:
        async def close_all() -> None:
            for transport in self.transports.values():
                await transport.close()

        try:
            self.edge.run(close_all(), timeout=15)
        finally:
            self.edge.close()
