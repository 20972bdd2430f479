"""Which dbt target reads a journal, and the environment that points dbt_project/profiles.yml at it (no Dagster).

The journal's backend picks the target: a PostgreSQL journal is modelled in its own database (dbt-postgres), any
other (the SQLite default) is loaded into a DuckDB file through SQLAlchemy (dbt-duckdb, offline). Credentials go to
dbt in ``DBT_ENV_SECRET_*`` variables, which dbt scrubs from its logs; they never appear on a command line.
"""

from pathlib import Path

from sqlalchemy import URL


def dbt_environment(journal_url: URL, duckdb_path: Path) -> dict[str, str]:
    """The variables profiles.yml reads, for the journal at ``journal_url``."""
    if journal_url.get_backend_name() == "postgresql":
        return {
            "TRADING_DBT_TARGET": "postgres",
            "TRADING_PG_HOST": journal_url.host or "localhost",
            "TRADING_PG_PORT": str(journal_url.port or 5432),
            "TRADING_PG_USER": journal_url.username or "",
            "DBT_ENV_SECRET_PG_PASSWORD": journal_url.password or "",
            "TRADING_PG_DB": journal_url.database or "",
        }
    return {
        "TRADING_DBT_TARGET": "duckdb",
        "TRADING_DUCKDB_PATH": str(duckdb_path),
        "DBT_ENV_SECRET_JOURNAL_URL": journal_url.render_as_string(hide_password=False),
    }
