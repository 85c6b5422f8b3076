"""App factory for servers that start their own worker processes (uvicorn --factory)."""

from __future__ import annotations

from fastapi import FastAPI

from shopfloor.api.app import create_app
from shopfloor.bootstrap import build_runtime
from shopfloor.platform.logging import configure_logging
from shopfloor.platform.settings import load_settings


def app_from_environment() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(build_runtime(settings))
