"""`shopfloor`: run the server, migrate the database, manage users, check the audit trail."""

from __future__ import annotations

import getpass

import typer

from shopfloor.cli.b2mml import b2mml_app
from shopfloor.cli.boundary import boundary
from shopfloor.cli.common import DbOption, console, fail, plant_errors, runtime_for, settings_from
from shopfloor.cli.demo import demo
from shopfloor.cli.import_run import import_file
from shopfloor.cli.inbox import inbox_app
from shopfloor.cli.machines import simulate
from shopfloor.cli.oee import downtime_app, oee
from shopfloor.cli.orders import order_app
from shopfloor.cli.outbox import outbox_app, worker_app
from shopfloor.cli.reconcile import reconcile
from shopfloor.cli.signals import signals_app
from shopfloor.identity import service as identity
from shopfloor.identity.domain import ROLES
from shopfloor.kernel.context import SYSTEM

app = typer.Typer(
    name="shopfloor",
    help="shopfloor — the Manufacturing Execution System of record for the shop floor.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(
    help="Database schema: create and upgrade through migrations.", no_args_is_help=True
)
user_app = typer.Typer(help="People and integration clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(order_app, name="order")
app.add_typer(worker_app, name="worker")
app.add_typer(outbox_app, name="outbox")
app.add_typer(b2mml_app, name="b2mml")
app.add_typer(inbox_app, name="inbox")
app.command("import")(import_file)
app.command("demo")(demo)
app.command("oee")(oee)
app.add_typer(downtime_app, name="downtime")
app.add_typer(signals_app, name="signals")
app.command("simulate")(simulate)
app.command("reconcile")(reconcile)
app.command("boundary")(boundary)


@db_app.command("upgrade")
def db_upgrade(database_url: str | None = DbOption) -> None:
    """Create or upgrade the schema to the newest migration."""
    from shopfloor.platform.migrate import current_revision, upgrade

    settings = settings_from(database_url)
    with runtime_for(settings) as runtime:
        upgrade(runtime.engine)
        console.print(f"database at revision [bold]{current_revision(runtime.engine)}[/]")


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="Sign-in name, e.g. 'maria.k'"),
    full_name: str = typer.Option(..., "--name", help="Printed name, shown on signatures"),
    roles: list[str] = typer.Option(..., "--role", help=f"Repeat for several: {', '.join(ROLES)}"),
    password: str | None = typer.Option(
        None, "--password", envvar="SHOPFLOOR_NEW_PASSWORD", help="Asked for when not given"
    ),
    database_url: str | None = DbOption,
) -> None:
    """Add a user (use it once to bootstrap the first admin)."""
    secret = password or getpass.getpass(f"Password for {username}: ")
    settings = settings_from(database_url)
    with runtime_for(settings) as runtime, plant_errors(), runtime.unit_of_work() as uow:
        user = identity.add_user(
            uow.session,
            runtime.context(SYSTEM),
            username=username,
            full_name=full_name,
            password=secret,
            roles=roles,
        )
        uow.commit()
        console.print(
            f"added user [bold]{user.username}[/] (id {user.id}) with roles {', '.join(user.roles)}"
        )


@audit_app.command("verify")
def audit_verify(database_url: str | None = DbOption) -> None:
    """Seal new entries, then check that no entry was edited or removed behind shopfloor's back."""
    from shopfloor.audit import service as audit

    settings = settings_from(database_url)
    with runtime_for(settings) as runtime:
        with runtime.unit_of_work() as uow:
            audit.seal(uow.session)
            uow.commit()
        with runtime.sessions() as session:
            count, breaks = audit.verify(session)
    if breaks:
        for problem in breaks:
            console.print(f"[red]entry {problem.seq}[/]: {problem.problem}")
        fail(f"the audit trail of {count} entries is NOT intact ({len(breaks)} problem(s))", code=2)
    console.print(f"[green]audit trail intact[/]: {count} entries verified")


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="Address to listen on (default from settings)"),
    port: int = typer.Option(None, help="Port (default 8000)"),
    workers: int = typer.Option(None, help="Worker processes"),
    database_url: str | None = DbOption,
) -> None:
    """Run the API and web server (migrates the database first)."""
    from shopfloor.cli.server import run_server

    settings = settings_from(database_url)
    with plant_errors():
        run_server(
            settings,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
        )


def main() -> None:  # pragma: no cover - console script entry
    app()
