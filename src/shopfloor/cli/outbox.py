"""`shopfloor worker relay` and `shopfloor outbox status|retry|dead|replay`.

The relay delivers the outbox to the configured subscribers until SIGTERM (or Ctrl-C):
the batch in flight is settled before it exits. The outbox commands show and act on the
delivery state; they change rows only, the relay does the sending.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime

import typer
from rich.table import Table

from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.integration import admin, queries
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.subscribers import Subscriber, receivers
from shopfloor.kernel.clock import as_utc, utc_now
from shopfloor.platform.settings import Settings

worker_app = typer.Typer(help="Background workers (the outbox relay).", no_args_is_help=True)
outbox_app = typer.Typer(
    help="Outbound events: delivery per subscriber, dead letters, replays.", no_args_is_help=True
)
SubscriberOption = typer.Option(None, "--subscriber", help="Only this subscriber")


def _subscribers(settings: Settings) -> tuple[Subscriber, ...]:
    with plant_errors():
        return load_subscribers(settings)
    return ()  # pragma: no cover - plant_errors exits


@worker_app.command("relay")
def relay(
    once: bool = typer.Option(False, "--once", help="One pass, then exit"),
    database_url: str | None = DbOption,
) -> None:
    """Deliver outbox events to every configured subscriber, at least once, until SIGTERM."""
    from shopfloor.workers.relay import RelayWorker

    settings = settings_from(database_url)
    subscribers = _subscribers(settings)
    if not subscribers:
        fail("no subscribers configured (SHOPFLOOR_SUBSCRIBERS_FILE or SHOPFLOOR_SUBSCRIBERS)")
    if not receivers(subscribers):
        fail(
            "every subscriber only pulls plans from its ERP (post_facts = false): nothing to relay"
        )
    with runtime_for(settings) as runtime:
        worker = RelayWorker(runtime, subscribers)
        try:
            if once:
                report = worker.run_once()
                console.print(
                    f"claimed {report.claimed}, delivered {report.delivered}, "
                    f"failed {report.failed}"
                )
                return
            stop = threading.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
            names = ", ".join(s.name for s in subscribers)
            console.print(f"relaying the outbox to {names} (SIGTERM to stop)")
            worker.run(stop)
            totals = worker.totals
            console.print(f"stopped: delivered {totals.delivered}, failed {totals.failed}")
        finally:
            worker.close()


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = int((utc_now() - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


@outbox_app.command("status")
def status(database_url: str | None = DbOption) -> None:
    """Per subscriber: pending, delivered, dead, and the age of the oldest waiting event."""
    settings = settings_from(database_url)
    names = [s.name for s in _subscribers(settings)]
    with runtime_for(settings) as runtime, runtime.sessions() as session:
        rows = queries.status(session, names)
        waiting = queries.not_fanned_out(session)
    table = Table(title="Outbox delivery per subscriber", title_justify="left")
    for column in ("subscriber", "pending", "held", "delivered", "dead", "oldest waiting"):
        table.add_column(column, justify="left" if column == "subscriber" else "right")
    for row in rows:
        table.add_row(
            row.subscriber + ("" if row.subscriber in names else " (not configured)"),
            str(row.count("pending")),
            str(row.count("held") + row.count("grouped")),
            str(row.count("delivered")),
            f"[red]{row.count('dead')}[/]" if row.count("dead") else "0",
            _age(row.oldest_pending),
        )
    console.print(table)
    console.print(f"events not yet picked up by a relay: {waiting}")


@outbox_app.command("dead")
def dead(
    subscriber: str | None = SubscriberOption,
    limit: int = typer.Option(100, help="At most this many"),
    database_url: str | None = DbOption,
) -> None:
    """List dead letters with the receiver's last error."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.sessions() as session:
        letters = queries.dead_letters(session, subscriber, limit)
    table = Table(title=f"Dead letters ({len(letters)})", title_justify="left")
    for column in ("subscriber", "event", "type", "attempts", "last attempt", "last error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.subscriber,
            letter.event_id,
            letter.event_type,
            str(letter.attempts),
            letter.last_attempt_at.isoformat(timespec="seconds") if letter.last_attempt_at else "",
            letter.last_error or "",
        )
    console.print(table)


@outbox_app.command("retry")
def retry(subscriber: str | None = SubscriberOption, database_url: str | None = DbOption) -> None:
    """Send dead letters again (same ids, a fresh count of attempts)."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.unit_of_work() as uow:
        count = admin.retry(uow.session, now=utc_now(), subscriber=subscriber)
        uow.commit()
    console.print(f"{count} dead letter(s) will be sent again by the relay")


@outbox_app.command("replay")
def replay(
    since: str = typer.Option(..., "--since", help="ISO time, e.g. 2026-03-02T06:00Z"),
    subscriber: str | None = SubscriberOption,
    database_url: str | None = DbOption,
) -> None:
    """Deliver again what was delivered, for events recorded since a time (same ids)."""
    try:
        moment = as_utc(datetime.fromisoformat(since))
    except ValueError:
        fail(f"--since must be an ISO date or time, not {since!r}")
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.unit_of_work() as uow:
        count = admin.replay(uow.session, since=moment, now=utc_now(), subscriber=subscriber)
        uow.commit()
    console.print(f"{count} message(s) since {moment.isoformat()} will be sent again")
