import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.data import SAMPLE_BARS, SAMPLE_SYMBOLS
from trading_pipeline.data.bundle import build
from trading_pipeline.domain.bars import (
    BarsFileError,
    adjust_with_adj_close,
    load_bars_file,
    quarantine_share,
    validate_bars,
)
from trading_pipeline.domain.schema import BAR_COLUMNS, VALIDATED_BAR_COLUMNS

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SP500 = SHARED / "daily_sp500_2013-2018.csv.gz"
WIKI = SHARED / "daily_wiki_5stocks_2000-2013.csv.gz"
# Outside CI a clone without ../shared skips these; in CI (CI=true) a missing ../shared fails them.
needs_shared = pytest.mark.skipif(
    not (SP500.exists() and WIKI.exists()) and not os.environ.get("CI"), reason="../shared/data not available"
)


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def bars(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=BAR_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame.astype(dict.fromkeys(BAR_COLUMNS[2:], "float64"))


GOOD = ("2012-07-05", "AAA", 10.0, 11.0, 9.0, 10.5, 100.0)


# --- loading ---------------------------------------------------------------------------------------


def test_headers_are_case_insensitive_stripped_and_aliased(tmp_path):
    path = write(
        tmp_path,
        " Timestamp ,OPEN,High, low ,Close,VOLUME,Ticker,extra\n"
        "2012-07-06,1,2,0.5,1.5,10,bbb,x\n"
        "2012-07-05,1,2,0.5,1.5,10,aaa,y\n"
        "2012-07-03,3,4,2.5,3.5,30,bbb,z\n",
    )
    got = load_bars_file(path)
    assert list(got.columns) == BAR_COLUMNS
    assert list(got["symbol"]) == ["AAA", "BBB", "BBB"]
    assert list(got["date"]) == list(pd.to_datetime(["2012-07-05", "2012-07-03", "2012-07-06"]))
    assert got["date"].dtype == "datetime64[ns]"
    assert (got[["open", "high", "low", "close", "volume"]].dtypes == "float64").all()
    assert got.index.equals(pd.RangeIndex(3))


def test_name_alias_as_in_the_sp500_file(tmp_path):
    path = write(tmp_path, "date,open,high,low,close,volume,Name\n2013-02-08,15.07,15.12,14.63,14.75,8407500,AAL\n")
    assert load_bars_file(path).loc[0, "symbol"] == "AAL"


def test_canonical_symbol_column_wins_over_alias(tmp_path):
    path = write(tmp_path, "symbol,name,date,open,high,low,close,volume\nAAA,Company A,2012-07-05,1,2,0.5,1.5,10\n")
    assert load_bars_file(path).loc[0, "symbol"] == "AAA"


def test_ambiguous_columns_are_an_error(tmp_path):
    path = write(tmp_path, "symbol,date,open,high,low,close,Close,volume\nAAA,2012-07-05,1,2,0.5,1.5,1.5,10\n")
    with pytest.raises(BarsFileError, match="ambiguous"):
        load_bars_file(path)


@pytest.mark.parametrize("name", ["bars.parquet", "bars.csv.gz", "bars.csv"])
def test_round_trip(tmp_path, name):
    frame = bars([GOOD, ("2012-07-06", "AAA", 10.5, 12.0, np.nan, 11.0, 200.0), ("2012-07-05", "BBB", 1, 2, 0.5, 1, 5)])
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_bars_file(path), frame, check_dtype=False)
    assert load_bars_file(path)["date"].dtype == "datetime64[ns]"


def test_missing_column_error_names_file_and_columns(tmp_path):
    path = write(tmp_path, "date,symbol,open,high,close\n2012-07-05,AAA,1,2,1.5\n")
    with pytest.raises(BarsFileError) as err:
        load_bars_file(path)
    assert str(path) in str(err.value)
    assert "['low', 'volume']" in str(err.value)


def test_unparsable_number_names_file_line_column_and_text(tmp_path):
    path = write(
        tmp_path,
        "date,symbol,open,high,low,close,volume\n"
        "2012-07-05,AAA,1,2,0.5,1.5,10\n"
        "2012-07-06,AAA,1,2,0.5,1.5,10\n"
        "2012-07-09,AAA,1,2,0.5,1.5x,10\n"
        "2012-07-10,AAA,1,2,0.5,oops,10\n",
    )
    with pytest.raises(BarsFileError) as err:
        load_bars_file(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert "line 4" in message and "'close'" in message and "'1.5x'" in message


def test_only_empty_fields_are_missing(tmp_path):
    path = write(tmp_path, "date,symbol,open,high,low,close,volume\n2012-07-05,AAA,NA,2,0.5,1.5,10\n")
    with pytest.raises(BarsFileError, match="line 2, column 'open': not a number: 'NA'"):
        load_bars_file(path)


def test_unparsable_and_missing_dates(tmp_path):
    header = "date,symbol,open,high,low,close,volume\n"
    bad = write(tmp_path, header + "2012-07-05,A,1,2,0.5,1.5,1\n2012-13-45,A,1,2,0.5,1.5,1\n")
    with pytest.raises(BarsFileError, match="line 3, column 'date': not a date: '2012-13-45'"):
        load_bars_file(bad)
    empty = write(tmp_path, header + ",A,1,2,0.5,1.5,1\n", "empty_date.csv")
    with pytest.raises(BarsFileError, match="line 2, column 'date': missing date: empty field"):
        load_bars_file(empty)
    intraday = write(tmp_path, header.replace("date", "timestamp") + "2012-07-05 10:30,A,1,2,0.5,1.5,1\n", "i.csv")
    with pytest.raises(BarsFileError, match="time of day"):
        load_bars_file(intraday)


def test_missing_symbol_is_an_error(tmp_path):
    path = write(tmp_path, "date,symbol,open,high,low,close,volume\n2012-07-05,,1,2,0.5,1.5,1\n")
    with pytest.raises(BarsFileError, match="line 2, column 'symbol': missing symbol"):
        load_bars_file(path)


def test_empty_field_becomes_nan_and_is_quarantined(tmp_path):
    rows = "2012-07-05,AAA,,2,0.5,1.5,10\n2012-07-06,AAA,1,2,0.5,1.5,10\n"
    path = write(tmp_path, "date,symbol,open,high,low,close,volume\n" + rows)
    loaded = load_bars_file(path)
    assert np.isnan(loaded.loc[0, "open"])
    validated = validate_bars(loaded)
    assert list(validated["quarantined"]) == [True, False]
    assert list(validated["quarantine_reason"]) == ["nan", ""]


def test_empty_files_are_errors(tmp_path):
    with pytest.raises(BarsFileError, match="no data rows"):
        load_bars_file(write(tmp_path, "date,symbol,open,high,low,close,volume\n"))
    with pytest.raises(BarsFileError, match="empty file"):
        load_bars_file(write(tmp_path, "", "zero.csv"))
    with pytest.raises(BarsFileError, match="no data rows"):
        path = tmp_path / "empty.parquet"
        bars([]).to_parquet(path)
        load_bars_file(path)


def test_unsupported_file_type(tmp_path):
    with pytest.raises(BarsFileError, match="unsupported file type"):
        load_bars_file(write(tmp_path, "x", "bars.json"))


def test_parquet_error_points_at_the_row(tmp_path):
    path = tmp_path / "text.parquet"
    text_prices = {"date": ["2012-07-05", "2012-07-06"], "symbol": ["A", "A"], "open": ["1", "x"]}
    pd.DataFrame({**text_prices, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 1.0}).to_parquet(path)
    with pytest.raises(BarsFileError, match=r"text.parquet: row 2, column 'open': not a number: 'x'"):
        load_bars_file(path)


# --- validation ------------------------------------------------------------------------------------


def test_every_reason_on_a_hand_built_frame():
    frame = bars(
        [
            GOOD,
            ("2012-07-05", "NAN", np.nan, 11.0, 9.0, 10.5, 100.0),
            ("2012-07-05", "INF", 10.0, np.inf, 9.0, 10.5, 100.0),
            ("2012-07-05", "ZERO", 0.0, 11.0, 0.0, 10.5, 100.0),
            ("2012-07-05", "HIGH", 10.0, 10.2, 9.0, 10.5, 100.0),
            ("2012-07-05", "LOW", 10.0, 11.0, 10.2, 10.5, 100.0),
            ("2012-07-05", "INVERTED", 10.0, 9.0, 11.0, 10.0, 100.0),
            ("2012-07-05", "NEGVOL", 10.0, 11.0, 9.0, 10.5, -1.0),
            ("2012-07-04", "HOLIDAY", 10.0, 11.0, 9.0, 10.5, 100.0),
            ("2012-07-07", "SATURDAY", 10.0, 11.0, 9.0, 10.5, 100.0),
            ("2012-07-05", "ZEROVOL", 10.0, 11.0, 9.0, 10.5, 0.0),
        ]
    )
    got = validate_bars(frame).set_index("symbol")["quarantine_reason"].to_dict()
    assert got == {
        "AAA": "",
        "NAN": "nan",
        "INF": "nan",
        "ZERO": "non_positive_price",
        "HIGH": "high_below_open_close",
        "LOW": "low_above_open_close",
        "INVERTED": "high_below_open_close; low_above_open_close; high_below_low",
        "NEGVOL": "negative_volume",
        "HOLIDAY": "non_session",
        "SATURDAY": "non_session",
        "ZEROVOL": "",
    }


def test_output_contract_and_input_untouched():
    frame = bars([("2012-07-06", "BBB", 1, 2, 0.5, 1, 5), GOOD, ("2012-07-04", "AAA", 1, 0.5, 2, 1, 5)])
    before = frame.copy()
    got = validate_bars(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(got.columns) == VALIDATED_BAR_COLUMNS
    assert got.index.equals(pd.RangeIndex(3))
    keys = list(zip(got["symbol"], got["date"].dt.strftime("%m-%d"), strict=True))
    assert keys == [("AAA", "07-04"), ("AAA", "07-05"), ("BBB", "07-06")]
    assert got["quarantined"].dtype == bool
    # Nothing is repaired: the inverted, holiday bar keeps its values.
    assert got.loc[0, ["high", "low"]].tolist() == [0.5, 2.0]
    assert got.loc[0, "quarantine_reason"] == "high_below_open_close; low_above_open_close; high_below_low; non_session"


def test_duplicates_are_kept_once_and_flagged():
    first = ("2012-07-05", "AAA", 10.0, 11.0, 9.0, 10.5, 100.0)
    frame = bars(
        [
            first,
            ("2012-07-06", "AAA", 1, 2, 0.5, 1, 5),
            ("2012-07-05", "AAA", 20.0, 21.0, 19.0, 20.5, 1.0),
            ("2012-07-05", "AAA", 30.0, 31.0, 29.0, 30.5, 1.0),
        ]
    )
    got = validate_bars(frame)
    assert len(got) == 2
    assert not got.duplicated(["date", "symbol"]).any()
    row = got.iloc[0]
    assert row[["open", "close"]].tolist() == [10.0, 10.5]
    assert row["quarantined"] and row["quarantine_reason"] == "duplicate"
    assert got.iloc[1]["quarantine_reason"] == ""


def test_high_below_low_is_flagged():
    got = validate_bars(bars([("2012-07-05", "AAA", 10.0, 9.5, 9.8, 9.6, 100.0)]))
    assert got.loc[0, "quarantined"]
    assert "high_below_low" in got.loc[0, "quarantine_reason"].split("; ")


def test_validation_rejects_a_frame_without_the_contract():
    with pytest.raises(ValueError, match="lack column"):
        validate_bars(bars([GOOD]).drop(columns="volume"))
    with pytest.raises(ValueError, match="tz-naive datetime64"):
        validate_bars(bars([GOOD]).assign(date="2012-07-05"))


def test_quarantine_share():
    frame = bars(
        [
            GOOD,
            ("2012-07-05", "BBB", np.nan, 2, 0.5, 1, 5),
            ("2012-07-06", "AAA", 1, 2, 0.5, 1, 5),
            ("2012-07-06", "BBB", 1, 2, 0.5, 1, 5),
        ]
    )
    validated = validate_bars(frame)
    share = quarantine_share(validated)
    assert share.to_dict() == {pd.Timestamp("2012-07-05"): 0.5, pd.Timestamp("2012-07-06"): 0.0}
    assert quarantine_share(validated, universe_size=4).loc["2012-07-05"] == 0.25
    with pytest.raises(ValueError, match="positive"):
        quarantine_share(validated, universe_size=0)


def test_adjust_with_adj_close():
    raw = pd.DataFrame(
        {
            "Ticker": ["xyz", "xyz"],
            "Date": ["2012-07-06", "2012-07-05"],
            "Open": [100.0, 90.0],
            "High": [110.0, 95.0],
            "Low": [95.0, 85.0],
            "Close": [100.0, 90.0],
            "Volume": [1000, 500],
            "Adj Close": [50.0, 90.0],
        }
    )
    got = adjust_with_adj_close(raw)
    assert list(got.columns) == BAR_COLUMNS
    assert list(got["symbol"]) == ["XYZ", "XYZ"]
    assert got.iloc[1][["open", "high", "low", "close", "volume"]].tolist() == [50.0, 55.0, 47.5, 50.0, 2000.0]
    assert got.iloc[0][["open", "volume"]].tolist() == [90.0, 500.0]
    with pytest.raises(ValueError, match="adj close"):
        adjust_with_adj_close(raw.drop(columns="Adj Close"))


# --- real data -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    validate_bars(bars([GOOD]))  # build the cached calendar outside the timing
    start = time.perf_counter()
    loaded = load_bars_file(SP500)
    loaded_at = time.perf_counter()
    validated = validate_bars(loaded)
    end = time.perf_counter()
    print(f"\nS&P 500 file: {len(loaded)} rows, load {loaded_at - start:.3f}s + validate {end - loaded_at:.3f}s")
    return validated


@needs_shared
def test_sp500_quarantines_the_known_glitches(sp500):
    assert len(sp500) == 619_040
    assert sp500["symbol"].nunique() == 505
    bad = sp500[sp500["quarantined"]]
    assert (bad["quarantine_reason"] == "nan").sum() == 11
    relation = bad["quarantine_reason"].str.contains("high_below_open_close|low_above_open_close")
    assert relation.sum() == 12
    assert len(bad) == 23
    reason = bad.set_index(["symbol", bad["date"].dt.strftime("%Y-%m-%d")])["quarantine_reason"]
    assert reason["AOS", "2014-05-19"] == "high_below_open_close; high_below_low"
    assert reason["CHD", "2014-05-19"] == "low_above_open_close"
    assert reason["REGN", "2015-06-09"] == "nan"
    assert reason["BHF", "2017-07-26"] == "nan"


@needs_shared
def test_bundle_command_reproduces_the_sample(tmp_path):
    rebuilt = tmp_path / "sample.parquet"
    build(WIKI, rebuilt)
    pd.testing.assert_frame_equal(load_bars_file(rebuilt), load_bars_file(SAMPLE_BARS))


def test_sample_is_five_clean_adjusted_symbols():
    sample = load_bars_file(SAMPLE_BARS)
    assert len(sample) == 12_154
    assert tuple(sorted(sample["symbol"].unique())) == SAMPLE_SYMBOLS
    assert not validate_bars(sample)["quarantined"].any()
    close = sample.set_index(["symbol", "date"])["close"]
    day_return = close / close.groupby(level="symbol").shift() - 1
    # The 2:1 splits leave no ~-50% gap once adjusted...
    for symbol, day in [("AAPL", "2000-06-21"), ("AAPL", "2005-02-28"), ("MSFT", "2003-02-18")]:
        assert abs(day_return[symbol, pd.Timestamp(day)]) < 0.15
    # ...while AAPL's real -52% day on 2000-09-29 is kept.
    assert day_return["AAPL", pd.Timestamp("2000-09-29")] < -0.45
