"""Shared fixtures: every integration test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.platform.db import session_factory
from tests.support.databases import DatabaseFactory, engine_for

DATABASE_KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def database_factories(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, DatabaseFactory]]:
    workdir = tmp_path_factory.mktemp("databases")
    factories = {kind: DatabaseFactory(kind, Path(workdir), worker_id) for kind in DATABASE_KINDS}
    yield factories
    for factory in factories.values():
        factory.close()


@pytest.fixture(params=DATABASE_KINDS)
def db_url(request: pytest.FixtureRequest, database_factories: dict[str, DatabaseFactory]) -> Iterator[str]:
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
