"""Bulk writes and raw reads: the paths a backtest makes large, below SQLAlchemy's per-row layer.

Inserts use COPY on PostgreSQL and multi-row INSERTs on SQLite; reads take the driver's rows and convert them column
by column. Everything runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, Table, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

# Rows per driver executemany (or per COPY batch), all in the caller's transaction.
_INSERT_CHUNK = 50_000
# Bound parameters per multi-row INSERT: SQLite's historical limit, so any SQLite build accepts the statement.
_MAX_BINDS = 999


def insert_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> int:
    """Insert column-wise values: COPY on PostgreSQL, multi-row ``INSERT ... VALUES`` on SQLite.

    SQLAlchemy's per-row parameter processing costs more than the write itself at a backtest's 600k+ rows, so
    the columns' bind processors (e.g. dates to text on SQLite) are applied here, once per distinct value.
    """
    count = len(next(iter(columns.values()), []))
    if count == 0:
        return 0
    dialect = conn.dialect
    names = [column.name for column in table.columns if column.name in columns]  # the order SQL renders them
    matrix = np.empty((count, len(names)), dtype=object)
    for position, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        matrix[:, position] = _map_distinct(columns[name], processor) if processor else columns[name]
    if dialect.name == "postgresql":
        _copy(conn, table, names, matrix)
    else:
        _insert_values(conn, table, names, matrix)
    return count


def _copy(conn: Connection, table: Table, names: list[str], matrix: np.ndarray) -> None:
    """Stream the rows with ``COPY ... FROM STDIN`` (psycopg 3), five times faster than its executemany."""
    quote = conn.dialect.identifier_preparer
    sql = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)}) FROM STDIN"
    with driver_errors(conn, sql), conn.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for start in range(0, len(matrix), _INSERT_CHUNK):  # bounded lists of Python rows
            for row in matrix[start : start + _INSERT_CHUNK].tolist():
                copy.write_row(row)


def _insert_values(conn: Connection, table: Table, names: list[str], matrix: np.ndarray) -> None:
    """Insert with one ``executemany`` of a multi-row INSERT: a hundred rows per statement execution take a
    third less time on SQLite than one row each."""
    per_statement = max(1, _MAX_BINDS // len(names))
    whole = len(matrix) - len(matrix) % per_statement
    step = max(1, _INSERT_CHUNK // per_statement) * per_statement
    for start in range(0, whole, step):
        sql, parameters = _values_statement(conn, table, names, matrix[start : min(start + step, whole)], per_statement)
        conn.exec_driver_sql(sql, parameters)
    if whole < len(matrix):
        sql, parameters = _values_statement(conn, table, names, matrix[whole:], len(matrix) - whole)
        conn.exec_driver_sql(sql, parameters)


def _values_statement(
    conn: Connection, table: Table, names: list[str], matrix: np.ndarray, rows: int
) -> tuple[str, list[Any]]:
    """The INSERT of ``rows`` rows per execution, compiled for the connection's dialect, and its parameter sets
    (``matrix`` holds a multiple of ``rows`` rows). The parameters are positional (SQLite's ``?``), in the order
    SQL renders them: row by row, each in table order, as ``names`` and ``matrix`` are."""
    stmt = insert(table).values([{name: bindparam(f"{name}_{row}") for name in names} for row in range(rows)])
    flat = matrix.reshape(-1, rows * len(names)).tolist()
    return str(stmt.compile(dialect=conn.dialect)), list(map(tuple, flat))


def fetch_rows(conn: Connection, stmt: Select[Any]) -> list[Any]:
    """The driver's rows of ``stmt``: SQLAlchemy's Row objects and per-value result processors (e.g. text to date
    on SQLite) cost more than the query at a backtest's size, so callers convert the columns with pandas."""
    result = conn.execute(stmt)
    try:
        with driver_errors(conn, str(stmt)):
            return result.cursor.fetchall()
    finally:
        result.close()


@contextmanager
def driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """Driver errors raised outside SQLAlchemy's execute (COPY, raw fetch) become SQLAlchemy's, as ``_guard`` expects."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _map_distinct(values: Sequence[Any], convert: Callable[[Any], Any]) -> np.ndarray:
    """``convert`` applied once per distinct value (a long backfill repeats each session date many times)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    converted = np.empty(len(uniques) + 1, dtype=object)
    converted[:-1] = [convert(value) for value in uniques]
    converted[-1] = convert(None)  # code -1: missing
    return converted[codes]


def to_datetimes(series: pd.Series, utc: bool) -> pd.Series:
    """Dates or timestamps as the driver returns them (ISO text on SQLite, date/datetime objects on PostgreSQL)."""
    if utc:
        return pd.to_datetime(series, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    return pd.to_datetime(series, format="ISO8601").astype("datetime64[ns]")


def insert_if_absent(conn: Connection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless it conflicts with a unique key already there; True if it was inserted. Race-free on
    both dialects (``INSERT ... ON CONFLICT DO NOTHING``), where a savepoint would not be on pysqlite."""
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return conn.execute(dialect_insert(table).values(**row).on_conflict_do_nothing()).rowcount == 1
