"""The closed registry of deterministic strategies and the per-row dispatch to the selected one.

Adding a built-in strategy is one module (a ``Strategy`` subclass) and one entry in ``REGISTRY``; a
user's strategy is registered by configuration instead (``plugins.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import KEY, SIGNAL_COLUMNS, Action
from trading_pipeline.domain.sectors import load_sector_map
from trading_pipeline.domain.strategies.base import SIGNAL_OUTPUT_COLUMNS, Strategy, atr_signals
from trading_pipeline.domain.strategies.bollinger_bands import BollingerBands
from trading_pipeline.domain.strategies.breakout import Breakout
from trading_pipeline.domain.strategies.dual_momentum import DualMomentum
from trading_pipeline.domain.strategies.mean_reversion import MeanReversion
from trading_pipeline.domain.strategies.momentum_rotation import MomentumRotation
from trading_pipeline.domain.strategies.plugins import strategy
from trading_pipeline.domain.strategies.moving_average_envelope import MovingAverageEnvelope
from trading_pipeline.domain.strategies.relative_strength import RelativeStrength
from trading_pipeline.domain.strategies.sector_rotation import SectorRotation
from trading_pipeline.domain.strategies.trend_following import TrendFollowing
from trading_pipeline.domain.strategies.volatility_breakout import VolatilityBreakout

REGISTRY: dict[str, Strategy] = {
    str(strategy.name): strategy
    for strategy in (
        TrendFollowing(),
        MeanReversion(),
        MomentumRotation(),
        Breakout(),
        VolatilityBreakout(),
        RelativeStrength(),
        SectorRotation(load_sector_map()),
        DualMomentum(),
        MovingAverageEnvelope(),
        BollingerBands(),
    )
}

NO_SELECTION_REASON = "no strategy selected"

__all__ = [
    "REGISTRY", "NO_SELECTION_REASON", "Strategy", "atr_signals", "generate_signals", "generate_signals_and_actions",
    "strategy",
]


def generate_signals(
    panel: pd.DataFrame, selection: pd.DataFrame, registry: Mapping[str, Strategy] = REGISTRY
) -> pd.DataFrame:
    """One signal (``SIGNAL_COLUMNS``) per panel row, in panel order, from the strategy selected for it."""
    return generate_signals_and_actions(panel, selection, registry)[0]


def generate_signals_and_actions(
    panel: pd.DataFrame, selection: pd.DataFrame, registry: Mapping[str, Strategy] = REGISTRY
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The signals, and each selected strategy's action on EVERY panel row (its track record's input).

    Each selected strategy runs once over the whole panel and its rows are then picked where it was
    selected. A panel row without a selection is a HOLD with ``NO_SELECTION_REASON`` and a missing
    ``strategy``. Raises ValueError if the selection names a strategy outside ``registry`` or selects
    twice for the same (date, symbol).
    """
    unknown = sorted(set(selection["strategy"].dropna().unique()) - set(registry))
    if unknown:
        raise ValueError(f"selection names strategies not in the registry: {unknown}")
    if selection.duplicated(KEY).any():
        raise ValueError("selection has more than one strategy for some (date, symbol)")

    chosen = panel[KEY].merge(selection[[*KEY, "strategy"]], on=KEY, how="left")["strategy"]
    columns: dict[str, np.ndarray] = {
        "action": np.full(len(panel), Action.HOLD.value, dtype=object),
        "confidence": np.zeros(len(panel)),
        "stop": np.full(len(panel), np.nan),
        "target": np.full(len(panel), np.nan),
        "reason": np.full(len(panel), NO_SELECTION_REASON, dtype=object),
    }
    actions: dict[str, pd.Series] = {}
    for name in chosen.dropna().unique():
        rows = (chosen == name).to_numpy()
        signals = registry[name].generate(panel)
        actions[name] = signals["action"]
        for column in SIGNAL_OUTPUT_COLUMNS:
            columns[column] = np.where(rows, signals[column].to_numpy(), columns[column])

    out = panel[KEY].reset_index(drop=True)
    out["strategy"] = chosen.to_numpy()
    for column, values in columns.items():
        out[column] = values
    return out.astype({"strategy": "str", "action": "str", "reason": "str"})[SIGNAL_COLUMNS], actions
