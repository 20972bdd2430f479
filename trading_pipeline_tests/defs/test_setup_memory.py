"""setup_memory in whole Dagster runs: built in the same backfill, never showing an outcome from after a session,
fed to the LLM selector and reviewer as JSON data, and the memory check of validated_signals behind its switch."""

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from dagster import AssetKey, EnvVar, materialize

from trading_pipeline.definitions import ASSETS, CHECKS, DEFAULT_RESOURCES
from trading_pipeline.defs.profiles import profile_from
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.llm import GroqSelector
from trading_pipeline.defs.resources.memory import LocalSetupMemory, MemoryCheckConfig, PgVectorSetupMemory
from trading_pipeline.defs.resources.review import AnthropicReviewer
from trading_pipeline.domain.memory.store import NumpySetupStore
from trading_pipeline.domain.memory.summary import SetupMemory, similar_setups, similar_setups_many, summary_frame
from trading_pipeline.domain.memory.vectors import FEATURES, VECTOR_COLUMNS
from trading_pipeline_tests.cycles import run_cycle
from trading_pipeline_tests.fakes.llm_servers import ScriptedLLMServer, anthropic_message, groq_choosing

START, END = "2012-03-01", "2012-03-09"
RANGE = {"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END}


def _table(instance, asset: str) -> pd.DataFrame:
    root = Path(instance.root_directory) / "trading_pipeline" / "tables" / asset
    return pd.concat([pq.read_table(p).to_pandas() for p in sorted(root.glob("*.parquet"))], ignore_index=True)


def _stored(instance) -> NumpySetupStore:
    """The offline memory as the runs left it, read back into a store by this test."""
    rows = pq.read_table(Path(instance.root_directory) / "trading_pipeline/memory/setups.parquet").to_pandas()
    store = NumpySetupStore()
    store.add(rows, rows)
    return store


def _expected(store: NumpySetupStore, vectors: pd.DataFrame, date: pd.Timestamp, symbol: str) -> SetupMemory:
    row = vectors[(vectors["date"] == date) & (vectors["symbol"] == symbol)]
    return similar_setups(store, symbol, date, row[list(FEATURES)].to_numpy(dtype="float64")[0])


def _metadata(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {k: getattr(v, "value", v) for k, v in events[-1].materialization.metadata.items()}


def _check_metadata(result) -> dict:
    """What the memory check op reported (an inner op of the validated_signals graph asset)."""
    outputs = [
        e
        for e in result.all_events
        if e.step_key == "validated_signals.memory_check" and e.event_type_value == "STEP_OUTPUT"
    ]
    return {k: getattr(v, "value", v) for k, v in outputs[-1].step_output_data.metadata.items()}


CHECK_ON = LocalSetupMemory(check=MemoryCheckConfig(enabled=True))


def test_nothing_builds_or_asks_the_memory_when_no_step_reads_it(instance):
    run = run_cycle(instance, START, END)  # the deterministic policy, no review, the check off
    assert run.result.success
    assert _table(instance, "setup_memory").empty
    assert not (Path(instance.root_directory) / "trading_pipeline/memory/setups.parquet").exists()
    assert _metadata(run.result, "setup_memory")["readers"].startswith("none")


def test_the_memory_is_built_in_the_backfill_from_the_past_only(instance):
    run = run_cycle(instance, START, END, memory=CHECK_ON)
    assert run.result.success
    assert _metadata(run.result, "setup_memory")["readers"] == "memory check"
    table = _table(instance, "setup_memory")
    assert list(table.columns) == VECTOR_COLUMNS
    assert table["date"].between(pd.Timestamp(START), pd.Timestamp(END)).all()
    assert len(table) == 7 * table["symbol"].nunique()  # every (session, symbol) of the range has a vector
    memory = pq.read_table(Path(instance.root_directory) / "trading_pipeline/memory/setups.parquet").to_pandas()
    # Nothing stored is known after the range's last close, and nothing after a session was used for it:
    # the outcomes of the range's own sessions are still open (10-session horizon).
    assert memory["visible_on"].max() <= pd.Timestamp(END)
    assert memory["date"].max() < pd.Timestamp(START)
    added = _metadata(run.result, "setup_memory")["setups_added"]
    assert added == len(memory) > 900  # a year of the four offline symbols
    again = run_cycle(instance, START, END, memory=CHECK_ON, trading=TradingBook(book="again"))
    assert _metadata(again.result, "setup_memory")["setups_added"] == 0  # stored once
    pd.testing.assert_frame_equal(_table(instance, "setup_memory"), table)


def test_llm_selector_and_reviewer_receive_the_figures_as_data(instance, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_memory_test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-memory-test")
    with (
        ScriptedLLMServer(groq_choosing("Breakout")) as groq,
        ScriptedLLMServer(anthropic_message('{"reviews": []}')) as anthropic,
    ):
        run = run_cycle(
            instance,
            START,
            END,
            selector=GroqSelector(api_key=EnvVar("GROQ_API_KEY"), base_url=groq.base_url),
            reviewer=AnthropicReviewer(api_key=EnvVar("ANTHROPIC_API_KEY"), base_url=anthropic.base_url),
        )
    assert run.result.success
    readers = _metadata(run.result, "setup_memory")["readers"].split(", ")
    assert [r.split(" ")[0] for r in readers] == ["selector", "reviewer"], readers
    store, vectors = _stored(instance), _table(instance, "setup_memory")
    for request in groq.requests:
        document = request.user_data
        session = pd.Timestamp(document["session"])
        for row in document["symbols"]:
            expected = _expected(store, vectors, session, row["symbol"])
            assert row["similar_setups"] == expected.as_json() and expected.neighbours.count == 20
    assert "similar_setups" not in groq.requests[0].system  # data, not instructions
    reviewed = [r.user_data for r in anthropic.requests]
    assert reviewed and all("similar_setups" in s for r in reviewed for s in r["signals"])
    for document in reviewed:
        for signal in document["signals"]:
            expected = _expected(store, vectors, pd.Timestamp(document["session"]), signal["symbol"])
            assert signal["similar_setups"] == expected.as_json()


def test_the_memory_check_is_off_by_default_and_scales_losing_setups_when_on(instance):
    def cycle(book: str, **check):
        config = {"ops": {"performance_report": {"config": {"tearsheet": False}}}}
        if check:  # as a user turns it on in the launchpad
            config["resources"] = {"memory": {"config": {"check": check}}}
        result = materialize(
            [*ASSETS, *CHECKS],
            instance=instance,
            resources={**DEFAULT_RESOURCES, "trading": TradingBook(book=book)},
            tags=RANGE,
            run_config=config,
        )
        assert result.success
        return result, _table(instance, "validated_signals")

    off, signals_off = cycle("off")
    assert "off" in _check_metadata(off)["memory_check"]
    assert not signals_off["validation"].str.contains("memory").any()
    # A threshold every judged BUY exceeds, so the check must act: the expectation is computed from the table.
    on, signals_on = cycle("on", enabled=True, max_loss_rate=0.0, min_neighbours=1, scale=0.5)
    store, vectors = _stored(instance), _table(instance, "setup_memory")
    merged = signals_off.merge(
        signals_on[["date", "symbol", "confidence", "validation"]], on=["date", "symbol"], suffixes=("", "_on")
    )
    buys = merged["action"] == "BUY"
    assert buys.any()
    hit_rate = [
        _expected(store, vectors, d, sym).neighbours.hit_rate if buy else None
        for d, sym, buy in zip(merged["date"], merged["symbol"], buys, strict=True)
    ]
    losing = buys & (pd.Series(hit_rate, dtype="float64") < 1.0)
    assert losing.any()
    pd.testing.assert_series_equal(
        merged.loc[losing, "confidence_on"], merged.loc[losing, "confidence"] * 0.5, check_names=False
    )
    assert merged.loc[~buys, "confidence_on"].equals(merged.loc[~buys, "confidence"])
    assert merged.loc[losing, "validation_on"].str.contains(r"memory: \d+ of 20 similar past setups lost").all()
    assert _check_metadata(on)["entries_lowered_by_memory"] == int(losing.sum())


def test_pgvector_memory_is_filled_and_answers_as_the_numpy_memory(instance, pgvector_database):
    assert run_cycle(instance, START, END, memory=CHECK_ON).result.success
    memory = PgVectorSetupMemory(url=pgvector_database.url(), check=MemoryCheckConfig(enabled=True))
    on_pgvector = run_cycle(instance, START, END, memory=memory, trading=TradingBook(book="pgvector"))
    assert on_pgvector.result.success
    assert _metadata(on_pgvector.result, "setup_memory")["memory"] == "pgvector (setups)"
    vectors, numpy_store = _table(instance, "setup_memory"), _stored(instance)
    assert len(memory.open()) == len(numpy_store)
    pd.testing.assert_frame_equal(
        memory.answers(vectors), summary_frame(similar_setups_many(numpy_store, vectors, k=20))
    )


def test_a_memory_url_puts_the_memory_in_pgvector_in_every_profile():
    keys = {"ALPACA_API_KEY": "PKTEST", "ALPACA_SECRET_KEY": "secret"}
    for environ in ({}, {"TRADING_PROFILE": "paper", **keys}):
        assert isinstance(profile_from(environ).resources["memory"], LocalSetupMemory)
        with_url = profile_from({**environ, "TRADING_MEMORY_URL": "postgresql://u@db/trading"})
        assert isinstance(with_url.resources["memory"], PgVectorSetupMemory)
        assert with_url.providers["memory of setups"] == "pgvector at TRADING_MEMORY_URL"
