"""`shopfloor signals seal`: seal the closed days of machine signals into day blocks.

The machine watch seals a few hundred equipment-days a pass; this command works off a whole
backlog at once (after an upgrade onto a year of stored signals, or with the watch off),
with a progress bar, a batch of equipment-days per transaction.
"""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shopfloor.cli.common import DbOption, console, plant_errors, runtime_for, settings_from
from shopfloor.kernel.clock import utc_now

signals_app = typer.Typer(help="Machine signals: sealed day blocks.", no_args_is_help=True)


@signals_app.command("seal")
def seal(
    batch: int = typer.Option(200, "--batch", min=1, help="Equipment-days per transaction"),
    database_url: str | None = DbOption,
) -> None:
    """Seal every day of machine signals that ended SHOPFLOOR_SIGNAL_SEAL_AFTER_HOURS ago or
    longer and has no block yet."""
    from shopfloor.workers.machine_watch import seal_all

    settings = settings_from(database_url)
    seal_after = timedelta(hours=settings.signal_seal_after_hours)
    progress = Progress(
        TextColumn("sealing equipment-days"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with runtime_for(settings) as runtime, plant_errors(), progress:
        task = progress.add_task("seal", total=None)
        report = seal_all(
            runtime,
            now=utc_now(),
            seal_after=seal_after,
            batch=batch,
            started=lambda total: progress.update(task, total=total),
            advance=lambda days: progress.advance(task, days),
        )
    console.print(
        f"{report.days} equipment-day(s) sealed: {report.blocks} block(s), "
        f"{report.samples:,} sample(s) in {report.stored_bytes / 1e6:.1f} MB"
    )
