"""Starting uvicorn on a migrated database."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import uvicorn

from shopfloor.api.app import create_app
from shopfloor.bootstrap import Runtime, build_runtime
from shopfloor.cli.common import console
from shopfloor.integration.config import load_subscribers
from shopfloor.integration.subscribers import receivers
from shopfloor.platform.migrate import upgrade
from shopfloor.platform.settings import Settings
from shopfloor.workers.background import Background
from shopfloor.workers.erp_sync import ErpSyncWorker, pulling
from shopfloor.workers.machine_watch import MachineWatch
from shopfloor.workers.relay import RelayWorker


def run_server(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Migrate, then serve (with the outbox relay as a thread when subscribers are
    configured, the ERP sync when one of them pulls ERP, and the machine watch: the
    embedded default).
    Several workers re-create the app from the environment."""
    settings.require_secret()
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    subscribers = load_subscribers(settings)
    relay = (
        Background(RelayWorker(build_runtime(settings), subscribers), "outbox-relay")
        if receivers(subscribers)
        else None
    )
    pullers = pulling(subscribers)
    erp_sync = (
        Background(ErpSyncWorker(build_runtime(settings), pullers), "erp-sync") if pullers else None
    )
    watch = _machine_watch(settings)
    if watch is not None:
        watch.start()
    if erp_sync is not None:
        console.print(f"pulling ERP for {', '.join(s.name for s in pullers)}")
        erp_sync.start()
    if relay is not None:
        console.print(f"relaying the outbox to {', '.join(s.name for s in subscribers)}")
        relay.start()
        # uvicorn re-raises SIGTERM after its graceful shutdown; handled here, it returns,
        # and the relay settles its batch in flight before the process ends.
        signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        _serve(runtime, settings, host=host, port=port, workers=workers)
    finally:
        if watch is not None:
            watch.stop()
            watch.worker.runtime.close()
        if erp_sync is not None:
            erp_sync.stop()
            erp_sync.worker.runtime.close()
        if relay is not None:
            relay.stop()
            relay.worker.runtime.close()


def _machine_watch(settings: Settings) -> Background | None:
    """The machine watch as a thread, unless `SHOPFLOOR_MACHINE_WATCH_SECONDS` is 0 (a
    deployment that runs `shopfloor worker machines` on its own)."""
    if settings.machine_watch_seconds <= 0:
        return None
    watch = MachineWatch(
        build_runtime(settings),
        every=timedelta(seconds=settings.machine_watch_seconds),
        window=timedelta(hours=settings.downtime_window_hours),
    )
    return Background(watch, "machine-watch")


def _serve(runtime: Runtime, settings: Settings, *, host: str, port: int, workers: int) -> None:
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
