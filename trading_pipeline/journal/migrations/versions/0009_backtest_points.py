"""backtests: one row per point of a sweep (run_id, point) instead of one per run

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-07 14:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "point",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="a sweep's point (one run keeps one row per point); 0 for a backtest",
            )
        )
        batch_op.drop_constraint(batch_op.f("uq_backtests_run_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_backtests_run_id_point"), ["run_id", "point"])


def downgrade() -> None:
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_backtests_run_id_point"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_backtests_run_id"), ["run_id"])
        batch_op.drop_column("point")
