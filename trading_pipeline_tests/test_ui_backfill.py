"""A backfill launched the way the UI launches it (GraphQL, daemon) runs the whole graph as ONE run."""

from trading_pipeline.definitions import ASSETS
from trading_pipeline_tests.processes import dagster_dev, graphql, wait_for  # noqa: F401  (dagster_dev: fixture)

START, END = "2012-06-01", "2012-06-15"
LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
  runsOrError { ... on Runs { results { status tags { key value } assetSelection { path } } } } }"""


def test_a_ui_backfill_of_every_asset_is_one_successful_run(dagster_dev):
    port, log_path = dagster_dev
    keys = [key for a in ASSETS for key in a.keys]
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": key.path}, "partitions": {"range": {"start": START, "end": END}}} for key in keys
        ]
    }
    launched = graphql(port, LAUNCH, {"p": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished():
        data = graphql(port, STATUS, {"id": launched["backfillId"]})
        status = data["partitionBackfillOrError"]["status"]
        return data if status not in ("REQUESTED", "IN_PROGRESS") else None

    data = wait_for(finished, 600, "the backfill to finish", [log_path])
    assert data["partitionBackfillOrError"]["status"] == "COMPLETED_SUCCESS", log_path.read_text()[-3000:]
    runs = data["runsOrError"]["results"]
    assert len(runs) == 1
    run = runs[0]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (START, END)
    assert {p["path"][0] for p in run["assetSelection"]} == {key.path[0] for key in keys}
