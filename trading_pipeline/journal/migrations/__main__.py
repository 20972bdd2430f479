"""``python -m trading_pipeline.journal.migrations revision -m MESSAGE`` autogenerates the next migration;
``python -m trading_pipeline.journal.migrations upgrade URL`` migrates a journal database to head."""

import argparse
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from trading_pipeline.journal.migrations import alembic_config, upgrade_to_head


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trading_pipeline.journal.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="autogenerate a migration from the models' difference to head")
    revision.add_argument("-m", "--message", required=True)
    upgrade = sub.add_parser("upgrade", help="upgrade a journal database to head")
    upgrade.add_argument("url")
    args = parser.parse_args()
    if args.command == "upgrade":
        engine = create_engine(args.url)
        print("migrated" if upgrade_to_head(engine) else "already at head")
        engine.dispose()
        return
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        upgrade_to_head(engine)
        with engine.begin() as conn:
            command.revision(alembic_config(conn), message=args.message, autogenerate=True, rev_id=_next_id())
        engine.dispose()


def _next_id() -> str:
    """Revisions are numbered 0001, 0002, ... so that their files sort in order."""
    return f"{len(list((Path(__file__).parent / 'versions').glob('[0-9]*.py'))) + 1:04d}"


if __name__ == "__main__":
    main()
