"""running totals of production reports per operation and of material moves per order

`exe_operation_output` holds Σ quantity of each operation's reports per kind and
`mat_order_total` Σ quantity of each order's moves per kind, item and replaced component
(0 for none). The rules of a report and of a consumption read these rows instead of
summing the order's history. Both are filled here from the facts already recorded; on
SQLite the sums are made as Decimals (its SUM of decimal text would be floating point).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:30:00
"""

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import shopfloor.platform.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUANTITY = shopfloor.platform.db.Quantity(precision=18, scale=6)
OUTPUT_SUMS = """
    SELECT operation_id, kind, {amount} FROM exe_production_report {group}
"""
MATERIAL_SUMS = """
    SELECT order_id, kind, item_id, COALESCE(substitute_for_item_id, 0), {amount}
    FROM mat_move WHERE order_id IS NOT NULL {group}
"""


def upgrade() -> None:
    output = op.create_table('exe_operation_output',
    sa.Column('operation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('quantity', QUANTITY, nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['ord_operation.id'],
                            name=op.f('fk_exe_operation_output_operation_id_ord_operation')),
    sa.PrimaryKeyConstraint('operation_id', 'kind', name=op.f('pk_exe_operation_output'))
    )
    material = op.create_table('mat_order_total',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('substitute_for_item_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('quantity', QUANTITY, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['ord_production_order.id'],
                            name=op.f('fk_mat_order_total_order_id_ord_production_order')),
    sa.PrimaryKeyConstraint('order_id', 'kind', 'item_id', 'substitute_for_item_id',
                            name=op.f('pk_mat_order_total'))
    )
    _fill(output, OUTPUT_SUMS, 2)
    _fill(material, MATERIAL_SUMS, 4)


def _fill(table: sa.Table, sums: str, keys: int) -> None:
    """The totals of the facts already recorded: summed by PostgreSQL (exact NUMERIC), or
    here as Decimals on SQLite."""
    bind = op.get_bind()
    names = [c.name for c in table.columns]
    if bind.dialect.name == 'postgresql':
        group = "GROUP BY " + ", ".join(str(n) for n in range(1, keys + 1))
        query = sums.format(amount="SUM(quantity)", group=group)
        bind.execute(sa.text(f"INSERT INTO {table.name} ({', '.join(names)}) {query}"))
        return
    totals: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    for row in bind.execute(sa.text(sums.format(amount="quantity", group=""))):
        totals[tuple(row[:keys])] += Decimal(str(row[keys]))
    if totals:
        op.bulk_insert(table, [dict(zip(names, (*key, total), strict=True))
                               for key, total in totals.items()])


def downgrade() -> None:
    op.drop_table('mat_order_total')
    op.drop_table('exe_operation_output')
