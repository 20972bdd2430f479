"""The watchlist as the trading cycle's universe: a BUY needs its symbol on the session's watchlist.

Only entries are restricted: a SELL (an exit) of a symbol that left the watchlist still passes, so a position is
never trapped because discovery stopped suggesting its symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import Action

OFF_WATCHLIST = "not on the session's watchlist (discovery): "


def buys_on_the_watchlist(signals: pd.DataFrame, watchlist: pd.DataFrame) -> pd.DataFrame:
    """``signals`` with every BUY whose (date, symbol) is not on ``watchlist`` turned into a reasoned HOLD."""
    listed = pd.MultiIndex.from_frame(watchlist[["date", "symbol"]])
    on_list = pd.MultiIndex.from_frame(signals[["date", "symbol"]]).isin(listed)
    refused = (signals["action"] == Action.BUY.value).to_numpy() & ~on_list
    if not refused.any():
        return signals
    out = signals.copy()
    out.loc[refused, "action"] = Action.HOLD.value
    out.loc[refused, "confidence"] = 0.0
    out.loc[refused, ["stop", "target"]] = np.nan
    out.loc[refused, "reason"] = OFF_WATCHLIST + out.loc[refused, "reason"].astype(str)
    return out
