"""watchlist, watchlist_returns: each session's discovered symbols and what happened after each suggestion

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watchlist",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False, comment="the session the symbol is on the watchlist"),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("rank", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False, comment="the ensemble's weighted score in [0, 1]"),
        sa.Column("pickers", sa.String(), nullable=False, comment="the pickers that selected it, e.g. 'metric+fuzzy'"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "divergence",
            sa.Text(),
            nullable=False,
            comment="who selected and who rejected it; empty when the pickers agree",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
    )
    with op.batch_alter_table("watchlist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watchlist_book_session"), ["book", "session"], unique=False)

    op.create_table(
        "watchlist_returns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("book", sa.String(), nullable=False),
        sa.Column("session", sa.Date(), nullable=False, comment="the session whose close made the return known"),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("suggested_on", sa.Date(), nullable=False, comment="the watchlist's session"),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("horizon", sa.Double(), nullable=False, comment="sessions"),
        sa.Column(
            "forward_return",
            sa.Double(),
            nullable=True,
            comment="None: no clean close on one of the two sessions",
        ),
        sa.Column(
            "universe_return", sa.Double(), nullable=True, comment="mean forward return of the eligible universe"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_returns")),
    )
    with op.batch_alter_table("watchlist_returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watchlist_returns_book_session"), ["book", "session"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_watchlist_returns_book_suggested_on"), ["book", "suggested_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("watchlist_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watchlist_returns_book_suggested_on"))
        batch_op.drop_index(batch_op.f("ix_watchlist_returns_book_session"))
    op.drop_table("watchlist_returns")
    with op.batch_alter_table("watchlist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watchlist_book_session"))
    op.drop_table("watchlist")
