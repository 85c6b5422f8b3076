"""The running totals (per operation and kind; per order, kind, item and replaced
component) always equal what the facts add up to: kept by every report, move and reversal,
exact on SQLite too, and filled from the facts by the migration that adds them."""

from __future__ import annotations

from decimal import Decimal

from alembic import command
from sqlalchemy import select

from shopfloor.demo.plant import seed_demo_plant
from shopfloor.execution.scope import OUTPUT_TOTALS, output
from shopfloor.orders.tables import Operation
from shopfloor.platform.migrate import alembic_config
from tests.support.databases import engine_for
from tests.support.totals import material_totals, output_totals


def _assert_totals_match(session) -> None:
    facts, kept = output_totals(session)
    assert facts and kept == facts
    facts, kept = material_totals(session)
    assert facts and kept == facts


def test_the_demo_plants_totals_match_its_facts(session, ctx):
    seed_demo_plant(session, ctx)
    session.commit()
    _assert_totals_match(session)


def test_the_migration_fills_the_totals_from_the_facts(db_url, sessions, ctx):
    with sessions() as session:
        seed_demo_plant(session, ctx)
        session.commit()
    engine = engine_for(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with sessions() as session:
        _assert_totals_match(session)


def test_totals_add_exactly_and_are_read_within_the_command(session, ctx):
    seed_demo_plant(session, ctx)
    session.commit()
    op_id = session.scalars(select(Operation.id).order_by(Operation.id)).first()
    before = output(session, op_id).rework
    for amount in ("0.1", "0.2", "0.000001"):
        OUTPUT_TOTALS.add(session, Decimal(amount), operation_id=op_id, kind="rework")
    assert output(session, op_id).rework == before + Decimal("0.300001")
