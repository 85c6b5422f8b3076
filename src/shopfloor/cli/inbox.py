"""`shopfloor inbox status|list|retry|purge` and `shopfloor worker erp-sync`.

The inbox holds what ERP sent (pushed to the API or pulled by the sync worker): applied,
waiting for something it refers to, or rejected with the reason. The worker pulls ERP on
each pulling subscriber's cadence until SIGTERM; `--once` pulls every one of them now.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime

import typer
from rich.table import Table

from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.cli.outbox import worker_app
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.inbox import queries
from shopfloor.integration.inbox import service as inbox
from shopfloor.integration.inbox.domain import KEEP_DAYS
from shopfloor.kernel.context import SYSTEM

inbox_app = typer.Typer(
    help="Documents from ERP: applied, waiting for what they refer to, or rejected.",
    no_args_is_help=True,
)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@inbox_app.command("status")
def status(database_url: str | None = DbOption) -> None:
    """Documents per status, and where each pull of ERP stands."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.sessions() as session:
        found = queries.status(session)
        pulls = queries.pulls(session)
    counts = found.counts
    waiting = f"waiting {counts['waiting']}"
    if found.oldest_waiting:
        waiting += f" (oldest since {_when(found.oldest_waiting)})"
    rejected = f"rejected {counts['rejected']}"
    console.print(
        f"applied {counts['applied']}, "
        + (f"[yellow]{waiting}[/]" if counts["waiting"] else waiting)
        + ", "
        + (f"[red]{rejected}[/]" if counts["rejected"] else rejected)
    )
    if pulls:
        table = Table(title="Pulls of ERP", title_justify="left")
        for column in ("subscriber", "last pull", "documents", "failures", "next", "last error"):
            table.add_column(column)
        for pull in pulls:
            table.add_row(
                pull.subscriber,
                _when(pull.pulled_at),
                str(pull.documents),
                f"[red]{pull.failures}[/]" if pull.failures else "0",
                _when(pull.next_pull_at),
                pull.last_error or "",
            )
        console.print(table)


@inbox_app.command("list")
def list_documents(
    status: str | None = typer.Option(
        None, "--status", help="Only documents applied, waiting or rejected"
    ),
    source: str | None = typer.Option(None, "--source", help="Only from this source"),
    limit: int = typer.Option(100, help="At most this many, newest first"),
    database_url: str | None = DbOption,
) -> None:
    """The documents, newest first, with why each waits or was rejected."""
    if status is not None and status not in ("applied", "waiting", "rejected"):
        fail("--status is applied, waiting or rejected")
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.sessions() as session:
        rows = queries.documents(session, status, source=source, limit=limit)
    table = Table(title=f"Inbox ({len(rows)})", title_justify="left")
    for column in ("received", "source", "message id", "kind", "key", "status", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        colour = {"waiting": "yellow", "rejected": "red"}.get(row.status, "green")
        table.add_row(
            _when(row.received_at),
            row.source,
            row.message_id,
            row.kind,
            row.key,
            f"[{colour}]{row.status}[/]",
            row.detail or "",
        )
    console.print(table)


@inbox_app.command("retry")
def retry(database_url: str | None = DbOption) -> None:
    """Try the waiting documents again now (after master data came in another way)."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
        settled = inbox.retry_waiting(uow.session, runtime.context(SYSTEM))
        uow.commit()
    applied = sum(1 for row in settled if row.status == "applied")
    console.print(f"applied {applied}, rejected {len(settled) - applied}")


@inbox_app.command("purge")
def purge(
    days: int = typer.Option(KEEP_DAYS, "--days", help=f"Keep days (at least {KEEP_DAYS})"),
    database_url: str | None = DbOption,
) -> None:
    """Forget applied and rejected documents settled longer ago than --days.

    Waiting ones are kept. A message id forgotten here is applied again if ERP repeats it."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
        count = inbox.purge(uow.session, runtime.context(SYSTEM), keep_days=days)
        uow.commit()
    console.print(f"purged {count} document(s) settled more than {max(days, KEEP_DAYS)} days ago")


@worker_app.command("erp-sync")
def erp_sync(
    once: bool = typer.Option(False, "--once", help="Pull every pulling subscriber once, exit"),
    database_url: str | None = DbOption,
) -> None:
    """Pull ERP's plans into the inbox on each pulling subscriber's cadence, until SIGTERM.

    Pulling subscribers have transport "erp" and pull_seconds > 0; while ERP fails, the
    worker backs off."""
    from shopfloor.workers.erp_sync import ErpSyncWorker, pulling

    settings = settings_from(database_url)
    with plant_errors():
        subscribers = pulling(load_subscribers(settings))
    if not subscribers:
        fail('no subscriber pulls ERP (transport "erp" with pull_seconds > 0)')
    with runtime_for(settings) as runtime, plant_errors():
        worker = ErpSyncWorker(runtime, subscribers)
        try:
            if once:
                failed = False
                for report in worker.run_once():
                    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))
                    if report.error:
                        failed = True
                        console.print(f"[red]{report.subscriber}: {report.error}[/]")
                    else:
                        console.print(f"{report.subscriber}: {counts or 'nothing new'}")
                if failed:
                    raise typer.Exit(1)
                return
            stop = threading.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
            names = ", ".join(s.name for s in subscribers)
            console.print(f"pulling ERP for {names} (SIGTERM to stop)")
            worker.run(stop)
        finally:
            worker.close()
