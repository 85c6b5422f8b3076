"""`shopfloor import FILE`: every record through the same service function as the API.

Each record runs in its own transaction, so a rejected row never stops or undoes the others;
`--dry-run` runs them all in one transaction (a savepoint per record, so later records see
earlier ones) and rolls it back. A record that changed nothing (the same item sent again)
counts as unchanged: the services write an audit entry exactly when something changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.orm import Session

from shopfloor.bootstrap import Runtime
from shopfloor.cli import importer
from shopfloor.cli.common import DbOption, console, fail, runtime_for, settings_from
from shopfloor.integration.record_apply import Rejection, apply_record
from shopfloor.kernel.context import SYSTEM
from shopfloor.platform import deferred


@dataclass(frozen=True)
class Rejected:
    record: importer.Record
    message: str


@dataclass
class ImportOutcome:
    imported: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def run_import(
    runtime: Runtime,
    records: list[importer.Record],
    *,
    dry_run: bool = False,
    advance: Callable[[], None] = lambda: None,
) -> ImportOutcome:
    """Apply every record; each in its own transaction (or savepoint for a dry run)."""
    outcome = ImportOutcome()

    def count(record: importer.Record, attempt: Callable[[], bool]) -> None:
        try:
            changed = attempt()
        except Rejection as exc:
            outcome.rejected.append(Rejected(record, exc.message))
        else:
            if changed:
                outcome.imported += 1
            else:
                outcome.unchanged += 1
        advance()

    if dry_run:
        with runtime.unit_of_work() as uow:
            for record in records:
                count(record, partial(_in_savepoint, uow.session, runtime, record))
        return outcome
    for record in records:
        count(record, partial(_in_transaction, runtime, record))
    return outcome


def _in_savepoint(session: Session, runtime: Runtime, record: importer.Record) -> bool:
    with deferred.savepoint(session):
        return apply_record(session, runtime.context(SYSTEM), record)


def _in_transaction(runtime: Runtime, record: importer.Record) -> bool:
    with runtime.unit_of_work() as uow:
        changed = apply_record(uow.session, runtime.context(SYSTEM), record)
        uow.commit()
        return changed


def report(outcome: ImportOutcome, *, dry_run: bool) -> None:
    """A table of the rejected rows, then the counts."""
    if outcome.rejected:
        table = Table(title="Rejected rows", title_justify="left")
        table.add_column("row", justify="right")
        table.add_column("kind")
        table.add_column("key")
        table.add_column("error", overflow="fold")
        for rejected in outcome.rejected:
            record = rejected.record
            table.add_row(record.row_label, record.kind, record.key, rejected.message)
        console.print(table)
    verb = "would import" if dry_run else "imported"
    colour = "red" if outcome.rejected else "green"
    console.print(
        f"[{colour}]{verb} {outcome.imported}, unchanged {outcome.unchanged}, "
        f"rejected {len(outcome.rejected)}[/]"
        + (" (dry run: nothing was saved)" if dry_run else "")
    )


def import_file(
    path: Path = typer.Argument(..., help="A .json or .csv file", show_default=False),
    kind: str | None = typer.Option(
        None, "--kind", help=f"What the file holds: {', '.join(importer.KINDS)}"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row, save nothing"),
    database_url: str | None = DbOption,
) -> None:
    """Import master data and orders from JSON or CSV; rejected rows are listed (exit 1)."""
    try:
        records = importer.read_file(path, kind)
    except importer.ImportFileError as exc:
        fail(str(exc), code=2)
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime:
        progress = Progress(
            TextColumn("importing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        with progress:
            task = progress.add_task(path.name, total=len(records))
            outcome = run_import(
                runtime, records, dry_run=dry_run, advance=lambda: progress.advance(task)
            )
    report(outcome, dry_run=dry_run)
    if outcome.rejected:
        raise typer.Exit(1)
