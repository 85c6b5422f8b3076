"""The machine watch: turns machine signals into downtime records and maintenance requests
on a short cadence, so nobody has to run `shopfloor downtime detect` by hand.

Each pass, in one transaction: record every stop that ended in the look-back window and is
not recorded yet (detection is idempotent, so overlapping windows never record a stop
twice), then measure the maintenance rules and raise the requests that are due. The window
reaches back `window` (default 12 h, the longest stop judged whole) and stops `settle`
before now, so a stop is recorded once the machine has run again for that long.

Then, in a transaction of its own, it seals the machine signals of closed days
(`signal_blocks_seal`): at most `seal_per_pass` equipment-days a pass, the oldest first, so
a backlog (a first start on a year of history) is worked off pass by pass.

Runs as `shopfloor worker machines` (until SIGTERM; `--once` for one pass) and as a thread
of `shopfloor serve` / `demo`. Several watches side by side are harmless (idempotent; on
PostgreSQL the work center row lock keeps them in turn), only wasteful.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.clock import Clock, utc_now
from shopfloor.kernel.context import SYSTEM
from shopfloor.machines import maintenance
from shopfloor.machines import service as machines
from shopfloor.machines.signal_blocks import sealable_before
from shopfloor.machines.signal_blocks_seal import SealReport, days_to_seal, seal_days, seal_signals
from shopfloor.platform.logging import logger

log = logger("shopfloor.machine_watch")


@dataclass(frozen=True)
class WatchReport:
    stops_recorded: int
    maintenance_requested: int
    days_sealed: int = 0


class MachineWatch:
    def __init__(
        self,
        runtime: Runtime,
        *,
        every: timedelta = timedelta(minutes=1),
        window: timedelta = timedelta(hours=12),
        settle: timedelta = timedelta(seconds=30),
        clock: Clock = utc_now,
        seal_after: timedelta | None = None,
        seal_per_pass: int = 400,
    ) -> None:
        self.runtime, self.every, self.window, self.settle = runtime, every, window, settle
        self.clock = clock
        hours = runtime.settings.signal_seal_after_hours
        self.seal_after = seal_after if seal_after is not None else timedelta(hours=hours)
        self.seal_per_pass = seal_per_pass

    def run_once(self) -> WatchReport:
        now = self.clock()
        end = now - self.settle
        with self.runtime.unit_of_work() as uow:
            ctx = replace(self.runtime.context(SYSTEM), now=now)
            stops = machines.detect_downtime(uow.session, ctx, start=end - self.window, end=end)
            requests = maintenance.evaluate_maintenance_rules(uow.session, ctx)
            uow.commit()
        with self.runtime.unit_of_work() as uow:
            sealed = seal_signals(
                uow.session, now=now, seal_after=self.seal_after, limit=self.seal_per_pass
            )
            uow.commit()
        report = WatchReport(len(stops), len(requests), sealed.days)
        if stops or requests or sealed.days:
            log.info("machine_watch.pass", stops=report.stops_recorded,
                     requests=report.maintenance_requested, sealed=report.days_sealed)  # fmt: skip
        return report

    def close(self) -> None:
        """Nothing to release: each pass opens and closes its own transaction."""

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; a failed pass is logged and retried."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bad pass must not end the watch
                log.exception("machine_watch.failed")
            stop.wait(self.every.total_seconds())


def seal_all(
    runtime: Runtime,
    *,
    now: datetime,
    seal_after: timedelta,
    batch: int = 200,
    started: Callable[[int], None] | None = None,
    advance: Callable[[int], None] | None = None,
) -> SealReport:
    """Seal every closed day that has no block yet (`shopfloor signals seal`, a backlog at
    once): `batch` equipment-days per transaction, each equipment's days in a row (read
    a month at a time). `started` is told how many there are, `advance` each done."""
    with runtime.sessions() as session:
        days = sorted(days_to_seal(session, sealable_before(now, seal_after)))
    if started is not None:
        started(len(days))
    report = SealReport()
    for first in range(0, len(days), batch):
        with runtime.unit_of_work() as uow:
            report += seal_days(uow.session, days[first : first + batch], now, advance)
            uow.commit()
    return report
