"""The Definitions load, and the asset graph only changes on purpose (update the snapshot when it does)."""

import json
from pathlib import Path

from dagster import Backoff, Jitter

from trading_pipeline.definitions import defs

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
