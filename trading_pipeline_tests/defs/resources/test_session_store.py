"""The session store keeps exactly the sessions each run wrote, across runs that type columns differently."""

import pandas as pd
import pytest
from dagster import AssetIn, Config, asset, materialize

from trading_pipeline.defs.partitions import sessions_partitions, single_run
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.domain import calendar


class Rows(Config):
    kind: str = (
        "str"  # "str": pandas' string dtype (Arrow large_string); "object" (Arrow string); "empty"; "untyped"; "nan"
    )


@asset(partitions_def=sessions_partitions, backfill_policy=single_run, io_manager_key="session_store")
def table(context, config: Rows) -> pd.DataFrame:
    dates = pd.to_datetime(list(context.partition_keys))
    if config.kind == "empty":  # no rows: all-null object columns, as an orders table of a quiet range has
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "symbol": pd.Series(dtype=object),
                             "note": pd.Series(dtype=object)})  # fmt: skip
    if config.kind == "untyped":  # no rows and no types at all, as an asset that did nothing returns
        return pd.DataFrame({"date": [], "symbol": [], "note": []})
    if config.kind == "nan":  # rows whose text column is all missing: pandas types it float64
        return pd.DataFrame({"date": dates, "symbol": "AAPL", "note": float("nan")})
    notes = pd.Series([f"n{i}" for i in range(len(dates))], dtype=object if config.kind == "object" else "str")
    return pd.DataFrame({"date": dates, "symbol": "AAPL", "note": notes})


@asset(partitions_def=sessions_partitions, backfill_policy=single_run, ins={"table": AssetIn()})
def reader(table: pd.DataFrame) -> None:
    reader.seen = table


def _run(instance, start, end, store, kind="str"):
    return materialize(
        [table],
        instance=instance,
        resources={"session_store": store, "io_manager": store},
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        run_config={"ops": {"table": {"config": {"kind": kind}}}},
    )


def _read(instance, start, end, store):
    return materialize(
        [table.to_source_asset(), reader],
        instance=instance,
        resources={"session_store": store, "io_manager": store},
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )


def test_ranges_written_by_different_runs_read_back_together(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    # One shard per month: June as large_string, July as string, August with no rows (null columns).
    assert _run(instance, "2012-06-01", "2012-06-29", store).success
    assert _run(instance, "2012-07-02", "2012-07-31", store, kind="object").success
    assert _run(instance, "2012-08-01", "2012-08-10", store, kind="empty").success

    assert _read(instance, "2012-06-01", "2012-08-10", store).success
    seen = reader.seen
    written = calendar.sessions("2012-06-01", "2012-07-31")
    assert list(seen["date"]) == list(written)  # the empty August range contributes no row, and no error
    assert seen["note"].notna().all()

    assert _run(instance, "2012-09-04", "2012-09-07", store, kind="untyped").success
    for start, end in (("2012-08-01", "2012-08-10"), ("2012-09-04", "2012-09-07")):  # no rows read as no rows
        assert _read(instance, start, end, store).success
        assert reader.seen.empty and list(reader.seen.columns) == ["date", "symbol", "note"]


def test_a_range_never_written_is_refused_with_its_first_missing_session(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-06-15", store).success
    with pytest.raises(
        Exception, match="never materialized for 1 of the 12 sessions requested \\(first: 2012-06-18\\)"
    ):
        _read(instance, "2012-06-01", "2012-06-18", store)


def test_rewriting_part_of_a_month_replaces_those_sessions_and_keeps_the_others(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-06-08", store, kind="empty").success  # null-typed columns
    assert _run(instance, "2012-06-01", "2012-06-29", store).success  # notes n0..n20, large_string
    assert _run(instance, "2012-06-11", "2012-06-15", store, kind="object").success  # notes n0..n4, string
    assert _run(instance, "2012-06-25", "2012-06-29", store, kind="empty").success  # no rows any more

    assert _read(instance, "2012-06-01", "2012-06-29", store).success
    seen = reader.seen.set_index("date")["note"]
    sessions = calendar.sessions("2012-06-01", "2012-06-29")
    rewritten = calendar.sessions("2012-06-11", "2012-06-15")
    assert list(seen[rewritten]) == [f"n{i}" for i in range(5)]
    emptied = calendar.sessions("2012-06-25", "2012-06-29")
    sessions = sessions[~sessions.isin(emptied)]
    assert list(seen.index) == list(sessions)  # every session once, in order, none of the emptied ones
    kept = sessions[~sessions.isin(rewritten)]
    assert list(seen[kept]) == [f"n{i}" for i in range(len(sessions)) if sessions[i] not in rewritten]


def test_rows_written_into_a_month_that_held_only_empty_sessions(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-06-29", store, kind="empty").success  # null-typed columns
    assert _run(instance, "2012-06-11", "2012-06-15", store).success

    assert _read(instance, "2012-06-01", "2012-06-29", store).success
    assert list(reader.seen["date"]) == list(calendar.sessions("2012-06-11", "2012-06-15"))
    assert list(reader.seen["note"]) == [f"n{i}" for i in range(5)]


def test_a_partial_rewrite_merges_a_text_column_that_was_all_missing(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-06-29", store).success
    assert _run(instance, "2012-06-11", "2012-06-15", store, kind="nan").success  # float64 NaN into text
    assert _run(instance, "2012-06-18", "2012-06-22", store).success  # text back into that month

    assert _read(instance, "2012-06-01", "2012-06-29", store).success
    notes = reader.seen.set_index("date")["note"]
    assert notes[calendar.sessions("2012-06-11", "2012-06-15")].isna().all()
    assert list(notes[calendar.sessions("2012-06-18", "2012-06-22")]) == [f"n{i}" for i in range(5)]


def test_months_whose_text_column_one_run_left_all_missing_read_back_with_the_others(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-06-29", store).success  # large_string
    assert _run(instance, "2012-07-02", "2012-07-31", store, kind="nan").success  # the same column as float64

    assert _read(instance, "2012-06-01", "2012-07-31", store).success
    notes = reader.seen.set_index("date")["note"]
    assert notes[calendar.sessions("2012-07-02", "2012-07-31")].isna().all()
    assert notes[calendar.sessions("2012-06-01", "2012-06-29")].notna().all()


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    ins={"table": AssetIn(metadata={"columns": ["note"]})},
)
def note_reader(table: pd.DataFrame) -> None:
    note_reader.seen = table


@asset(
    partitions_def=sessions_partitions,
    backfill_policy=single_run,
    ins={"table": AssetIn(metadata={"columns": ["nope"]})},
)
def wrong_reader(table: pd.DataFrame) -> None:
    raise AssertionError("a column the table lacks must not load")


def test_an_input_reads_only_the_columns_its_metadata_names(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    assert _run(instance, "2012-06-01", "2012-07-31", store).success
    tags = {"dagster/asset_partition_range_start": "2012-06-15", "dagster/asset_partition_range_end": "2012-07-13"}
    resources = {"session_store": store, "io_manager": store}
    assert _read(instance, "2012-06-15", "2012-07-13", store).success
    assert materialize(
        [table.to_source_asset(), note_reader], instance=instance, resources=resources, tags=tags
    ).success
    assert list(note_reader.seen.columns) == ["date", "symbol", "note"]
    pd.testing.assert_frame_equal(note_reader.seen, reader.seen[["date", "symbol", "note"]])

    failed = materialize([table.to_source_asset(), wrong_reader], instance=instance, resources=resources, tags=tags,
                         raise_on_error=False)  # fmt: skip
    assert not failed.success
    error = failed.get_step_failure_events()[0].step_failure_data.error
    while error.cls_name.startswith("DagsterExecution"):  # Dagster's "Error occurred while loading input" wrapper
        error = error.cause
    assert error.cls_name == "SessionTableError" and "['nope']" in error.message


@asset(name="table", partitions_def=sessions_partitions, backfill_policy=single_run, io_manager_key="session_store")
def shuffled_table(context) -> pd.DataFrame:
    """Three symbols (one missing) over every session, in an order the store must not keep."""
    dates = pd.to_datetime(list(context.partition_keys))
    frame = pd.DataFrame({
        "date": list(dates) * 3,
        "symbol": pd.Series(["MSFT"] * len(dates) + [None] * len(dates) + ["AAPL"] * len(dates), dtype="str"),
        "value": range(3 * len(dates)),
    })  # fmt: skip
    return frame.sample(frac=1.0, random_state=7)


def test_a_read_is_ordered_by_symbol_then_date_across_months_with_a_missing_symbol_first(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    resources = {"session_store": store, "io_manager": store}
    assert materialize(
        [shuffled_table],
        instance=instance,
        resources=resources,
        tags={"dagster/asset_partition_range_start": "2012-06-01", "dagster/asset_partition_range_end": "2012-08-31"},
    ).success
    assert materialize(
        [shuffled_table.to_source_asset(), reader],
        instance=instance,
        resources=resources,
        tags={"dagster/asset_partition_range_start": "2012-06-15", "dagster/asset_partition_range_end": "2012-07-13"},
    ).success
    sessions = pd.DatetimeIndex(pd.to_datetime(calendar.sessions("2012-06-15", "2012-07-13")))
    rows = []
    for symbol in ("-", "AAPL", "MSFT"):
        rows += [(symbol, day) for day in sessions]
    seen = reader.seen
    assert list(zip(seen["symbol"].fillna("-"), seen["date"], strict=True)) == rows
    assert seen.index.equals(pd.RangeIndex(len(rows)))


@asset(partitions_def=sessions_partitions, backfill_policy=single_run,
       ins={"table": AssetIn(metadata={"columns": ["value"], "without": {"symbol": ["AAPL", "IBM"]}})})  # fmt: skip
def without_reader(table: pd.DataFrame) -> None:
    without_reader.seen = table


def test_an_input_leaves_out_the_rows_its_metadata_names_and_keeps_missing_values(instance, tmp_path):
    store = SessionParquetIOManager(base_dir=str(tmp_path / "tables"))
    resources = {"session_store": store, "io_manager": store}
    tags = {"dagster/asset_partition_range_start": "2012-06-01", "dagster/asset_partition_range_end": "2012-07-31"}
    assert materialize([shuffled_table], instance=instance, resources=resources, tags=tags).success
    assert materialize([shuffled_table.to_source_asset(), reader], instance=instance, resources=resources, tags=tags)
    everything = reader.seen
    assert materialize(
        [shuffled_table.to_source_asset(), without_reader], instance=instance, resources=resources, tags=tags
    ).success
    expected = everything[everything["symbol"].ne("AAPL")].reset_index(drop=True)  # pandas' != keeps a missing one
    assert len(expected) == 2 * len(calendar.sessions("2012-06-01", "2012-07-31"))
    pd.testing.assert_frame_equal(without_reader.seen, expected[["date", "symbol", "value"]], check_exact=True)
