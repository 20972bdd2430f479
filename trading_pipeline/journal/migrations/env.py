"""Alembic environment of the journal: run programmatically by ``trading_pipeline.journal.migrations`` (which hands over
an open connection) or by the ``alembic`` CLI with ``-x url=...``."""

from alembic import context
from sqlalchemy import create_engine

from trading_pipeline.journal.tables import Base

config = context.config


def _run(connection) -> None:
    # Batch mode turns ALTERs into SQLite's copy-and-move, so one migration serves both dialects.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the journal database as: alembic -x url=<SQLAlchemy URL> ...")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
