"""Bad input as users bring it, through the CLI: a bar that is bad is quarantined and listed, a file that cannot be
read is one line naming it, and everything the CLI can check is checked before anything runs."""

import gzip
import json

import pandas as pd
import pytest
from dagster import DagsterInstance

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline_tests.faults.cli import Cli

RANGE = ["--start", "2012-01-03", "--end", "2012-03-30"]


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture
def bars() -> pd.DataFrame:
    """The bundled bars of 2011-2012, as a user's CSV would hold them, twice: each stock also under a second name,
    so that one bad bar is a tenth of the universe (under the 20% that would stop the session)."""
    frame = pd.read_parquet(SAMPLE_BARS)
    frame = frame[(frame["date"] >= "2011-01-01") & (frame["date"] <= "2012-12-31")]
    frame = frame.assign(symbol=frame["symbol"].astype(str))
    frame = pd.concat([frame, frame.assign(symbol=frame["symbol"] + "X")], ignore_index=True)
    return frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).reset_index(drop=True)


def metrics(done) -> dict:
    assert done.returncode == 0, done.stderr
    return {k: v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items() if k != "runtime_s"}


def quarantined(cli: Cli) -> pd.DataFrame:
    events = cli.journal().read("risk_events", book="backtest")
    return events[events["action"] == "quarantined"]


def test_an_unadjusted_split_quarantines_the_symbol_from_the_jump_instead_of_a_windfall(cli, tmp_path, bars):
    """IBM's prices multiplied by 100 from 2012-02-01 on (an unadjusted 1:100 change): the backtest must equal one
    on the same data without IBM's bars from that day, not report the 100x as a gain."""
    jump = bars["date"] >= "2012-02-01"
    split = bars.copy()
    ibm_after = (split["symbol"] == "IBM") & jump
    split.loc[ibm_after, ["open", "high", "low", "close"]] *= 100.0
    split.to_csv(tmp_path / "split.csv", index=False)
    bars[~ibm_after].to_csv(tmp_path / "without.csv", index=False)

    with_split = metrics(cli.run("backtest", *RANGE, "--data", str(tmp_path / "split.csv"), "--json"))
    without = metrics(
        Cli(tmp_path / "other").run("backtest", *RANGE, "--data", str(tmp_path / "without.csv"), "--json")
    )
    assert with_split == without and with_split["total_return"] < 0.5
    listed = quarantined(cli)
    assert set(listed["symbol"]) == {"IBM"} and listed["message"].str.contains("price_jump").any()


def test_missing_value_spellings_and_weekend_bars_are_quarantined_and_listed(cli, tmp_path, bars):
    text = bars.astype(str)
    days = ["2012-02-14", "2012-02-15", "2012-02-16", "2012-02-17"]
    for day, spelling in zip(days, ["nan", "NaN", "NA", "null"], strict=True):
        text.loc[(text["date"] == day) & (text["symbol"] == "IBM"), "close"] = spelling
    weekend = text.iloc[[0]].assign(date="2012-02-18")  # a Saturday
    pd.concat([text, weekend]).to_csv(tmp_path / "bars.csv", index=False)
    done = cli.run("backtest", *RANGE, "--data", str(tmp_path / "bars.csv"), "--json")
    assert done.returncode == 0, done.stderr
    listed = quarantined(cli)
    missing = listed[listed["session"].isin(pd.to_datetime(days))]
    assert set(missing["symbol"]) == {"IBM"} and len(missing) == 4 and missing["message"].str.contains("nan").all()
    assert listed["message"].str.contains("bar dated 2012-02-18").any()


def test_symbols_with_spaces_are_the_tickers_they_name(cli, tmp_path, bars):
    bars.assign(symbol=bars["symbol"].map(lambda s: f" {s.lower()} ")).to_csv(tmp_path / "bars.csv", index=False)
    done = cli.run("backtest", *RANGE, "--data", str(tmp_path / "bars.csv"), "--symbols", "ibm,MSFT", "--json")
    assert done.returncode == 0, done.stderr
    assert set(cli.journal().read("fills", book="backtest")["symbol"]) <= {"IBM", "MSFT"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin.csv", "symbol,date,open,high,low,close,volume\nAAPL,2012-01-03,1,2,0.5,1.5,10\nAPPLé\xe9,2012-01-03,1,2,0.5,1.5,10\n",
         "line 3"),
        ("cut.csv.gz", None, "Compressed file ended before the end-of-stream marker"),
        ("text.csv", "symbol,date,open,high,low,close,volume\nAAPL,2012-01-03,1,2,0.5,12.5x,10\n",
         "line 2, column 'close': not a number: '12.5x'"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_is_one_line_naming_it(cli, tmp_path, bars, name, content, message):
    path = tmp_path / name
    if content is None:
        whole = gzip.compress(bars.to_csv(index=False).encode())
        path.write_bytes(whole[: len(whole) // 2])
    else:
        path.write_bytes(content.encode("latin-1"))
    done = cli.run("backtest", *RANGE, "--data", str(path))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"trading-pipeline: --data: {path}") and message in line and "Traceback" not in done.stderr


def test_everything_checkable_is_checked_before_anything_runs_one_line_each(cli, tmp_path):
    in_the_way = tmp_path / "report.txt"
    in_the_way.write_text("not a folder")
    done = cli.run(
        "backtest", "--start", "1999-12-01", "--end", "2000-01-31", "--symbols", "AAPL,NOPE", "--out",
        str(in_the_way), "--plugin", "no_such_module:strategy", "--strategy", "Imaginary",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "trading-pipeline: --start 1999-12-01: the session partitions start at 2000-01-03; data before it cannot be "
        "backtested",
        "trading-pipeline: --symbols: NOPE not in daily_5stocks.parquet (it has 5 symbols)",
        f"trading-pipeline: --out {in_the_way}: a file is in the way of the report folder",
        "trading-pipeline: --plugin: cannot load strategy 'no_such_module:strategy': No module named 'no_such_module'",
    ]
    instance = DagsterInstance.from_config(str(cli.home))
    assert instance.get_runs() == []  # nothing ran
    instance.dispose()
    assert "Traceback" not in done.stderr
    debug = cli.run("--debug", "backtest", "--start", "1999-12-01", "--end", "2000-01-31")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_range_without_bars_fails_in_its_first_step_naming_the_range(cli):
    done = cli.run("backtest", *RANGE, "--symbols", "FB")  # listed from 2012-05-18 on
    assert done.returncode == 1
    assert "failed: market_bars: ValueError: no bars for 2012-01-03..2012-03-30 from replay:daily_5stocks.parquet" in (
        done.stderr
    )
    assert "symbols asked for: FB" in done.stderr
