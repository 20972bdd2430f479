"""A sweep point is the backfill of its configuration: same fills, same equity, to the bit; its results are kept
one row per point and shown with a picture."""

import json
from pathlib import Path

import pandas as pd
from dagster import materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES, RESEARCH_ASSETS
from trading_pipeline.defs.research.sweep_results import sweep_job
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.tags import RANGE_END_TAG, RANGE_START_TAG
from trading_pipeline_tests.cycles import run_cycle

START, END = "2008-08-01", "2008-12-31"
FILL_COLUMNS = ["session", "symbol", "side", "qty", "price", "commission", "client_order_id"]


def _sweep(instance, out: Path, grid: list[str], workers: int):
    result = materialize(
        [*ASSETS, *RESEARCH_ASSETS, *CHECKS],
        selection=sweep_job.selection,
        instance=instance,
        resources=DEFAULT_RESOURCES,
        tags={RANGE_START_TAG: START, RANGE_END_TAG: END},
        run_config={
            "ops": {"sweep_results": {"config": {"grid": grid, "workers": workers, "out_dir": str(out), "name": "t"}}}
        },
    )
    assert result.success
    return result, json.loads((out / "sweep.json").read_text())


def _same_as_backfill(instance, out: Path, point: int, **resources) -> None:
    backfill = run_cycle(instance, START, END, **resources)
    assert backfill.result.success
    fills = pd.read_parquet(out / "fills.parquet")
    mine = fills[fills["point"] == point][FILL_COLUMNS].reset_index(drop=True)
    theirs = backfill.table("fills")[FILL_COLUMNS].reset_index(drop=True)
    assert len(theirs) > 0
    pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
    equity = pd.read_parquet(out / "equity.parquet")[str(point)]
    journaled = backfill.table("equity").set_index("session")["equity"]
    assert equity.index.equals(pd.DatetimeIndex(journaled.index).astype(equity.index.dtype).rename(equity.index.name))
    assert equity.to_numpy().tobytes() == journaled.to_numpy(dtype="float64").tobytes()


def test_three_sweep_points_are_bit_identical_to_their_backfills(instance, tmp_path):
    policy, summary = _sweep(
        instance, tmp_path / "policy", ["risk_per_trade=0.01,0.03", "trailing_stop=percent", "slippage_bps=20"], 2
    )
    assert [p["risk_per_trade"] for p in summary["points"]] == [0.01, 0.03]
    for point, risk in enumerate((0.01, 0.03)):
        _same_as_backfill(
            instance,
            tmp_path / "policy",
            point,
            trading=TradingBook(book="offline", risk_per_trade=risk, trailing_stop="percent"),
            broker=SimulatedBroker(slippage_bps=20),
        )
    _sweep(instance, tmp_path / "pinned", ["strategy=BollingerBands", "min_confidence=0.5"], 1)
    _same_as_backfill(
        instance,
        tmp_path / "pinned",
        0,
        trading=TradingBook(book="offline", min_confidence=0.5),
        selector=RuleBasedSelector(pin="BollingerBands"),
    )

    # One row per point in the journal's backtests, under the sweep's name; the UI gets a table and a picture.
    kept = run_cycle(instance, START, START).journal.read_backtests("offline")
    swept = kept[kept["run_id"] == policy.run_id]
    assert swept["point"].tolist() == [0, 1] and set(swept["name"]) == {"t"}
    assert [p["risk_per_trade"] for p in swept["parameters"]] == [0.01, 0.03]
    metadata = policy.asset_materializations_for_node("sweep_results")[0].metadata
    assert metadata["picture"].value.startswith("![equity curves](data:image/png;base64,")
    assert "| # | risk_per_trade |" in metadata["results"].value
