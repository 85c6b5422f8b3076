"""`shopfloor reconcile --erp NAME [--order ID | --date DAY | --shift DAY/SHIFT] [--json]`."""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich.table import Table

from shopfloor.api.schemas_reconciliation import ReconciliationOut
from shopfloor.cli.common import DbOption, console, errors, runtime_for, settings_from
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.reconcile import service as reconciliation
from shopfloor.integration.reconcile.report import Line, OrderResult, Report
from shopfloor.kernel.context import SYSTEM
from shopfloor.kernel.errors import ShopfloorError
from shopfloor.kernel.quantities import fmt


def reconcile(
    erp: str = typer.Option(..., "--erp", help='A subscriber of transport "erp"'),
    order: list[str] = typer.Option(
        [], "--order", help="ERP order id (repeat for several)", show_default=False
    ),
    date: str | None = typer.Option(None, "--date", help="YYYY-MM-DD: orders with facts that day"),
    shift: str | None = typer.Option(
        None, "--shift", help="YYYY-MM-DD/SHIFT-CODE or YYYY-MM-DD/HH:MM (the shift's start)"
    ),
    as_json: bool = typer.Option(False, "--json", help="The report as JSON (the API's shape)"),
    show_all: bool = typer.Option(False, "--all", help="List matching lines too"),
    database_url: str | None = DbOption,
) -> None:
    """Compare what shopfloor recorded with what ERP has posted, per order, operation and
    shift, and name the cause of every difference. Without --order, --date or --shift:
    today's orders.

    Exit codes: 0 no unexplained difference (explained ones are listed with their cause);
    1 at least one unexplained difference; 2 nothing reconciled (unknown or non-ERP
    subscriber, a bad date or shift, ERP not reachable)."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, runtime.sessions() as session:
        try:
            report = reconciliation.reconcile(
                session,
                load_subscribers(settings),
                erp,
                now=runtime.context(SYSTEM).now,
                orders=order,
                day=date,
                shift=shift,
            )
        except ShopfloorError as exc:
            errors.print(f"[bold red]error:[/] {exc.detail}")
            raise typer.Exit(2) from exc
    if as_json:
        body = ReconciliationOut.model_validate(report).model_dump(mode="json")
        console.print_json(json.dumps(body))
    else:
        _print(report, show_all)
    if report.summary.unexplained:
        raise typer.Exit(1)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="minutes") if moment else "-"


def _print(report: Report, show_all: bool) -> None:
    summary = report.summary
    console.print(
        f"[bold]Reconciliation with {report.erp}[/] ({report.adapter}), {report.scope}"
        + (
            f": {_when(report.window_start)} to {_when(report.window_end)}"
            if report.window_start
            else ""
        )
    )
    causes = ", ".join(f"{cause} {n}" for cause, n in summary.by_cause.items()) or "none"
    colour = "red" if summary.unexplained else ("yellow" if summary.differences else "green")
    console.print(
        f"orders checked {summary.orders_checked}, lines {summary.lines}, matching "
        f"{summary.matching}, [{colour}]differences {summary.differences}[/] ({causes})"
    )
    for result in report.orders:
        _print_order(result, show_all, report.window_start is not None)


def _print_order(result: OrderResult, show_all: bool, windowed: bool) -> None:
    head = result.head
    status = f"ERP {head.erp_status or '-'}, floor {head.execution_status or '-'}"
    lines = [line for line in result.lines if show_all or not line.matches]
    title = f"{head.erp_order_id} {head.item} ({status}): {len(result.lines)} line(s)"
    for note in result.notes:
        title += f"\n  {note}"
    if not lines:
        console.print(f"{title}\n  [green]every line matches[/]")
        return
    table = Table(title=title, title_justify="left")
    columns = ["op", "kind", "item", "lot", "shopfloor", "ERP", "ERP open"]
    columns += ["window"] if windowed else []
    for column in [*columns, "cause", "detail"]:
        table.add_column(column, overflow="fold")
    for line in lines:
        table.add_row(*_row(line, windowed))
    console.print(table)


def _row(line: Line, windowed: bool) -> list[str]:
    causes = ", ".join(c.cause for c in line.causes) or "[green]match[/]"
    if any(c.cause == "unexplained" for c in line.causes):
        causes = f"[red]{causes}[/]"
    details = [f"{c.cause}: {fmt(c.quantity)}; {c.detail}" for c in line.causes]
    details += [line.note] if line.note else []
    cells = [
        str(line.operation_no or "-"),
        line.kind,
        line.item,
        line.lot or "-",
        f"{fmt(line.shopfloor)} {line.unit}",
        fmt(line.erp),
        fmt(line.erp_open) if line.erp_open else "-",
    ]
    if windowed:
        cells.append(fmt(line.window) if line.window is not None else "-")
    return [*cells, causes, "\n".join(details)]
