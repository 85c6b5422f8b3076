"""`shopfloor import FILE`: every record through the same service function as the API.

Each record runs in its own transaction, so a rejected row never stops or undoes the others;
`--dry-run` runs them all in one transaction (a savepoint per record, so later records see
earlier ones) and rolls it back. A record that changed nothing (the same item sent again)
counts as unchanged: the services write an audit entry exactly when something changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shopfloor.audit.tables import AuditEntry
from shopfloor.bootstrap import Runtime
from shopfloor.cli import importer
from shopfloor.cli.common import DbOption, console, fail, runtime_for, settings_from
from shopfloor.cli.import_rows import service_call
from shopfloor.kernel.context import SYSTEM, CommandContext
from shopfloor.kernel.errors import ShopfloorError
from shopfloor.masterdata import service as masterdata
from shopfloor.materials import service as materials
from shopfloor.orders import service as orders

SERVICES: dict[str, Callable[..., Any]] = {
    "upsert_uom": masterdata.upsert_uom,
    "upsert_uom_conversion": masterdata.upsert_uom_conversion,
    "upsert_shift_calendar": masterdata.upsert_shift_calendar,
    "upsert_shift": masterdata.upsert_shift,
    "upsert_equipment": masterdata.upsert_equipment,
    "upsert_skill": masterdata.upsert_skill,
    "upsert_item": masterdata.upsert_item,
    "upsert_downtime_reason": masterdata.upsert_downtime_reason,
    "upsert_quality_code": masterdata.upsert_quality_code,
    "upsert_crew": masterdata.upsert_crew,
    "grant_certification": masterdata.grant_certification,
    "upsert_bom_version": masterdata.upsert_bom_version,
    "upsert_routing_version": masterdata.upsert_routing_version,
    "register_lot": materials.register_lot,
    "upsert_order": orders.upsert_order,
}


@dataclass(frozen=True)
class Rejected:
    record: importer.Record
    message: str


@dataclass
class ImportOutcome:
    imported: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class _Rejection(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def _audit_watch(session: Session) -> Iterator[list[AuditEntry]]:
    """Collects the audit entries a command appends: none means nothing changed."""
    added: list[AuditEntry] = []

    def seen(_session: Session, instance: object) -> None:
        if isinstance(instance, AuditEntry):
            added.append(instance)

    event.listen(session, "transient_to_pending", seen)
    try:
        yield added
    finally:
        event.remove(session, "transient_to_pending", seen)


def apply_record(session: Session, ctx: CommandContext, record: importer.Record) -> bool:
    """Run one record through its service; True when it changed something.

    Raises `_Rejection` with the plant-readable reason when the record is refused.
    """
    try:
        call = service_call(record)
        with _audit_watch(session) as added:
            SERVICES[call.service](session, ctx, **call.kwargs)
            session.flush()
        return bool(added)
    except ShopfloorError as exc:
        raise _Rejection(exc.detail) from exc
    except ValueError as exc:
        raise _Rejection(str(exc)) from exc
    except DBAPIError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise _Rejection(f"the database refused it: {first_line}") from exc


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
        except _Rejection as exc:
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
    with session.begin_nested():
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
