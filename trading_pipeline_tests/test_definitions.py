"""The Definitions load, and the asset graph only changes on purpose (update the snapshot when it does)."""

import ast
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import Backoff, Jitter
from dagster._core.definitions.partitions.context import partition_loading_context
from pydantic import ValidationError

from trading_pipeline.definitions import defs
from trading_pipeline.defs.partitions import FIRST_SESSION, sessions_partitions
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.domain import calendar
from trading_pipeline.domain.risk import verification
from trading_pipeline.domain.risk.limits import RiskLimits

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _graph() -> dict:
    graph = defs.resolve_asset_graph()
    return {
        "assets": {
            key.to_user_string(): {
                "group": graph.get(key).group_name,
                "deps": sorted(p.to_user_string() for p in graph.get(key).parent_keys),
                "partitioned": graph.get(key).partitions_def is not None,
            }
            for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
        },
        "checks": sorted(
            f"{k.asset_key.to_user_string()}:{k.name}:{'blocking' if graph.get(k).blocking else 'non-blocking'}"
            for k in graph.asset_check_keys
        ),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
    }


def test_asset_graph_matches_snapshot():
    assert _graph() == json.loads(SNAPSHOT.read_text())


def test_strategy_selection_is_an_op_with_an_exponential_jittered_retry_policy():
    node = defs.resolve_assets_def("strategy_selection").node_def
    op = node.node_defs[0] if hasattr(node, "node_defs") else node
    policy = op.retry_policy
    assert policy is not None and policy.max_retries >= 1
    assert policy.backoff == Backoff.EXPONENTIAL and policy.jitter == Jitter.PLUS_MINUS


def test_every_session_asset_backfills_in_one_run():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def is not None, key
        assert node.backfill_policy is not None and node.backfill_policy.max_partitions_per_run is None, key


def test_sessions_exclude_weekends_and_holidays():
    keys = set(
        defs.resolve_asset_graph()
        .get(next(iter(defs.resolve_asset_graph().get_all_asset_keys())))
        .partitions_def.get_partition_keys()
    )
    assert "2012-07-04" not in keys and "2012-07-07" not in keys and "2012-10-29" not in keys
    assert {"2012-07-03", "2012-07-05", "2012-11-23"} <= keys


def test_the_partitions_are_the_calendar_files_sessions_whatever_the_day_they_are_loaded():
    """Two processes loaded months apart agree: the partitions are the file's sessions up to its horizon, and past
    the horizon there are none (until the file is extended)."""
    late = datetime(2035, 1, 1, tzinfo=ZoneInfo("America/New_York"))
    with partition_loading_context(effective_dt=late):
        keys = sessions_partitions.get_partition_keys()
    expected = [d.strftime("%Y-%m-%d") for d in calendar.sessions(FIRST_SESSION, calendar.horizon())]
    assert keys == expected


def test_the_trading_book_exposes_each_risk_limit_once_with_its_bounds_and_description():
    book_fields = TradingBook.model_fields
    for name, field in RiskLimits.model_fields.items():
        assert book_fields[name].metadata == field.metadata, name
        assert book_fields[name].description == field.description and field.description, name
        assert book_fields[name].default == field.default, name
    for bad in ({"atr_stop_multiple": 25.0}, {"trailing_stop": "sometimes"}, {"drawdown_cooloff_sessions": 0}):
        with pytest.raises(ValidationError):
            TradingBook(**bad)


def test_the_risk_verification_never_imports_the_sizer():
    """The blocking checks re-derive every limit independently: their module does not import the sizing code."""
    tree = ast.parse(Path(verification.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any("sizing" in (m or "") for m in imported), imported


def test_only_the_boundary_package_imports_dagster_internals():
    package = Path(verification.__file__).parents[2]
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "dagster._" in path.read_text() and path.parent.name != "dagster_internals"
    ]
    assert offenders == []


def test_the_live_cycle_fetches_enough_history_for_every_indicator_and_strategy():
    from trading_pipeline.defs.signals.indicators import WARMUP_SESSIONS
    from trading_pipeline.domain.indicators import LONGEST_LOOKBACK
    from trading_pipeline.domain.strategies import REGISTRY

    assert WARMUP_SESSIONS >= LONGEST_LOOKBACK + 20
    assert max(strategy.min_history for strategy in REGISTRY.values()) <= WARMUP_SESSIONS
