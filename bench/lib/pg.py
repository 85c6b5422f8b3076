"""A throw-away PostgreSQL database per benchmark run, created and dropped through the
admin connection (trust auth on 127.0.0.1 by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """A URL psycopg understands (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def app_url(admin_url: str, database: str) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) of `database` on the admin URL's server."""
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def _admin(admin_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def drop_database(admin_url: str, database: str) -> None:
    _admin(
        admin_url,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)),
    )


@contextmanager
def fresh_database(admin_url: str, database: str) -> Iterator[str]:
    """Create `database` (dropping a leftover first), yield its SQLAlchemy URL, drop it."""
    try:
        drop_database(admin_url, database)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {admin_url}: {exc}") from exc
    _admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield app_url(admin_url, database)
    finally:
        drop_database(admin_url, database)
