"""Shared fixtures: every integration test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shopfloor.bootstrap import Runtime, build_runtime
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.platform.db import session_factory
from shopfloor.platform.settings import load_settings
from tests.support.api import TEST_SECRET, ApiClient
from tests.support.databases import DatabaseFactory, engine_for

DATABASE_KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def database_factories(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[dict[str, DatabaseFactory]]:
    workdir = tmp_path_factory.mktemp("databases")
    factories = {kind: DatabaseFactory(kind, Path(workdir), worker_id) for kind in DATABASE_KINDS}
    yield factories
    for factory in factories.values():
        factory.close()


@pytest.fixture(params=DATABASE_KINDS)
def db_url(
    request: pytest.FixtureRequest, database_factories: dict[str, DatabaseFactory]
) -> Iterator[str]:
    """A fresh, migrated, empty database of each kind."""
    factory = database_factories[request.param]
    url = factory.new_url()
    yield url
    factory.drop(url)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = engine_for(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


ADMIN = Actor(1, "admin", "Ada Admin", frozenset({"admin"}))


@pytest.fixture
def ctx() -> CommandContext:
    return CommandContext(actor=ADMIN, now=datetime(2026, 3, 2, 6, 0, tzinfo=UTC), site="plant-1")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may skip: a skipped test means a missing service, which is a failure."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
        if skipped and exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if reporter:
                reporter.write_line(
                    f"CI: {skipped} test(s) skipped; in CI nothing may skip", red=True
                )


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    settings = load_settings(
        database_url=db_url, secret_key=TEST_SECRET, demo=False, site="plant-1", lockout_attempts=3
    )
    rt = build_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def api(runtime: Runtime) -> Iterator[ApiClient]:
    """A client of the app on a fresh database, with one signed-in user per role."""
    from fastapi.testclient import TestClient

    from shopfloor.api.app import create_app

    with TestClient(create_app(runtime, background=False), raise_server_exceptions=False) as client:
        yield ApiClient(client, runtime)
