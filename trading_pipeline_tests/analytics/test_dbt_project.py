"""dbt_project/ as Dagster assets: built green on the embedded default (DuckDB) and on PostgreSQL, from the same
backtest, with equal marts; the FIFO round trips agree with an independent matcher."""

from collections import deque
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from dagster import AssetKey, materialize

from trading_pipeline.defs.analytics.dbt_assets import DBT_PROJECT_DIR, DBT_RESOURCE, analytics_dbt
from trading_pipeline.defs.analytics.definitions import defs
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.domain.book import SIDES
from trading_pipeline.domain.llm.calls import CHOICE_OUTCOMES, Outcome, Step
from trading_pipeline.journal import Journal, OrderStatus, RiskAction

MARTS = [
    "round_trips",
    "daily_pnl",
    "strategy_performance",
    "risk_rejections_by_rule",
    "llm_decision_quality",
    "llm_call_summary",
    "picker_performance",
]
# Sort keys that make each mart's rows comparable across databases.
MART_KEYS = {
    "round_trips": ["round_trip_id"],
    "daily_pnl": ["book", "session"],
    "strategy_performance": ["book", "strategy"],
    "risk_rejections_by_rule": ["book", "source", "rule", "action"],
    "llm_decision_quality": ["book", "provider", "choice_outcome", "strategy"],
    "llm_call_summary": ["book", "step", "provider", "model"],
    "picker_performance": ["book", "picker", "horizon"],
}
# The offline backtest's rule-based selector makes no model call: three recorded calls of a model provider
# (answered, failed, replaced by the deterministic fallback) are added to both journals before dbt runs.
MODEL = "llama-3.3-70b-versatile"
LLM_CALLS = pd.DataFrame({
    "session": ["2011-08-08"] * 3, "step": ["selection"] * 3, "provider": [f"groq/{MODEL}"] * 3, "model": [MODEL] * 3,
    "prompt_hash": ["h1", "h2", "h3"], "input_tokens": [900.0, 950.0, 0.0], "output_tokens": [300.0, 0.0, 0.0],
    "latency_ms": [420.0, 30000.0, 0.0], "outcome": ["ok", "error", "fallback"],
    "decision": ['{"AAPL": "Breakout"}', None, '{"AAPL": "MeanReversion"}'], "error": [None, "HTTP 503", None],
})  # fmt: skip


@pytest.fixture(scope="module")
def built(backtest_journals, tmp_path_factory):
    """The dbt assets materialized through Dagster once per journal backend."""
    from dagster import instance_for_test

    assert backtest_journals.successes == (True, True), "the backtest that feeds the journals failed"
    marts = {}
    for backend, url in (("duckdb", backtest_journals.sqlite_url), ("postgres", backtest_journals.postgres.url())):
        journal = Journal(url)
        journal.llm_calls.record_llm_calls(backtest_journals.book, "analytics-test-run", LLM_CALLS)
        _record_llm_choices(journal, backtest_journals.book)
        _record_watchlist(journal, backtest_journals.book)
        # A run's rows staged and never committed (a failed run's): no book's results.
        staged = journal.read("equity", book=backtest_journals.book).head(3).drop(columns=["book", "run_id"])
        journal.replace_equity(f"{backtest_journals.book}#failed-run", staged["session"], staged, "failed-run")
        journal.close()
        home = tmp_path_factory.mktemp(f"analytics_{backend}")
        with instance_for_test(temp_dir=str(home)) as instance:
            result = materialize(
                [analytics_dbt], instance=instance, resources={"dbt": DBT_RESOURCE, "journal": JournalResource(url=url)}
            )
            checks = result.get_asset_check_evaluations()
        marts[backend] = {
            "success": result.success,
            "materialized": {e.asset_key for e in result.get_asset_materialization_events()},
            "failed_checks": [c.check_name for c in checks if not c.passed],
            "checks": len(checks),
            "tables": _read_marts(backend, home, backtest_journals.postgres),
        }
    return marts


def _record_llm_choices(journal: Journal, book: str) -> None:
    """The journal keeps only the choices an LLM made (the deterministic policy's are recomputed): the backtest's
    entries are recorded as a model's choices of the strategies that opened them, as a Groq-selected run would."""
    orders = journal.read("orders", book=book)
    entries = orders[(orders["side"] == "buy") & (orders["strategy"] != "position_management")]
    choices = pd.DataFrame({
        "session": entries["session"], "symbol": entries["symbol"], "strategy": entries["strategy"],
        "provider": f"groq/{MODEL}", "outcome": "ok", "reason": "chosen by the model",
    }).drop_duplicates(["session", "symbol"])  # fmt: skip
    journal.replace_strategy_choices(book, choices["session"].unique(), choices, "analytics-test-run")


def _watchlist(journal: Journal, book: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Discovery's tables for the offline backtest (which runs with discovery off): on two sessions the symbol
    the book bought, and on the first a symbol it did not buy, each with its pickers and known returns."""
    buys = journal.read("orders", book=book).query("side == 'buy'").sort_values("session")
    (s1, a), (s2, b) = buys.drop_duplicates("session")[["session", "symbol"]].head(2).itertuples(index=False)
    watch = pd.DataFrame(
        {
            "session": [s1, s1, s2],
            "symbol": [a, "NOT_BOUGHT", b],
            "rank": [1.0, 2.0, 1.0],
            "score": [0.9, 0.7, 0.8],
            "pickers": ["metric+llm", "fuzzy", "metric+fuzzy+llm"],
            "reason": ["r"] * 3,
            "divergence": ["", "selected by fuzzy; rejected by metric", ""],
        }
    )
    returns = pd.DataFrame({
        "session": [s2] * 4, "suggested_on": [s1, s1, s2, s1], "symbol": [a, "NOT_BOUGHT", b, a],
        "horizon": [1.0, 1.0, 1.0, 5.0], "forward_return": [0.02, -0.01, 0.0, 0.05],
        "universe_return": [0.01, 0.01, 0.01, 0.03],
    })  # fmt: skip
    return watch, returns


def _record_watchlist(journal: Journal, book: str) -> None:
    watch, returns = _watchlist(journal, book)
    journal.replace_rows("watchlist", book, watch["session"].unique(), watch, "analytics-test-run")
    journal.replace_rows("watchlist_returns", book, returns["session"].unique(), returns, "analytics-test-run")


def _read_marts(backend: str, home: Path, postgres) -> dict[str, pd.DataFrame]:
    if backend == "duckdb":
        with duckdb.connect(str(home / "trading_pipeline" / "analytics.duckdb"), read_only=True) as conn:
            return {m: conn.sql(f"select * from analytics.analytics.{m}").df() for m in MARTS}
    with postgres.connect() as conn:
        tables = {}
        for mart in MARTS:
            cursor = conn.execute(f"select * from analytics.{mart}")
            tables[mart] = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
        return tables


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_dbt_build_is_green(built, backend):
    run = built[backend]
    assert run["success"]
    assert run["failed_checks"] == []
    assert run["checks"] >= 30  # the dbt tests run as Dagster asset checks
    assert {AssetKey(["analytics", m]) for m in MARTS} <= run["materialized"]
    tables = run["tables"]
    assert len(tables["round_trips"]) > 0 and len(tables["daily_pnl"]) > 0 and len(tables["llm_decision_quality"]) > 0


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_llm_calls_are_summarized_per_provider(built, backtest_journals, backend):
    summary = built[backend]["tables"]["llm_call_summary"]
    row = summary[summary["provider"] == f"groq/{MODEL}"].iloc[0]
    assert (row["calls"], row["ok_calls"], row["failed_calls"], row["deterministic_fallbacks"]) == (3, 1, 1, 1)
    assert float(row["tokens"]) == 2150.0 and row["book"] == backtest_journals.book
    quality = built[backend]["tables"]["llm_decision_quality"]
    assert int(quality["choices"].sum()) > 0 and set(quality["choice_outcome"]) == {"ok"}
    assert int(quality["traded_choices"].sum()) > 0


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_picker_performance_scores_each_picker_and_the_ensemble_against_the_universe(built, backtest_journals, backend):
    watch, returns = _watchlist(Journal(backtest_journals.sqlite_url), backtest_journals.book)
    mart = built[backend]["tables"]["picker_performance"]
    for picker in ("ensemble", "metric", "fuzzy", "llm"):
        chosen = [picker == "ensemble" or picker in names.split("+") for names in watch["pickers"]]
        mine = watch[chosen]
        joined = returns.merge(mine, left_on=["suggested_on", "symbol"], right_on=["session", "symbol"])
        traded = (mine["symbol"] != "NOT_BOUGHT").mean()
        for horizon, group in joined.groupby("horizon"):
            excess = group["forward_return"] - group["universe_return"]
            (row,) = mart[(mart["picker"] == picker) & (mart["horizon"] == horizon)].to_dict("records")
            assert (int(row["suggestions"]), int(row["scored"])) == (len(mine), len(group)), (picker, horizon)
            assert float(row["hit_rate"]) == pytest.approx((excess > 0).mean())
            assert float(row["mean_excess_return"]) == pytest.approx(excess.mean())
            assert float(row["trade_rate"]) == pytest.approx(traded)
    assert len(mart) == 7  # no fuzzy entry has a 5-session return yet


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_the_marts_hold_only_committed_books(built, backtest_journals, backend):
    for mart, table in built[backend]["tables"].items():
        assert set(table["book"]) <= {backtest_journals.book}, mart


def test_the_marts_are_equal_on_duckdb_and_postgres(built):
    for mart, keys in MART_KEYS.items():
        frames = [_comparable(built[backend]["tables"][mart], keys) for backend in ("duckdb", "postgres")]
        pd.testing.assert_frame_equal(*frames, check_exact=False, rtol=1e-9, obj=mart)


def _comparable(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in key order; dates as datetime64[ns] and numbers (PostgreSQL's numeric included) as float64."""
    out = frame.sort_values(keys).reset_index(drop=True)
    for column in out.columns:
        values = out[column].dropna()
        first = values.iloc[0] if len(values) else None
        if pd.api.types.is_datetime64_any_dtype(out[column]) or isinstance(first, date):
            out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(out[column]) or isinstance(first, int | float | Decimal):
            out[column] = out[column].astype("float64")
    return out


def test_round_trips_match_an_independent_fifo_matcher(built, backtest_journals):
    fills = Journal(backtest_journals.sqlite_url).read("fills")
    expected = []
    lots: dict[tuple, deque] = {}
    for fill in fills.itertuples():
        queue = lots.setdefault((fill.book, fill.symbol), deque())
        if fill.side == "buy":
            queue.append([fill.qty, fill.price, fill.commission / fill.qty])
            continue
        remaining = fill.qty
        while remaining > 1e-9:
            lot = queue[0]
            qty = min(lot[0], remaining)
            expected.append(qty * (fill.price - lot[1] - lot[2] - fill.commission / fill.qty))
            lot[0] -= qty
            remaining -= qty
            if lot[0] <= 1e-9:
                queue.popleft()
    trips = built["duckdb"]["tables"]["round_trips"]
    assert len(trips) == len(expected) > 0
    assert sorted(trips["pnl"].round(6)) == sorted(round(p, 6) for p in expected)


def test_the_dbt_sources_sit_downstream_of_the_assets_that_write_the_journal():
    graph = defs.resolve_asset_graph()
    parents = {key.path[-1]: {p.to_user_string() for p in graph.get(key).parent_keys} for key in analytics_dbt.keys}
    assert parents["stg_fills"] == {"fills"} and parents["stg_orders"] == {"fills"}
    assert parents["stg_equity"] == {"portfolio"} and parents["stg_positions"] == {"portfolio"}
    assert parents["stg_strategy_choices"] == {"strategy_selection"} == parents["stg_llm_calls"]
    assert parents["stg_risk_events"] == {"sized_orders"}


def test_accepted_values_mirror_the_journal_enumerations():
    """The dbt tests list the enumerations by value; they must not drift from the journal's."""
    accepted = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            for column in model.get("columns", []):
                for test in column.get("data_tests", []):
                    if isinstance(test, dict) and "accepted_values" in test:
                        accepted[(model["name"], column["name"])] = set(test["accepted_values"]["arguments"]["values"])
    assert accepted[("stg_orders", "side")] == accepted[("stg_fills", "side")] == set(SIDES)
    assert accepted[("stg_orders", "status")] == {str(s) for s in OrderStatus}
    assert accepted[("stg_risk_events", "action")] == {str(a) for a in RiskAction}
    assert accepted[("risk_rejections_by_rule", "action")] == {str(a) for a in RiskAction} - {"info"}
    assert accepted[("stg_llm_calls", "outcome")] == {str(o) for o in Outcome}
    assert accepted[("stg_llm_calls", "step")] == {str(s) for s in Step}
    choices = {str(o) for o in CHOICE_OUTCOMES}
    assert (
        accepted[("stg_strategy_choices", "outcome")] == choices == accepted[("llm_decision_quality", "choice_outcome")]
    )
