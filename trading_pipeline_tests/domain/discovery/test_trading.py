import numpy as np
import pandas as pd

from trading_pipeline.domain.discovery.trading import OFF_WATCHLIST, buys_on_the_watchlist


def _signals() -> pd.DataFrame:
    day = pd.Timestamp("2021-06-01")
    return pd.DataFrame(
        {
            "date": [day, day, day, day + pd.Timedelta(days=1)],
            "symbol": ["AAA", "BBB", "CCC", "AAA"],
            "action": ["BUY", "BUY", "SELL", "BUY"],
            "confidence": [0.8, 0.6, 0.7, 0.9],
            "stop": [9.0, 19.0, 31.0, 9.5],
            "target": [12.0, 23.0, 27.0, 12.5],
            "reason": ["a", "b", "c", "d"],
        }
    )


def test_only_buys_off_the_sessions_watchlist_become_holds_and_exits_always_pass():
    watch = pd.DataFrame({"date": [pd.Timestamp("2021-06-01")], "symbol": ["AAA"]})
    out = buys_on_the_watchlist(_signals(), watch)
    assert out["action"].tolist() == ["BUY", "HOLD", "SELL", "HOLD"]
    assert out["confidence"].tolist() == [0.8, 0.0, 0.7, 0.0]
    assert np.isnan(out.loc[1, "stop"]) and np.isnan(out.loc[3, "target"])
    assert out.loc[1, "reason"] == OFF_WATCHLIST + "b" and out.loc[0, "reason"] == "a"
