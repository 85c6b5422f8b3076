"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shopfloor.kernel.errors import ShopfloorError
from shopfloor.platform.logging import logger

PROBLEM_TYPE = "https://shopfloor.dev/problems/"
MEDIA_TYPE = "application/problem+json"

log = logger("shopfloor.api")


def problem(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ShopfloorError)
    async def _rule(request: Request, exc: ShopfloorError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if isinstance(v, str | int | float | bool)}
        return problem(request, exc.status, exc.code, exc.title, exc.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(
            request,
            422,
            "invalid-request",
            "The request is not valid",
            f"Please correct: {summary}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Sign-in required"}
        return problem(
            request,
            exc.status_code,
            f"http-{exc.status_code}",
            titles.get(exc.status_code, "Request not accepted"),
            str(exc.detail),
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(
            request,
            500,
            "internal-error",
            "Internal error",
            "shopfloor could not complete the request; nothing was changed. "
            "The error has been logged for the plant's IT.",
        )
