"""`shopfloor boundary`: the seven ERP/shopfloor boundary decisions of this deployment.

Reads the settings (and the subscribers) only, never the database: it answers "what does
this plant decide, and what does that mean?" before anything is started, and shows which
aggregation each ERP subscriber is really using.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from shopfloor.cli.common import console, plant_errors, settings_from
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.subscribers import erp_postings


def boundary(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text"),
) -> None:
    """Print the seven boundary decisions with their current values and what each means."""
    settings = settings_from()
    decisions = settings.boundary.decisions()
    with plant_errors():
        postings = erp_postings(load_subscribers(settings))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "decisions": [asdict(d) for d in decisions],
                    "erp_postings": [
                        {"subscriber": n, "aggregation": a, "source": s} for n, a, s in postings
                    ],
                },
                indent=2,
            )
        )
        return
    console.print("[bold]Boundary decisions[/] (docs/boundary.md)")
    for d in decisions:
        options = "fixed" if d.fixed else " | ".join(d.options)
        console.print(f"{d.number}. {d.title}: [bold]{d.value}[/]  ({d.setting}: {options})")
        console.print(f"   {d.meaning}", highlight=False)
    if not postings:
        console.print("no ERP subscriber (transport erp) is configured")
    for name, aggregation, source in postings:
        how = "its own setting" if source == "subscriber" else source
        console.print(f"ERP subscriber [bold]{name}[/]: aggregation {aggregation} (from {how})")
