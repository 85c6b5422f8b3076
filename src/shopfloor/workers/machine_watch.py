"""The machine watch: turns machine signals into downtime records and maintenance requests
on a short cadence, so nobody has to run `shopfloor downtime detect` by hand.

Each pass, in one transaction: record every stop that ended in the look-back window and is
not recorded yet (detection is idempotent, so overlapping windows never record a stop
twice), then measure the maintenance rules and raise the requests that are due. The window
reaches back `window` (default 12 h, the longest stop judged whole) and stops `settle`
before now, so a stop is recorded once the machine has run again for that long.

Runs as `shopfloor worker machines` (until SIGTERM; `--once` for one pass) and as a thread
of `shopfloor serve` / `demo`. Several watches side by side are harmless (idempotent; on
PostgreSQL the work center row lock keeps them in turn), only wasteful.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import timedelta

from shopfloor.bootstrap import Runtime
from shopfloor.kernel.clock import Clock, utc_now
from shopfloor.kernel.context import SYSTEM
from shopfloor.machines import maintenance
from shopfloor.machines import service as machines
from shopfloor.platform.logging import logger

log = logger("shopfloor.machine_watch")


@dataclass(frozen=True)
class WatchReport:
    stops_recorded: int
    maintenance_requested: int


class MachineWatch:
    def __init__(
        self,
        runtime: Runtime,
        *,
        every: timedelta = timedelta(minutes=1),
        window: timedelta = timedelta(hours=12),
        settle: timedelta = timedelta(seconds=30),
        clock: Clock = utc_now,
    ) -> None:
        self.runtime, self.every, self.window, self.settle = runtime, every, window, settle
        self.clock = clock

    def run_once(self) -> WatchReport:
        now = self.clock()
        end = now - self.settle
        with self.runtime.unit_of_work() as uow:
            ctx = replace(self.runtime.context(SYSTEM), now=now)
            stops = machines.detect_downtime(uow.session, ctx, start=end - self.window, end=end)
            requests = maintenance.evaluate_maintenance_rules(uow.session, ctx)
            uow.commit()
        report = WatchReport(len(stops), len(requests))
        if stops or requests:
            log.info("machine_watch.pass", stops=report.stops_recorded,
                     requests=report.maintenance_requested)  # fmt: skip
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
