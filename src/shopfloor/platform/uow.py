"""The unit of work: one transaction per command, rolled back unless the entry point commits.

Services receive the session and never commit; only entry points (API, CLI, workers) do.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from shopfloor.platform.db import WRITE_INTENT


class UnitOfWork:
    """`with UnitOfWork(factory) as uow: ...; uow.commit()`, anything else rolls back."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.session.connection(execution_options={WRITE_INTENT: True})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()  # the deferred rows are written first (platform.deferred)
