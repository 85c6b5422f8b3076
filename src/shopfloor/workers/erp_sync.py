"""The ERP sync worker: pull ERP's plans on a short cadence into the inbox.

For every subscriber with transport "erp" and `pull_seconds` > 0: ask its adapter what is
new since the stored cursor (outside any transaction: ERP may be slow), then, in one
transaction, hand the documents to the inbox and store the new cursor — both or neither,
so a crash in between makes the next pull fetch the same documents again, which the inbox
recognises. A failing pull (ERP down, a feed that cannot be read) keeps the cursor and backs
off (cadence doubled per failure, capped at an hour), recorded in `int_erp_cursor` so that
`shopfloor inbox status` shows it and a restart keeps respecting it.

Runs as `shopfloor worker erp-sync` (until SIGTERM; `--once` pulls every such subscriber
once) and as a thread of `shopfloor serve` / `demo` when such subscribers are configured.
Several workers pulling the same ERP are harmless (the inbox files each message id once),
only wasteful.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shopfloor.bootstrap import Runtime
from shopfloor.integration.edge import EdgeLoop
from shopfloor.integration.erp.ports import ErpAdapter, Pulled, load_adapter
from shopfloor.integration.inbox import cursors
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.subscribers import Subscriber
from shopfloor.kernel.clock import Clock, utc_now
from shopfloor.kernel.context import Actor
from shopfloor.platform.logging import logger

log = logger("shopfloor.erp_sync")
IDLE_SECONDS = 60.0  # the longest the loop sleeps when nothing is due


def pulling(subscribers: Sequence[Subscriber]) -> tuple[Subscriber, ...]:
    """The subscribers that pull ERP's plans: transport "erp" with a pull cadence."""
    return tuple(s for s in subscribers if s.transport == "erp" and s.pull_seconds > 0)


@dataclass(frozen=True)
class PullReport:
    """One pull of one subscriber: documents by outcome, or the error and the next try."""

    subscriber: str
    outcomes: dict[str, int]
    error: str | None = None
    next_try: datetime | None = None

    @property
    def documents(self) -> int:
        return sum(self.outcomes.values())


class ErpSyncWorker:
    """Pulls ERP into the inbox for `subscribers` (those that pull), using `runtime`."""

    def __init__(
        self,
        runtime: Runtime,
        subscribers: Sequence[Subscriber],
        *,
        clock: Clock = utc_now,
        adapters: dict[str, ErpAdapter] | None = None,
    ) -> None:
        self.runtime = runtime
        self.subscribers = pulling(subscribers)
        self.clock = clock
        self.edge = EdgeLoop("erp-sync-edge")
        self.adapters = adapters or {
            s.name: load_adapter(s.adapter, s.options) for s in self.subscribers
        }

    def _actor(self, subscriber: Subscriber) -> Actor:
        return Actor(0, "erp-sync", f"ERP sync ({subscriber.name})", frozenset({"integration"}))

    def pull(self, subscriber: Subscriber) -> PullReport:
        """One pull: adapter → inbox + cursor in one transaction; a failure is recorded."""
        name, cadence = subscriber.name, subscriber.pull_seconds
        with self.runtime.sessions() as session:
            row = cursors.cursor_of(session, name)
            cursor = row.cursor if row else None
        try:
            timeout = subscriber.timeout_seconds * 3
            pulled: Pulled = self.edge.run(self.adapters[name].pull(cursor), timeout=timeout)
            now = self.clock()
            with self.runtime.unit_of_work() as uow:
                ctx = replace(self.runtime.context(self._actor(subscriber)), now=now)
                received = inbox.receive(uow.session, ctx, name, pulled.documents)
                cursors.pulled(
                    uow.session, name, pulled.cursor, len(received), now=now,
                    cadence_seconds=cadence,
                )  # fmt: skip
                uow.commit()
        except Exception as exc:  # ERP down, a feed that cannot be read: back off, go on
            error = f"{type(exc).__name__}: {exc}"
            log.warning("pulling ERP failed; backing off", subscriber=name, error=error)
            with self.runtime.unit_of_work() as uow:
                next_try = cursors.pull_failed(
                    uow.session, name, error, now=self.clock(), cadence_seconds=cadence
                )
                uow.commit()
            return PullReport(name, {}, error, next_try)
        outcomes: dict[str, int] = {}
        for item in received:
            outcomes[item.outcome] = outcomes.get(item.outcome, 0) + 1
        if received:
            log.info("pulled ERP", subscriber=name, **outcomes)
        return PullReport(name, outcomes)

    def run_once(self, *, due_only: bool = False) -> list[PullReport]:
        """Pull every subscriber once (`due_only`: only those whose next pull is due)."""
        now = self.clock()
        reports = []
        for subscriber in self.subscribers:
            if due_only and not self._due(subscriber, now):
                continue
            reports.append(self.pull(subscriber))
        return reports

    def _due(self, subscriber: Subscriber, now: datetime) -> bool:
        with self.runtime.sessions() as session:
            row = cursors.cursor_of(session, subscriber.name)
            return row is None or row.next_pull_at is None or row.next_pull_at <= now

    def _sleep_seconds(self) -> float:
        """Until the next subscriber is due (at most IDLE_SECONDS, at least a tenth)."""
        now = self.clock()
        waits = [IDLE_SECONDS]
        with self.runtime.sessions() as session:
            for subscriber in self.subscribers:
                row = cursors.cursor_of(session, subscriber.name)
                if row is None or row.next_pull_at is None:
                    return 0.1
                waits.append((row.next_pull_at - now).total_seconds())
        return max(min(waits), 0.1)

    def run(self, stop: threading.Event) -> None:
        """Pull whatever is due, sleep until the next is, until `stop` is set."""
        while not stop.is_set():
            try:
                self.run_once(due_only=True)
                pause = self._sleep_seconds()
            except Exception:  # the database is away: try again after a pause
                log.exception("ERP sync pass failed; trying again")
                pause = IDLE_SECONDS / 4
            stop.wait(pause)

    def close(self) -> None:
        async def close_all() -> None:
            for adapter in self.adapters.values():
                await adapter.close()

        try:
            self.edge.run(close_all(), timeout=15)
        finally:
            self.edge.close()
