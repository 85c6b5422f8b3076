"""/healthz, Prometheus /metrics and per-request metrics and logs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

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


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        LATENCY.labels(request.method, template).observe(elapsed)
        if response.status_code >= 500:
            log.warning(
                "request failed",
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                ms=round(elapsed * 1000, 1),
            )
        return response
