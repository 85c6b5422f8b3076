"""`shopfloor order list` and `order show`: orders with both statuses, plan against actual."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.execution import queries as execution_queries
from shopfloor.kernel.errors import NotFound
from shopfloor.kernel.quantities import fmt
from shopfloor.orders import queries as order_queries
from shopfloor.orders.domain import ORDER_FLOW
from shopfloor.orders.tables import ProductionOrder

order_app = typer.Typer(
    help="Production orders: ERP's plan and the floor's progress.", no_args_is_help=True
)

STATUS_STYLE = {
    "queued": "dim",
    "dispatched": "cyan",
    "running": "green",
    "paused": "yellow",
    "completed": "blue",
    "aborted": "red",
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, default=_plain, indent=2))


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%d %H:%M}" if moment else ""


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, '')}]{status}[/]"


@order_app.command("list")
def order_list(
    status: str | None = typer.Option(
        None,
        "--status",
        help=f"Only orders in this execution status: {', '.join(sorted(ORDER_FLOW.statuses))}",
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many orders"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
    database_url: str | None = DbOption,
) -> None:
    """Orders by due date and priority, with their progress on the floor."""
    if status is not None and status not in ORDER_FLOW.statuses:
        fail(f"'{status}' is not an execution status; use {', '.join(sorted(ORDER_FLOW.statuses))}")
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.sessions() as session:
        summaries = order_queries.list_orders(session, execution_status=status, limit=limit)
        progress = {o.id: execution_queries.order_progress(session, o.id) for o in summaries}
    if as_json:
        _print_json(
            [
                {**asdict(o), "good": progress[o.id].good, "scrap": progress[o.id].scrap}
                for o in summaries
            ]
        )
        return
    table = _table(f"Production orders ({len(summaries)})")
    for column in ("ERP order", "item", "qty", "ERP", "execution", "due", "prio", "good/scrap"):
        right = column in ("qty", "prio", "good/scrap")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for o in summaries:
        done = progress[o.id]
        table.add_row(
            o.erp_order_id,
            o.item_code,
            f"{fmt(o.quantity)} {o.uom_code}",
            o.erp_status,
            _status(o.execution_status),
            o.due_date.isoformat(),
            str(o.priority),
            f"{fmt(done.good)}/{fmt(done.scrap)}",
        )
    console.print(table)


def find_order_id(session: Session, reference: str) -> int:
    """An order named by shopfloor id or by ERP order id (the ERP id wins when both match)."""
    found = session.scalar(
        select(ProductionOrder.id).where(ProductionOrder.erp_order_id == reference)
    )
    if found is not None:
        return found
    if reference.isdigit():
        return order_queries.order_summary(session, int(reference)).id
    raise NotFound(f"no production order with id or ERP order id '{reference}'")


@order_app.command("show")
def order_show(
    reference: str = typer.Argument(..., help="shopfloor order id or ERP order id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
    database_url: str | None = DbOption,
) -> None:
    """One order: operations plan vs actual, components norm vs consumed, downtime, flags."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.sessions() as session:
        order_id = find_order_id(session, reference)
        summary = order_queries.order_summary(session, order_id)
        progress = execution_queries.order_progress(session, order_id)
        flags = [f for f in execution_queries.exceptions_inbox(session) if f.order_id == order_id]
    if as_json:
        _print_json(
            {
                **asdict(summary),
                "good": progress.good,
                "scrap": progress.scrap,
                "operations": [asdict(op) for op in progress.operations],
                "components": [asdict(c) for c in progress.components],
                "downtime_minutes": progress.downtime_minutes,
                "labor_minutes": progress.labor_minutes,
                "flags": [asdict(f) for f in flags],
            }
        )
        return
    _show(summary, progress, flags)


def _show(
    summary: order_queries.OrderSummary,
    progress: execution_queries.OrderProgress,
    flags: list[execution_queries.FlaggedFact],
) -> None:
    console.print(
        f"[bold]{summary.erp_order_id}[/] (order {summary.id})  {summary.item_code} "
        f"{summary.item_name}\n"
        f"{fmt(summary.quantity)} {summary.uom_code}, due {summary.due_date}, "
        f"priority {summary.priority}; ERP status [bold]{summary.erp_status}[/], "
        f"execution {_status(summary.execution_status)}\n"
        f"BOM version {summary.bom_version}, routing version {summary.routing_version}; "
        f"good {fmt(progress.good)}, scrap {fmt(progress.scrap)}, "
        f"labour {fmt(progress.labor_minutes)} min\n"
    )
    console.print(_operations(progress))
    console.print(_components(progress))
    if progress.downtime_minutes:
        downtime = _table("\nDowntime")
        downtime.add_column("reason")
        downtime.add_column("minutes", justify="right")
        for reason, minutes in progress.downtime_minutes.items():
            downtime.add_row(reason, fmt(minutes))
        console.print(downtime)
    if flags:
        flagged = _table("\nFlagged facts (exceptions inbox)")
        for column in ("fact", "id", "kind", "flag", "occurred"):
            flagged.add_column(column)
        for f in flags:
            flagged.add_row(
                f.fact, str(f.fact_id), f.kind, f"[red]{f.discrepancy}[/]", _when(f.occurred_at)
            )
        console.print(flagged)


def _operations(progress: execution_queries.OrderProgress) -> Table:
    """Plan against actual per operation; rework only when some was reported."""
    rework = any(op.rework for op in progress.operations)
    table = _table("Operations: plan vs actual")
    columns = ["op", "name", "at", "status", "plan", "good", "scrap"]
    columns += ["rework"] if rework else []
    for column in [*columns, "started", "done"]:
        right = column in ("op", "plan", "good", "scrap", "rework")
        table.add_column(
            column,
            justify="right" if right else "left",
            no_wrap=column in ("status", "started", "done"),
        )
    for op in progress.operations:
        cells = [
            str(op.operation_no),
            op.name,
            op.work_center,
            _status(op.status),
            fmt(op.planned),
            fmt(op.good),
            fmt(op.scrap),
        ]
        cells += [fmt(op.rework)] if rework else []
        table.add_row(*cells, _when(op.started_at), _when(op.completed_at))
    return table


def _components(progress: execution_queries.OrderProgress) -> Table:
    table = _table("\nComponents: norm vs consumed")
    for column in ("line", "item", "norm", "consumed", "returned", "net", "unit", "notes"):
        right = column in ("line", "norm", "consumed", "returned", "net")
        table.add_column(column, justify="right" if right else "left")
    for c in progress.components:
        notes = [f"overuse: {reason}" for reason in c.overuse_reasons]
        notes += [f"substitute {code} {fmt(qty)}" for code, qty in c.substitutes]
        over = c.net > c.norm * (1 + c.tolerance_pct / 100)
        net = f"[red]{fmt(c.net)}[/]" if over else fmt(c.net)
        table.add_row(
            str(c.line_no),
            c.item,
            fmt(c.norm),
            fmt(c.consumed),
            fmt(c.returned),
            net,
            c.unit,
            "; ".join(notes),
        )
    return table
