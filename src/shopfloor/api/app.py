"""The FastAPI application, built from a Runtime (never from globals)."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shopfloor import __version__
from shopfloor.api import observability, problems
from shopfloor.api.deps import ActorCache
from shopfloor.api.routes import (
    audit,
    auth,
    b2mml,
    erp_inbox,
    execution,
    machines_ingest,
    machines_maintenance,
    machines_oee,
    masterdata,
    masterdata_people,
    materials,
    orders,
    plant,
    reconciliation,
)
from shopfloor.audit import service as audit_service
from shopfloor.bootstrap import Runtime
from shopfloor.machines.oee_parallel import start_workers
from shopfloor.platform.logging import logger

API_PREFIX = "/api/v1"
# The order routes are matched in, one after another: the operators' commands, the most
# frequent requests by far, right after sign-in (no path of one router overlaps another's,
# so the order changes only the cost of matching). /docs keeps `DOC_TAGS`' order.
ROUTERS = (
    auth.router,
    execution.router,
    audit.router,
    masterdata.router,
    masterdata_people.router,
    orders.router,
    materials.router,
    machines_ingest.router,
    machines_oee.router,
    machines_maintenance.router,
    b2mml.router,
    erp_inbox.router,
    plant.router,
    reconciliation.router,
)

DOC_TAGS = [
    {"name": name}
    for name in ("identity", "audit", "master data", "orders", "execution", "materials",
                 "machines", "oee and downtime", "maintenance", "ERP B2MML", "ERP inbox",
                 "plant", "ERP reconciliation")
]  # fmt: skip

log = logger("shopfloor.app")

DESCRIPTION = """
shopfloor is the system of record for what actually happens on the shop floor.

Sign in with `POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`.
Every POST accepts an `Idempotency-Key` header: a retry with the same key and body returns
the stored response; the same key with a different body is refused with 422.
Errors are `application/problem+json` (RFC 9457).
"""


class AuditSealer:
    """Seals new audit entries into the hash chain every few seconds, in the background."""

    def __init__(self, runtime: Runtime, seconds: float) -> None:
        self.runtime, self.seconds = runtime, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.seal_once(wait=True)

    def seal_once(self, *, wait: bool = False) -> int:
        with self.runtime.unit_of_work() as uow:
            sealed = audit_service.seal(uow.session, wait=wait)
            uow.commit()
        return sealed

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.seal_once()
            except Exception:  # keep sealing on the next round; the entries wait safely
                log.exception("audit sealing failed; will retry")


def create_app(runtime: Runtime, *, background: bool = True) -> FastAPI:
    """The app for this runtime; `background` starts the audit sealer with the server."""
    runtime.settings.require_secret()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sealer = AuditSealer(runtime, runtime.settings.audit_seal_seconds)
        if background:
            sys.setswitchinterval(runtime.settings.api_switch_ms / 1000)
            sealer.start()
            threading.Thread(  # ready before the first recompute asks for them
                target=start_workers,
                args=(runtime.settings.oee_workers,),
                name="oee-workers-start",
                daemon=True,
            ).start()
        yield
        if background:
            sealer.stop()

    app = FastAPI(
        title="shopfloor",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_tags=DOC_TAGS,
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.state.actors = ActorCache()
    problems.install(app)
    observability.install(app)
    app.include_router(observability.router)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    return app
