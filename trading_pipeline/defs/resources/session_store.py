"""Parquet storage for the session-partitioned tables (bars, indicators, signals, orders).

A backtest materializes years of sessions in one run, so one file per partition would mean thousands of
small writes. Tables are kept as monthly shards instead: writing a range rewrites only the months it
touches (replacing exactly the sessions of the range, so a re-run never duplicates a row), and reading a
range reads only those months.
"""

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InitResourceContext, InputContext, OutputContext
from pydantic import PrivateAttr

from trading_pipeline.domain.schema import KEY


class SessionTableError(ValueError):
    """A table handed to the store does not fit the partitions it claims to be."""


class SessionParquetIOManager(ConfigurableIOManager):
    """Monthly-sharded Parquet store for DataFrames keyed by (date, symbol).

    ``base_dir`` defaults to ``<DAGSTER_HOME>/trading_pipeline/tables`` so each Dagster instance (and
    each test's temporary instance) keeps its own tables.
    """

    base_dir: str | None = None
    _root: Path | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        home = Path(context.instance.root_directory) if context.instance else Path.cwd()
        self._root = Path(self.base_dir) if self.base_dir else home / "trading_pipeline" / "tables"

    def _table_dir(self, context: InputContext | OutputContext) -> Path:
        if self._root is None:
            raise RuntimeError("SessionParquetIOManager used outside a Dagster execution")
        return self._root.joinpath(*context.asset_key.path)

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise SessionTableError(f"{context.asset_key.to_user_string()}: expected a DataFrame, got {type(obj).__name__}")
        sessions = pd.DatetimeIndex(pd.to_datetime(list(context.asset_partition_keys)))
        outside = ~obj["date"].isin(sessions)
        if outside.any():
            first = obj.loc[outside, "date"].iloc[0]
            raise SessionTableError(
                f"{context.asset_key.to_user_string()}: {int(outside.sum())} rows dated outside the "
                f"partitions being written (first: {pd.Timestamp(first).date()})"
            )
        table_dir = self._table_dir(context)
        table_dir.mkdir(parents=True, exist_ok=True)
        rows_by_month = dict(tuple(obj.groupby(obj["date"].dt.to_period("M"), sort=True))) if len(obj) else {}
        for month in sessions.to_period("M").unique():
            month_sessions = sessions[sessions.to_period("M") == month]
            self._replace_month(table_dir / f"{month}.parquet", month_sessions, rows_by_month.get(month), obj)
        context.add_output_metadata({"rows": len(obj), "sessions": len(sessions)})

    @staticmethod
    def _replace_month(
        path: Path, month_sessions: pd.DatetimeIndex, rows: pd.DataFrame | None, template: pd.DataFrame
    ) -> None:
        parts, covered = [], set(month_sessions.strftime("%Y-%m-%d"))
        if path.exists():
            existing_table = pq.read_table(path)
            covered |= _covered_sessions(existing_table)
            existing = existing_table.to_pandas()
            parts.append(existing[~existing["date"].isin(month_sessions)])
        parts.append(rows if rows is not None else template.iloc[0:0])
        merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        sort_key = KEY if "symbol" in merged else ["date"]
        table = pa.Table.from_pandas(merged.sort_values(sort_key, kind="stable"), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _SESSIONS: ",".join(sorted(covered))})
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)

    def load_input(self, context: InputContext) -> pd.DataFrame:
        sessions = pd.DatetimeIndex(pd.to_datetime(list(context.asset_partition_keys)))
        table_dir = self._table_dir(context)
        paths = [table_dir / f"{m}.parquet" for m in sessions.to_period("M").unique()]
        tables = [pq.read_table(p) for p in paths if p.exists()]
        covered = set().union(*(_covered_sessions(t) for t in tables))
        missing = [d for d in sessions.strftime("%Y-%m-%d") if d not in covered]
        if missing:
            raise SessionTableError(
                f"{context.asset_key.to_user_string()} was never materialized for {len(missing)} of the "
                f"{len(sessions)} sessions requested (first: {missing[0]}): materialize it for them first"
            )
        # Shards written by different runs may type a column differently (string vs large_string; null
        # when a month had no rows): promote rather than refuse.
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        frame = frame[frame["date"].isin(sessions)]
        sort_key = KEY[::-1] if "symbol" in frame else ["date"]
        return frame.sort_values(sort_key, kind="stable").reset_index(drop=True)


_SESSIONS = b"trading_pipeline.sessions"


def _covered_sessions(table: pa.Table) -> set[str]:
    """The sessions a shard was written for, including those that produced no rows."""
    raw = (table.schema.metadata or {}).get(_SESSIONS, b"")
    return set(raw.decode().split(",")) if raw else set()
