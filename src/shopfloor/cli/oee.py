"""`shopfloor oee` and `shopfloor downtime pareto`: OEE and the downtime Pareto from the
stored events, as a table or JSON (the same shape as the API's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.kernel.clock import utc_now
from shopfloor.kernel.quantities import fmt
from shopfloor.machines import oee_queries as queries

downtime_app = typer.Typer(help="Downtime: the Pareto of stops.", no_args_is_help=True)

StartOption = typer.Option(
    None,
    "--start",
    help="From: ISO 8601 (a time without zone is UTC; a date is midnight UTC)."
    " Without --start and --end: the running shift until now",
)
EndOption = typer.Option(None, "--end", help="Until (exclusive), like --start")
EquipmentOption = typer.Option(None, "--equipment", help="Only this equipment (repeatable)")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table")


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{name} '{text}' is not an ISO 8601 date or time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _window(
    session: Any, start: str | None, end: str | None, equipment: Sequence[str] | None
) -> tuple[datetime, datetime]:
    if start is None and end is None:
        return queries.running_shift(session, utc_now(), equipment)
    if start is None or end is None:
        fail("give both --start and --end, or neither for the running shift")
    assert start is not None and end is not None
    return _moment(start, "--start"), _moment(end, "--end")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def oee(
    start: str | None = StartOption,
    end: str | None = EndOption,
    by: str = typer.Option(
        "equipment",
        "--by",
        help="Group by (comma-separated): equipment, line, shift, product, order, day",
    ),
    equipment: list[str] | None = EquipmentOption,
    as_json: bool = JsonOption,
    database_url: str | None = DbOption,
) -> None:
    """OEE, availability, performance, quality and TEEP, recomputed from the stored events."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.sessions() as session:
        first, last = _window(session, start, end, equipment)
        rows = queries.oee(
            session,
            start=first,
            end=last,
            group_by=by.split(","),
            equipment_codes=equipment,
            workers=settings.oee_workers,
        )
        plain = [queries.as_plain(row) for row in rows]
    if as_json:
        typer.echo(json.dumps(plain, default=_plain, indent=2))
        return
    table = Table(
        title=f"OEE {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
        box=None,
        header_style="bold underline",
    )
    keys = list(plain[0]["group"]) if plain else []
    for column in [*keys, "A %", "P %", "Q %", "OEE %", "TEEP %", "planned min", "good/total"]:
        table.add_column(column, justify="left" if column in keys else "right")
    for row in plain:
        table.add_row(
            *(str(row["group"][k] or "-") for k in keys),
            *(_pct(row[k]) for k in ("availability", "performance", "quality", "oee", "teep")),
            fmt(round(row["minutes"]["planned_production"], 1)),
            f"{row['good_count']}/{row['total_count']}",
        )
    console.print(table)


@downtime_app.command("pareto")
def pareto(
    start: str | None = StartOption,
    end: str | None = EndOption,
    by: str = typer.Option("reason", "--by", help="category, reason or detail"),
    equipment: list[str] | None = EquipmentOption,
    as_json: bool = JsonOption,
    database_url: str | None = DbOption,
) -> None:
    """Downtime minutes per reason, largest first, with the cumulative share."""
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.sessions() as session:
        first, last = _window(session, start, end, equipment)
        bars = queries.downtime_pareto(
            session,
            start=first,
            end=last,
            by=by,
            equipment_codes=equipment,
        )
    if as_json:
        typer.echo(json.dumps([bar.__dict__ for bar in bars], default=_plain, indent=2))
        return
    table = Table(
        title=f"Downtime {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
        box=None,
        header_style="bold underline",
    )
    for column in (by, "minutes", "stops", "share %", "cumulative %"):
        table.add_column(column, justify="left" if column == by else "right")
    for bar in bars:
        table.add_row(
            bar.label,
            fmt(round(bar.minutes, 1)),
            str(bar.events),
            f"{bar.share * 100:.1f}",
            f"{bar.cumulative_share * 100:.1f}",
        )
    console.print(table)


@downtime_app.command("detect")
def detect(
    start: str | None = typer.Option(None, "--start", help="From (default: an hour ago)"),
    end: str | None = typer.Option(None, "--end", help="Until (default: now)"),
    equipment: list[str] | None = EquipmentOption,
    database_url: str | None = DbOption,
) -> None:
    """Record the machines' stops that started in the period and have ended (for cron or a
    worker: running it again records nothing twice), then evaluate the maintenance rules."""
    from shopfloor.kernel.context import SYSTEM
    from shopfloor.machines import service

    now = utc_now()
    first = _moment(start, "--start") if start else now - timedelta(hours=1)
    last = _moment(end, "--end") if end else now
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
        ctx = runtime.context(SYSTEM)
        rows = service.detect_downtime(
            uow.session, ctx, start=first, end=last, equipment_codes=equipment
        )
        requests = service.evaluate_maintenance_rules(uow.session, ctx)
        uow.commit()
    console.print(f"{len(rows)} stop(s) recorded, {len(requests)} maintenance request(s) raised")
