"""/healthz, Prometheus /metrics and per-request metrics and logs."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfloor import __version__
from shopfloor.api.deps import RuntimeDep
from shopfloor.audit import service as audit
from shopfloor.platform.logging import logger

REQUESTS = Counter("shopfloor_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "shopfloor_http_request_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
log = logger("shopfloor.http")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and database check")
def healthz(runtime: RuntimeDep) -> JSONResponse:
    try:
        with runtime.sessions() as session:
            session.execute(text("SELECT 1"))
            unsealed = audit.unsealed_count(session)
    except Exception as exc:  # the point of a health check is to report, not raise
        return JSONResponse({"status": "failing", "database": str(exc)[:200]}, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "database": runtime.engine.dialect.name,
            "audit_unsealed": unsealed,
        }
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts and times every request by method, route template and status, and logs the
    5xx ones. A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` costs a task, a
    stream and a copy of the response per request, measured as a good share of a command."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, elapsed: float) -> None:
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        REQUESTS.labels(method, template, str(status)).inc()
        LATENCY.labels(method, template).observe(elapsed)
        if status >= 500:
            log.warning("request failed", method=method, path=scope["path"], status=status,
                        ms=round(elapsed * 1000, 1))  # fmt: skip


def install(app: FastAPI) -> None:
    app.add_middleware(RequestMetrics)
