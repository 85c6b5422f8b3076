"""ERP inbox and pull cursors

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopfloor.platform.db


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('int_erp_cursor',
    sa.Column('subscriber', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('pulled_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('documents', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_pull_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('subscriber', name=op.f('pk_int_erp_cursor'))
    )
    op.create_table('int_inbox_document',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=2000), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', shopfloor.platform.db.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_int_inbox_document')),
    sa.UniqueConstraint('source', 'message_id', name='uq_int_inbox_document_message')
    )
    with op.batch_alter_table('int_inbox_document', schema=None) as batch_op:
        batch_op.create_index('ix_int_inbox_document_settled_at', ['settled_at'], unique=False)
        batch_op.create_index('ix_int_inbox_document_status', ['status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('int_inbox_document', schema=None) as batch_op:
        batch_op.drop_index('ix_int_inbox_document_status')
        batch_op.drop_index('ix_int_inbox_document_settled_at')

    op.drop_table('int_inbox_document')
    op.drop_table('int_erp_cursor')
