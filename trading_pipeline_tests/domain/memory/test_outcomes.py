"""setup_outcomes: forward returns and the session they become known on, and trades matched to the decision that
opened them, all checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.outcomes import OUTCOME_COLUMNS, setup_outcomes

D = pd.Timestamp


def _closes() -> pd.DataFrame:
    # BBB misses 2020-01-03 (a quarantined bar is not a bar): its horizon counts its own bars.
    return pd.DataFrame(
        {
            "date": [D("2020-01-0" + d) for d in "236789"] + [D("2020-01-0" + d) for d in "26789"],
            "symbol": ["AAA"] * 6 + ["BBB"] * 5,
            "close": [10.0, 11.0, 12.0, 9.0, 10.0, 15.0, 20.0, 22.0, 18.0, 24.0, 30.0],
        }
    )


def test_forward_returns_are_known_horizon_bars_later() -> None:
    out = setup_outcomes(_closes(), horizon=2)
    assert list(out.columns) == OUTCOME_COLUMNS
    aaa, bbb = out[out["symbol"] == "AAA"], out[out["symbol"] == "BBB"]
    np.testing.assert_allclose(aaa["forward_return"], [12 / 10 - 1, 9 / 11 - 1, 10 / 12 - 1, 15 / 9 - 1])
    assert aaa["visible_on"].tolist() == [D("2020-01-06"), D("2020-01-07"), D("2020-01-08"), D("2020-01-09")]
    np.testing.assert_allclose(bbb["forward_return"], [18 / 20 - 1, 24 / 22 - 1, 30 / 18 - 1])
    assert bbb["visible_on"].tolist() == [D("2020-01-07"), D("2020-01-08"), D("2020-01-09")]
    # The last two bars of each symbol have no outcome yet.
    assert D("2020-01-08") not in set(out["date"]) and D("2020-01-09") not in set(out["date"])
    assert out["trade_return"].isna().all() and out["trade_visible_on"].isna().all()


def test_trades_attach_to_the_decision_before_entry_and_are_known_at_their_exit() -> None:
    trips = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA", "BBB"],
            # Two lots of one AAA entry (a partial close split them), and one BBB trade entered on 01-07.
            "entry_session": [D("2020-01-06"), D("2020-01-06"), D("2020-01-07")],
            "exit_session": [D("2020-01-08"), D("2020-01-09"), D("2020-01-08")],
            "qty": [10.0, 5.0, 2.0],
            "entry_price": [12.0, 12.0, 22.0],
            "pnl": [-20.0, 14.0, -8.0],
        }
    )
    out = setup_outcomes(_closes(), horizon=2, round_trips=trips).set_index(["symbol", "date"])
    # The AAA decision was taken on 01-03 (its last bar before the 01-06 entry); BBB's on 01-06 (no bar on 01-03).
    assert out.loc[("AAA", D("2020-01-03")), "trade_return"] == pytest.approx((-20 + 14) / (15 * 12))
    assert out.loc[("AAA", D("2020-01-03")), "trade_visible_on"] == D("2020-01-09")
    assert out.loc[("BBB", D("2020-01-06")), "trade_return"] == pytest.approx(-8 / 44)
    assert out.loc[("BBB", D("2020-01-06")), "trade_visible_on"] == D("2020-01-08")
    assert out["trade_return"].notna().sum() == 2


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        setup_outcomes(_closes(), horizon=0)
    with pytest.raises(ValueError, match="duplicate"):
        setup_outcomes(pd.concat([_closes(), _closes().iloc[:1]]))
    with pytest.raises(ValueError, match="finite and positive"):
        setup_outcomes(_closes().assign(close=lambda f: f["close"].where(f.index != 3, np.nan)))
    orphan = pd.DataFrame(
        {"symbol": ["AAA"], "entry_session": [D("2020-01-02")], "exit_session": [D("2020-01-03")]}
        | {"qty": [1.0], "entry_price": [10.0], "pnl": [1.0]}
    )
    with pytest.raises(ValueError, match="no session before their entry"):
        setup_outcomes(_closes(), round_trips=orphan)
    with pytest.raises(ValueError, match="pnl"):
        setup_outcomes(_closes(), round_trips=orphan.drop(columns="pnl"))
