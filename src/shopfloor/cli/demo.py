"""`shopfloor demo`: a demo plant in an embedded SQLite file, seeded and served.

Needs no services at all: the database is a file (var/demo.db unless --database-url or
SHOPFLOOR_DEMO_DATABASE_URL say otherwise), the schema is migrated, the plant is seeded in
one transaction when the database holds no orders yet, and the server starts in demo mode
(a fixed, public secret; fixed passwords, printed here). Never use demo mode for a real
plant: that is why the demo reads its own variable and not SHOPFLOOR_DATABASE_URL, so a
plant's database is never seeded with demo people by accident.
"""

from __future__ import annotations

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from shopfloor.cli.common import console, plant_errors, runtime_for, settings_from
from shopfloor.demo.catalog import DEMO_PASSWORD, USERS
from shopfloor.demo.plant import DemoPlant, seed_demo_plant
from shopfloor.kernel.context import SYSTEM
from shopfloor.orders import queries as order_queries
from shopfloor.platform.migrate import upgrade
from shopfloor.platform.settings import Settings

DEMO_DATABASE = "sqlite:///var/demo.db"


def seed_if_empty(settings: Settings) -> DemoPlant | None:
    """Migrate, then seed the demo plant in one transaction unless orders are recorded
    already; returns what was seeded, or None when the database was kept as it was."""
    with runtime_for(settings) as runtime:
        upgrade(runtime.engine)
        with runtime.sessions() as session:
            if order_queries.list_orders(session, limit=1):
                return None
        with runtime.unit_of_work() as uow:
            plant = seed_demo_plant(uow.session, runtime.context(SYSTEM))
            uow.commit()
    return plant


def _welcome(settings: Settings, host: str, port: int, plant: DemoPlant | None) -> Panel:
    base = f"http://{host}:{port}"
    lines = [
        f"database    {settings.database_url}",
        f"API docs    [link={base}/docs]{base}/docs[/link]",
        f"health      [link={base}/healthz]{base}/healthz[/link]",
        f"sign in     POST {base}/api/v1/auth/login",
        "",
    ]
    if plant is None:
        lines.append("The demo plant was seeded before and is kept as it is.")
    else:
        states = ", ".join(f"{erp} {status}" for erp, status in plant.orders.items())
        lines.append(f"Seeded the demo plant with {len(plant.orders)} orders: {states}.")
    users = Table(title="Demo users (demo mode only)", title_justify="left")
    for column in ("user", "name", "roles", "password"):
        users.add_column(column)
    for username, full_name, roles in USERS:
        users.add_row(username, full_name, ", ".join(roles), DEMO_PASSWORD)
    return Panel(Group("\n".join(lines), users), title="shopfloor demo", title_align="left")


def demo(
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="SHOPFLOOR_DEMO_DATABASE_URL",
        help=f"SQLAlchemy URL (default: {DEMO_DATABASE})",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve after seeding"),
    mqtt: str | None = typer.Option(
        None,
        "--mqtt",
        envvar="SHOPFLOOR_DEMO_MQTT",
        help="HOST[:PORT] of a broker for the "
        "simulated machines (default: fed in-process, no broker needed)",
    ),
) -> None:
    """Seed a demo plant (SQLite, no services needed) and serve it with the API docs."""
    settings = settings_from(database_url or DEMO_DATABASE, demo=True)
    with plant_errors():
        plant = seed_if_empty(settings)
    console.print(_welcome(settings, host, port, plant))
    if serve:
        from shopfloor.cli.server import run_server
        from shopfloor.workers.plant_simulation import start_demo_machines

        with plant_errors(), runtime_for(settings) as runtime:
            stop_machines = start_demo_machines(runtime, mqtt)  # the first screen is alive
            try:
                run_server(settings, host=host, port=port)
            finally:
                stop_machines()
