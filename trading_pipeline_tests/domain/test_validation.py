"""Quant validation only ever lowers confidence, and says why."""

import pandas as pd

from trading_pipeline.domain.validation import ValidationThresholds, validate_signals


def test_spike_and_thin_volume_lower_confidence_with_reasons_and_never_raise_it():
    key = {"date": pd.to_datetime(["2012-01-03"] * 3), "symbol": ["A", "B", "C"]}
    signals = pd.DataFrame({**key, "strategy": "MeanReversion", "action": "BUY", "confidence": [0.8, 0.8, 0.8],
                            "stop": 9.0, "target": 12.0, "reason": "rsi"})
    context = pd.DataFrame({**key, "volatility_ratio": [1.0, 2.0, 2.0], "volume_ratio": [1.0, 1.0, 0.2]})
    out = validate_signals(signals, context, ValidationThresholds())
    assert out["confidence"].tolist() == [0.8, 0.4, 0.8 * 0.5 * 0.75]
    assert (out["confidence"] <= out["raw_confidence"]).all()
    assert out["validation"].tolist() == ["", "volatility spike (ratio 2.0)", "volatility spike (ratio 2.0); thin volume (ratio 0.2)"]
