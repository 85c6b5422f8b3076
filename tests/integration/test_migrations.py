"""The migration chain builds exactly the schema the table models describe, on SQLite and on
PostgreSQL: a model changed without its migration (or the reverse) fails here, not in a
plant's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from shopfloor.platform.migrate import alembic_config, current_revision
from shopfloor.tables import metadata
from tests.support.databases import engine_for


def test_one_head_and_the_database_is_at_it(db_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(db_url)).get_heads()
    assert len(heads) == 1
    engine = engine_for(db_url)
    try:
        assert current_revision(engine) == heads[0]
    finally:
        engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    engine = engine_for(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
