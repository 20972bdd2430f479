"""market_bars and bars_valid through Dagster, on a small bars file with the bad data users send."""

from pathlib import Path

import pandas as pd
import pytest
from dagster import materialize
from pydantic import ValidationError

from trading_pipeline.definitions import DEFAULT_RESOURCES
from trading_pipeline.defs.discovery.universe import universe
from trading_pipeline.defs.market.bar_checks import bars_valid
from trading_pipeline.defs.market.market_bars import market_bars
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.journal import default_journal_url
from trading_pipeline.defs.resources.market_data import ReplayMarketData
from trading_pipeline.defs.signals.indicators import indicators
from trading_pipeline.domain import calendar
from trading_pipeline.journal import Journal
from trading_pipeline_tests.cycles import asset_metadata

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "III", "JJJ"]
START, END = "2012-06-11", "2012-06-22"  # the file starts on 2012-06-01: a week of history before the range


def _write_bars(tmp_path: Path) -> Path:
    """Ten symbols over June 2012, every session, with:
    BBB's open written ``NaN`` on 2012-06-12; CCC spelled `` ccc `` on some rows; an AAA bar on Saturday
    2012-06-16; EEE tripled on 2012-06-05 (before the range); DDD split 100:1, unadjusted, on 2012-06-20."""
    rows = []
    for i, symbol in enumerate(SYMBOLS):
        for n, day in enumerate(calendar.sessions("2012-06-01", "2012-06-29")):
            close = 20.0 + i + 0.1 * n
            close *= 3 if symbol == "EEE" and day >= pd.Timestamp("2012-06-05") else 1
            close /= 100 if symbol == "DDD" and day >= pd.Timestamp("2012-06-20") else 1
            rows.append([day.strftime("%Y-%m-%d"), symbol, close, close * 1.01, close * 0.99, close, 1000])
    frame = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"]).astype(str)
    frame.loc[(frame["symbol"] == "BBB") & (frame["date"] == "2012-06-12"), "open"] = "NaN"
    frame.loc[(frame["symbol"] == "CCC") & (frame["date"] < "2012-06-15"), "symbol"] = " ccc "
    saturday = frame[(frame["symbol"] == "AAA") & (frame["date"] == "2012-06-15")].assign(date="2012-06-16")
    path = tmp_path / "bars.csv"
    pd.concat([frame, saturday]).to_csv(path, index=False)
    return path


def _run(instance, path: Path, run_config: dict | None = None, **resources):
    return materialize(
        [universe, market_bars, bars_valid, indicators],
        instance=instance,
        resources={**DEFAULT_RESOURCES, "market_data": ReplayMarketData(path=str(path)), **resources},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
        run_config=run_config,
    )


def _check(result):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "bars_valid")


def _bars_metadata(instance, result) -> dict:
    return {key: value.value for key, value in asset_metadata(instance, result, "market_bars").items()}


def _quarantine_events(instance) -> set[tuple[str, str, str]]:
    journal = Journal(default_journal_url(Path(instance.root_directory)))
    events = journal.read("risk_events", book=DEFAULT_RESOURCES["trading"].book)
    events = events[(events["source"] == "market_bars") & (events["action"] == "quarantined")]
    return set(zip(events["session"].dt.strftime("%Y-%m-%d"), events["symbol"], events["message"], strict=True))


def test_every_quarantine_is_journaled_and_listed_and_clean_bars_flow_on(instance, tmp_path):
    result = _run(instance, _write_bars(tmp_path))
    assert result.success

    range_sessions = [d.strftime("%Y-%m-%d") for d in calendar.sessions(START, END)]
    expected = {
        ("2012-06-12", "BBB", "nan"),
        ("2012-06-18", "AAA", "non_session (bar dated 2012-06-16)"),  # the first session after the Saturday
        ("2012-06-20", "DDD", "price_jump"),
        ("2012-06-21", "DDD", "after_price_jump"),
        ("2012-06-22", "DDD", "after_price_jump"),
        *((day, "EEE", "after_price_jump") for day in range_sessions),  # it jumped before the range
    }
    assert _quarantine_events(instance) == expected

    check = _check(result)
    assert check.passed  # two of ten symbols at most on any session: 20%, not above the limit
    assert check.metadata["quarantined_bars"].value == len(expected)
    listed = check.metadata["quarantined"].value
    assert "non_session (bar dated 2012-06-16)" in listed and "BBB" in listed and "price_jump" in listed
    metadata = _bars_metadata(instance, result)
    assert metadata["quarantined_bars"] == len(expected)
    assert "| AAA      | 2012-06-16 | non_session" in metadata["non_session_bars"]
    assert "DDD" in metadata["price_jumps"] and "2012-06-20" in metadata["price_jumps"]
    assert "EEE" in metadata["price_jumps"] and "2012-06-05" in metadata["price_jumps"]

    bars = result.asset_value("market_bars")
    assert set(bars["symbol"]) == set(SYMBOLS)  # ' ccc ' is CCC
    assert len(bars) == len(SYMBOLS) * len(range_sessions)  # the Saturday bar is in no session's table
    # Downstream only clean bars count: EEE (quarantined throughout) is absent, DDD stops before its split.
    clean = result.asset_value("indicators")
    assert "EEE" not in set(clean["symbol"])
    assert clean.loc[clean["symbol"] == "DDD", "date"].max() == pd.Timestamp("2012-06-19")
    assert set(clean["symbol"]) == set(SYMBOLS) - {"EEE"}


def test_a_failing_check_names_each_session_and_its_symbols_and_real_moves_can_be_accepted(instance, tmp_path):
    path = _write_bars(tmp_path)
    strict = TradingBook(max_quarantined_share=0.05)
    failed = _run(instance, path, trading=strict)
    check = _check(failed)
    assert not check.passed
    # A symbol set aside after its price jump is listed, but only bars bad in themselves make a bad session.
    assert check.description == "1 session(s) with more than 5% of the universe quarantined: 2012-06-12 (10%: BBB)"
    table = check.metadata["sessions_over_limit"].value
    assert "| 2012-06-12 | 10%     | BBB (nan)" in table
    assert "EEE" in check.metadata["quarantined"].value  # after_price_jump, listed all the same

    accepted = {"resources": {"bar_rules": {"config": {"accepted_moves": ["eee:2012-06-05", "DDD:2012-06-20"]}}}}
    passed = _run(instance, path, run_config=accepted, trading=TradingBook(max_quarantined_share=0.1))
    assert passed.success and _check(passed).passed
    assert {(s, m) for _, s, m in _quarantine_events(instance)} == {
        ("BBB", "nan"),
        ("AAA", "non_session (bar dated 2012-06-16)"),
    }
    assert "| True " in _bars_metadata(instance, passed)["price_jumps"]
    # The indicators' warm-up (EEE's move was before the range) is validated by the same rules: EEE, accepted,
    # has every indicator wherever a clean symbol with as many bars (FFF) has it.
    warm = passed.asset_value("indicators")
    present = {s: warm[warm["symbol"] == s].drop(columns=["date", "symbol"]).notna().to_numpy() for s in ("EEE", "FFF")}
    assert (present["EEE"] == present["FFF"]).all()

    # A higher limit lets EEE's tripling through; DDD's -99% is beyond any limit below 99.
    wider = {"resources": {"bar_rules": {"config": {"max_close_move": 2.5}}}}
    assert _run(instance, path, run_config=wider, trading=TradingBook(max_quarantined_share=0.1)).success
    assert {s for _, s, m in _quarantine_events(instance) if "jump" in m} == {"DDD"}


def test_a_range_without_bars_fails_at_once_naming_range_provider_and_symbols(instance, tmp_path):
    path = _write_bars(tmp_path)
    result = materialize(
        [universe, market_bars, bars_valid],
        instance=instance,
        resources={**DEFAULT_RESOURCES, "market_data": ReplayMarketData(path=str(path), symbols=["bbb", "AAA"])},
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": "2012-07-09", "dagster/asset_partition_range_end": "2012-07-13"},
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "market_bars"
    assert failure.event_specific_data.error.cause.message.strip() == (
        "ValueError: no bars for 2012-07-09..2012-07-13 from replay:bars.csv (symbols asked for: AAA, BBB)"
    )


@pytest.mark.parametrize("text", ["DDD 2012-06-20", "DDD:20-06-2012", "D D:2012-06-20"])
def test_a_malformed_accepted_move_is_refused_with_its_text(text):
    with pytest.raises(ValidationError, match=f"accepted move '{text}': expected SYMBOL:YYYY-MM-DD"):
        BarRules(accepted_moves=["AAPL:2000-09-29", text])
