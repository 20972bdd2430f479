"""performance_report: metrics, trade tables, a benchmarked tearsheet and the curves the UI plots."""

import base64
import json
import struct

import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.domain import calendar
from trading_pipeline_tests.cycles import asset_metadata, asset_observations

START, END = "2008-08-01", "2008-10-31"


def _report(instance, out, **config):
    result = materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources=DEFAULT_RESOURCES,
        raise_on_error=True,
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
        run_config={"ops": {"performance_report": {"config": {"out_dir": str(out), **config}}}},
    )
    # A range run materializes every partition of the range with the same summary; the tables and the picture
    # are on one observation of the range's last session, not copied per session.
    materialized = [
        m for m in result.get_asset_materialization_events() if m.asset_key == AssetKey("performance_report")
    ]
    assert materialized[-1].partition == END
    assert all("equity_and_drawdown" not in m.materialization.metadata for m in materialized)
    observed = asset_observations(instance, result.run_id, "performance_report")
    assert [r.partition_key for r in observed] == [END]
    assert materialized[-1].materialization.metadata["details"].value.startswith("equity_and_drawdown, by_strategy")
    return result, asset_metadata(instance, result, "performance_report")


def test_report_has_the_metrics_trade_tables_and_curves(instance, tmp_path):
    out = tmp_path / "report"
    result, metadata = _report(instance, out, tearsheet=False)
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("calmar", "turnover", "trades", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                "exposure"):  # fmt: skip
        assert key in metrics
    assert metrics["trades"] > 0 and metrics["turnover"] > 0
    assert metadata["turnover"].value == metrics["turnover"]

    trips = pd.read_csv(out / "round_trips.csv")
    by_symbol = pd.read_csv(out / "by_symbol.csv", index_col="symbol")
    by_strategy = pd.read_csv(out / "by_strategy.csv", index_col="strategy")
    assert len(trips) == metrics["n_round_trips"] > 0
    assert by_symbol["trades"].sum() == by_strategy["trades"].sum() == len(trips)
    assert by_symbol["pnl"].sum() == pytest.approx(trips["pnl"].sum())
    assert "unknown" not in by_strategy.index  # every fill traced to its order's strategy
    assert metadata["by_symbol"].value.splitlines()[0] == "| symbol | trades | win_rate | pnl | profit_factor |"
    assert len(metadata["by_strategy"].value.splitlines()) == 2 + len(by_strategy)
    # The equity and drawdown curves as a picture: a base64 PNG in Markdown, which the UI renders.
    picture = metadata["equity_and_drawdown"].value
    assert picture.startswith("![equity and drawdown](data:image/png;base64,") and picture.endswith(")")
    png = base64.b64decode(picture.split(",", 1)[1][:-1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (640, 480)  # 8 x 6 inches at 80 dpi

    # One observation of `portfolio` per session of the range, with the journal's equity and drawdown.
    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_OBSERVATION, asset_key=AssetKey("portfolio"))
    )
    observed = {r.event_log_entry.dagster_event.partition: r.asset_observation.metadata for r in records}
    sessions = [s.strftime("%Y-%m-%d") for s in calendar.sessions(START, END)]
    assert sorted(observed) == sessions
    equity = pd.read_csv(out / "equity.csv").set_index("session")
    assert observed[sessions[-1]]["equity"].value == equity.loc[sessions[-1], "equity"]
    assert min(m["drawdown"].value for m in observed.values()) == equity["drawdown"].min() < 0
    assert result.success


def test_tearsheet_has_a_benchmark_from_the_same_data_or_says_it_is_absent(instance, tmp_path):
    _, with_aapl = _report(instance, tmp_path / "aapl", benchmark="AAPL", curve_observations=False)
    assert with_aapl["benchmark"].value == "AAPL (replay:daily_5stocks.parquet)"
    html = (tmp_path / "aapl" / "tearsheet.html").read_text()
    assert "Benchmark" in html

    _, without = _report(instance, tmp_path / "spy", curve_observations=False)  # SPY is not in the bundled data
    assert without["benchmark"].value.startswith("SPY absent from replay:daily_5stocks.parquet")
    assert "Benchmark" not in (tmp_path / "spy" / "tearsheet.html").read_text()
    assert not instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_OBSERVATION, asset_key=AssetKey("portfolio"))
    )
