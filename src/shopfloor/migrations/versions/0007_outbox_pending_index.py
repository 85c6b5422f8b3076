"""outbox: a partial index of pending events only; no index on the event type

The relay takes pending events in outbox order: a partial index on position where the
status is pending serves it and stays small. Nothing looks events up by type, so that
index only cost every command's INSERT and every dispatch UPDATE an index write.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index('ix_platform_outbox_event_type', table_name='platform_outbox_event')
    op.drop_index('ix_platform_outbox_event_pending', table_name='platform_outbox_event')
    op.create_index('ix_platform_outbox_event_pending', 'platform_outbox_event', ['position'],
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.drop_index('ix_platform_outbox_event_pending', table_name='platform_outbox_event')
    op.create_index('ix_platform_outbox_event_pending', 'platform_outbox_event',
                    ['status', 'position'])
    op.create_index('ix_platform_outbox_event_type', 'platform_outbox_event', ['type'])
