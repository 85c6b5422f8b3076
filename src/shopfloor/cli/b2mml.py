"""`shopfloor b2mml validate|import|export`: ISA-95 B2MML (V07) files.

`import` validates an OperationsSchedule against the official schema and maps it whole
before anything is saved; an invalid file lists every violation with its line and exits 2
(nothing imported). The orders of a valid file go to the ERP inbox, which files each once
(a re-import makes no second order); a refused order exits 1. `export` writes the
OperationsPerformance of an order (or of the orders completed in a date range), checked
against the schema before it is written.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from shopfloor.cli.common import (
    DbOption,
    console,
    errors,
    fail,
    plant_errors,
    runtime_for,
    settings_from,
)
from shopfloor.integration.b2mml import service
from shopfloor.integration.b2mml.domain import Violation
from shopfloor.integration.b2mml.validation import InvalidDocument, canonical_kind, validate
from shopfloor.integration.inbox import service as inbox
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.context import SYSTEM

b2mml_app = typer.Typer(
    help="ISA-95 B2MML (V07) files: schedules in, performance out.", no_args_is_help=True
)
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path} cannot be read: {exc.strerror or exc}", code=2)
    raise AssertionError  # pragma: no cover - fail() exits


def _refuse(path: Path, violations: list[Violation], what: str) -> None:
    """Every violation on its own line, then exit 2."""
    for violation in violations:
        errors.print(f"{path.name}: {violation}", markup=False, highlight=False, soft_wrap=True)
    fail(f"{path.name} is not a valid {what}: {len(violations)} problem(s); {_nothing(what)}", 2)


def _nothing(what: str) -> str:
    return "nothing was imported" if what == "OperationsSchedule" else "nothing was written"


@b2mml_app.command("validate")
def validate_file(
    path: Path = typer.Argument(..., help="A B2MML XML file", show_default=False),
    kind: str = typer.Option("schedule", "--kind", help="schedule or performance"),
) -> None:
    """Check a file against the official V07 schema; list every violation with its line."""
    try:
        name = canonical_kind(kind)
    except ValueError as exc:
        fail(str(exc), code=2)
    problems = validate(_read(path), name)
    if problems:
        _refuse(path, problems, f"B2MML {name} document")
    console.print(f"[green]{path.name} is a valid B2MML {name} document[/]")


@b2mml_app.command("import")
def import_schedule(
    path: Path = typer.Argument(..., help="An OperationsSchedule XML file", show_default=False),
    database_url: str | None = DbOption,
) -> None:
    """Import the production orders of an ISA-95 OperationsSchedule through the ERP inbox."""
    try:
        documents = service.schedule_documents(_read(path), what=path.name)
    except InvalidDocument as exc:
        _refuse(path, exc.violations, "OperationsSchedule")
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
        received = inbox.receive(uow.session, runtime.context(SYSTEM), service.SOURCE, documents)
        uow.commit()
    table = Table(title=f"{path.name}: {len(received)} order(s)", title_justify="left", box=None)
    for column in ("order", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for item in received:
        table.add_row(item.key, item.outcome, item.detail or "")
    console.print(table)
    if any(item.outcome == "rejected" for item in received):
        raise typer.Exit(1)


@b2mml_app.command("export")
def export_performance(
    order: str | None = typer.Option(None, "--order", help="ERP order id, e.g. PO-1001"),
    since: datetime | None = typer.Option(
        None, "--since", formats=DATE_FORMATS, help="Orders completed from (UTC)"
    ),
    until: datetime | None = typer.Option(
        None, "--until", formats=DATE_FORMATS, help="…until before (UTC)"
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)"),
    database_url: str | None = DbOption,
) -> None:
    """Write the OperationsPerformance of an order (or of the orders completed in a range)."""
    if (order is None) == (since is None and until is None):
        fail("give --order, or --since and --until", code=2)
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.sessions() as session:
        xml = service.performance_for(
            session,
            erp_order_id=order,
            since=_utc(since),
            until=_utc(until),
            published=utc_now(),
            site=settings.site,
        )
    if output is None:
        typer.echo(xml.decode(), nl=False)
        return
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_bytes(xml)
    os.replace(temporary, output)
    console.print(f"[green]wrote {output}[/] ({len(xml)} bytes, valid OperationsPerformance)")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
