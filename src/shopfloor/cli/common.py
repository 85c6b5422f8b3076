"""What every CLI command shares: settings, runtime, errors as clear messages, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from shopfloor.bootstrap import Runtime, build_runtime
from shopfloor.kernel.errors import ShopfloorError
from shopfloor.platform.logging import configure_logging
from shopfloor.platform.settings import Settings, load_settings

console = Console()
errors = Console(stderr=True)


def settings_from(database_url: str | None = None, **overrides: object) -> Settings:
    if database_url:
        overrides["database_url"] = database_url
    try:
        settings = load_settings(**overrides)
    except ValueError as exc:
        fail(f"settings are not valid: {exc}")
    configure_logging(settings.log_format, settings.log_level)
    return settings


@contextmanager
def runtime_for(settings: Settings) -> Iterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, for logs too
    raise typer.Exit(code)


@contextmanager
def plant_errors() -> Iterator[None]:
    """Turn rule violations into a one-line message and exit code 1 (nothing was changed)."""
    try:
        yield
    except ShopfloorError as exc:
        fail(exc.detail)


DbOption = typer.Option(
    None,
    "--database-url",
    envvar="SHOPFLOOR_DATABASE_URL",
    help="SQLAlchemy URL (default: SQLite file var/shopfloor.db)",
)
