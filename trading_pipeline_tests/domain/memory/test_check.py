"""check_memory: flagged BUYs scaled with the figures in the reason, everything else untouched, never raised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_pipeline.domain.memory.check import MemoryCheck, check_memory, memory_frame
from trading_pipeline.domain.memory.summary import OutcomeFigures, SetupMemory

DAY = pd.Timestamp("2021-03-01")


def _signals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": DAY,
            "symbol": ["LOSE", "WIN", "FEW", "NONE", "SELL", "HOLD"],
            "action": ["BUY", "BUY", "BUY", "BUY", "SELL", "HOLD"],
            "confidence": [0.8, 0.8, 0.8, 0.8, 0.9, 0.0],
            "validation": ["rolling Sharpe 0.5 < 1.5", "", "", "", "", ""],
        }
    )


def _memory() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": DAY,
            "symbol": ["LOSE", "WIN", "FEW", "SELL", "HOLD"],
            "count": [20, 20, 9, 20, 20],
            "mean": [-0.0123, 0.004, -0.05, -0.03, -0.03],
            "median": [-0.01, 0.002, -0.05, -0.03, -0.03],
            "hit_rate": [0.3, 0.55, 0.0, 0.1, 0.1],
        }
    )


def test_a_buy_whose_neighbours_mostly_lost_is_scaled_with_its_figures() -> None:
    out = check_memory(_signals(), _memory()).set_index("symbol")
    assert out.loc["LOSE", "confidence"] == pytest.approx(0.8 * 0.5)
    assert out.loc["LOSE", "validation"] == (
        "rolling Sharpe 0.5 < 1.5; memory: 14 of 20 similar past setups lost (70% > 60%; mean -1.23%)"
    )
    assert out.loc["WIN", "confidence"] == 0.8
    assert out.loc["WIN", "validation"] == "memory: 9 of 20 similar past setups lost (45%; mean +0.40%)"
    # Too few neighbours or no memory at all: reported, not penalised.
    assert out.loc["FEW", "confidence"] == 0.8
    assert out.loc["FEW", "validation"] == "memory not judged (9 < 10 similar past setups)"
    assert out.loc["NONE", "validation"] == "memory not judged (0 < 10 similar past setups)"
    # A SELL reduces risk and a HOLD trades nothing: neither is touched, whatever the memory says.
    assert out.loc[["SELL", "HOLD"], ["confidence", "validation"]].to_dict("records") == [
        {"confidence": 0.9, "validation": ""},
        {"confidence": 0.0, "validation": ""},
    ]


def test_the_check_never_raises_a_confidence() -> None:
    rng = np.random.default_rng(4)
    n = 500
    signals = pd.DataFrame(
        {
            "date": DAY,
            "symbol": [f"S{i}" for i in range(n)],
            "action": rng.choice(["BUY", "SELL", "HOLD"], n),
            "confidence": rng.uniform(0.3, 1.0, n),
        }
    )
    memory = signals[["date", "symbol"]].assign(
        count=rng.integers(0, 30, n), mean=rng.normal(0, 0.02, n), median=0.0, hit_rate=rng.uniform(0, 1, n)
    )
    check = MemoryCheck(max_loss_rate=0.5, min_neighbours=5, scale=0.7)
    out = check_memory(signals, memory, check)
    assert (out["confidence"] <= signals["confidence"]).all()
    lowered = out["confidence"] < signals["confidence"]
    expected = (signals["action"] == "BUY") & (memory["count"] >= 5) & (1 - memory["hit_rate"] > 0.5)
    assert lowered.equals(expected) and lowered.any()


def test_memory_frame_reads_similar_setups_answers() -> None:
    figures = OutcomeFigures(20, -0.01, -0.02, 0.3)
    answer = SetupMemory("LOSE", DAY, 20, 10, figures, figures, OutcomeFigures.of(np.array([])), 1.5)
    out = check_memory(_signals().iloc[:1], memory_frame([answer]))
    assert out["confidence"].item() == pytest.approx(0.4)


def test_bad_settings_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="only lower"):
        MemoryCheck(scale=1.2)
    with pytest.raises(ValueError, match="max_loss_rate"):
        MemoryCheck(max_loss_rate=1.0)
    with pytest.raises(ValueError, match="min_neighbours"):
        MemoryCheck(min_neighbours=0)
    with pytest.raises(ValueError, match="duplicate"):
        check_memory(_signals(), pd.concat([_memory(), _memory().iloc[:1]]))
    with pytest.raises(ValueError, match="hit_rate"):
        check_memory(_signals(), _memory().drop(columns="hit_rate"))
