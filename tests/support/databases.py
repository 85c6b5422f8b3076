"""Fresh, migrated databases for tests: a template migrated once per test worker, copied
per test (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from shopfloor.platform.db import make_engine
from shopfloor.platform.migrate import upgrade

PG_ADMIN = os.environ.get("SHOPFLOOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Start PostgreSQL when it is not running; fail loudly when it still is not there."""
    if _pg_reachable():
        return
    subprocess.run(PG_START, shell=True, check=False, capture_output=True)
    for _ in range(30):
        if _pg_reachable():
            return
        time.sleep(1)
    pytest.fail(
        f"PostgreSQL is not reachable at {PG_ADMIN} and could not be started", pytrace=False
    )


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _admin_exec(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


class DatabaseFactory:
    """Hands out fresh migrated databases of one kind; cleans them up at the end."""

    def __init__(self, kind: str, workdir: Path, worker: str) -> None:
        self.kind = kind
        self.workdir = workdir
        self.tag = f"{worker}_{os.getpid()}"
        self.created: list[str] = []
        self._template: str | None = None

    def _build_template(self) -> str:
        if self.kind == "sqlite":
            path = self.workdir / f"template_{self.tag}.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()
            return str(path)
        require_postgres()
        name = f"sf_tpl_{self.tag}"
        _admin_exec(f'DROP DATABASE IF EXISTS "{name}"')
        _admin_exec(f'CREATE DATABASE "{name}"')
        engine = make_engine(_pg_url(name))
        upgrade(engine)
        engine.dispose()
        self.created.append(name)
        return name

    def new_url(self) -> str:
        if self._template is None:
            self._template = self._build_template()
        if self.kind == "sqlite":
            path = self.workdir / f"t_{uuid.uuid4().hex[:12]}.db"
            shutil.copyfile(self._template, path)
            return f"sqlite:///{path}"
        name = f"sf_t_{self.tag}_{uuid.uuid4().hex[:8]}"
        _admin_exec(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self.created.append(name)
        return _pg_url(name)

    def drop(self, url: str) -> None:
        if self.kind == "postgresql":
            name = url.rsplit("/", 1)[1]
            _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.created.remove(name)

    def close(self) -> None:
        if self.kind == "postgresql":
            for name in reversed(self.created):
                _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.created.clear()


def engine_for(url: str) -> Engine:
    return make_engine(url, pool_size=5)
