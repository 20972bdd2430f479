"""journal tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "book_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, comment="JSON: the book the next session starts from"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_states")),
        sa.UniqueConstraint("book", "session", name=op.f("uq_book_states_book_session")),
    )
    op.create_table(
        "equity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("cash", sa.Double(), nullable=False),
        sa.Column("positions_value", sa.Double(), nullable=False),
        sa.Column("equity", sa.Double(), nullable=False),
        sa.Column("peak_equity", sa.Double(), nullable=False),
        sa.Column("drawdown", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity")),
        sa.UniqueConstraint("book", "session", name=op.f("uq_equity_book_session")),
    )
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fill_id", sa.String(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False, comment="the session of execution"),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", sa.Double(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("commission", sa.Double(), nullable=False),
        sa.Column("slippage", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("fill_id", name=op.f("uq_fills_fill_id")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fills_book_session"), ["book", "session"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False, comment="the session the order was decided"),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", sa.Double(), nullable=False),
        sa.Column("order_type", sa.String(), nullable=False),
        sa.Column("limit_price", sa.Double(), nullable=True),
        sa.Column("stop_price", sa.Double(), nullable=True),
        sa.Column("ref_price", sa.Double(), nullable=False),
        sa.Column("strategy", sa.String(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="UTC"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_book_session"), ["book", "session"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("qty", sa.Double(), nullable=False),
        sa.Column("avg_price", sa.Double(), nullable=False),
        sa.Column("close", sa.Double(), nullable=False),
        sa.Column("market_value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("book", "session", "symbol", name=op.f("uq_positions_book_session_symbol")),
    )
    op.create_table(
        "risk_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("limit_value", sa.Double(), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False, comment="the step that wrote the event, e.g. 'sizing'"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_events")),
    )
    with op.batch_alter_table("risk_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_events_book_session"), ["book", "session"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_events_book_session"))

    op.drop_table("risk_events")
    op.drop_table("positions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_book_session"))

    op.drop_table("orders")
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fills_book_session"))

    op.drop_table("fills")
    op.drop_table("equity")
    op.drop_table("book_states")
