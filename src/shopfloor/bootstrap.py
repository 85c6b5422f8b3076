"""The composition root: settings → engine → session factory, wired once per process.

Entry points (API, CLI, workers) and tests build a `Runtime` here and pass it down.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.machines import maintenance
from shopfloor.orders import ports as orders_ports
from shopfloor.platform.db import make_engine, session_factory
from shopfloor.platform.settings import Settings
from shopfloor.platform.uow import UnitOfWork


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def context(self, actor: Actor) -> CommandContext:
        return CommandContext(actor=actor, site=self.settings.site, boundary=self.settings.boundary)

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Create the engine (and the SQLite file's folder) for these settings."""
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    orders_ports.wire_maintenance(maintenance.equipment_under_maintenance)
    return Runtime(settings=settings, engine=engine, sessions=session_factory(engine))
