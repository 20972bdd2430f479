"""The rule-based selector: the regime policy, or pinned to one strategy of the closed set."""

import pandas as pd
import pytest

from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.domain.strategies import REGISTRY


def _context() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2012-01-03", "2012-01-03"]),
            "symbol": ["AAPL", "IBM"],
            "trend_strength": [30.0, 10.0],
            "trend_direction": [1, -1],
            "volatility_ratio": [1.0, 1.0],
            "volume_ratio": [1.0, 1.0],
            "momentum": [0.1, -0.1],
            "regime": ["trending_up", "ranging"],
        }
    )


def test_pinned_selector_chooses_its_strategy_everywhere():
    selection = RuleBasedSelector(pin="Breakout").select(_context(), sorted(REGISTRY))
    assert (selection["strategy"] == "Breakout").all() and len(selection) == 2
    assert (selection["reason"] == "pinned to Breakout").all()


def test_unpinned_selector_follows_the_policy():
    """Trending up with roc20 +10% in its direction → DualMomentum; ranging ADX 10 → MovingAverageEnvelope."""
    selection = RuleBasedSelector().select(_context(), sorted(REGISTRY))
    assert selection["strategy"].tolist() == ["DualMomentum", "MovingAverageEnvelope"]
    assert (selection["outcome"] == "rules").all()


def test_pinning_an_unregistered_strategy_is_refused():
    with pytest.raises(ValueError, match="pinned strategy 'BuyEverything' is not registered"):
        RuleBasedSelector(pin="BuyEverything").select(_context(), sorted(REGISTRY))
