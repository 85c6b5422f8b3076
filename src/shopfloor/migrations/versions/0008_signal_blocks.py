"""machine signals: sealed day blocks and the days to seal again

`mch_signal_block` holds each closed day of a machine metric as compressed columns (a
lossless copy of its `mch_signal` rows, read by the OEE recompute); `mch_signal_reseal`
lists the equipment-days whose blocks a late sample dropped. The compressed columns are
stored out of line without PostgreSQL's own compression (STORAGE EXTERNAL): compressing
zlib output again costs time and saves nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopfloor.platform.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPRESSED = ('device_times', 'num_values', 'text_values', 'ingest_details')


def upgrade() -> None:
    op.create_table('mch_signal_block',
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('first_time', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_time', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('encoding', sa.SmallInteger(), nullable=False),
    sa.Column('device_times', sa.LargeBinary(), nullable=False),
    sa.Column('num_values', sa.LargeBinary(), nullable=True),
    sa.Column('text_values', sa.LargeBinary(), nullable=True),
    sa.Column('ingest_details', sa.LargeBinary(), nullable=False),
    sa.Column('sealed_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('equipment_id', 'metric', 'day', name=op.f('pk_mch_signal_block'))
    )
    op.create_table('mch_signal_reseal',
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('queued_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('equipment_id', 'day', name=op.f('pk_mch_signal_reseal'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        for column in COMPRESSED:
            op.execute(f'ALTER TABLE mch_signal_block ALTER COLUMN {column} SET STORAGE EXTERNAL')


def downgrade() -> None:
    op.drop_table('mch_signal_reseal')
    op.drop_table('mch_signal_block')
