"""Starting uvicorn on a migrated database."""

from __future__ import annotations

import os

import uvicorn

from shopfloor.api.app import create_app
from shopfloor.bootstrap import build_runtime
from shopfloor.cli.common import console
from shopfloor.platform.migrate import upgrade
from shopfloor.platform.settings import Settings


def run_server(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Migrate, then serve. Several workers re-create the app from the environment."""
    settings.require_secret()
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    if workers > 1:
        runtime.close()
        os.environ["SHOPFLOOR_DATABASE_URL"] = settings.database_url
        os.environ["SHOPFLOOR_DEMO"] = "true" if settings.demo else "false"
        if settings.secret_key is not None:
            os.environ["SHOPFLOOR_SECRET_KEY"] = settings.secret_key.get_secret_value()
        console.print(f"serving on http://{host}:{port} with {workers} workers")
        uvicorn.run(
            "shopfloor.api.factory:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
        return
    console.print(f"serving on http://{host}:{port} — API docs at http://{host}:{port}/docs")
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="warning")
