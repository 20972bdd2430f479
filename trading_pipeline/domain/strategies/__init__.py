"""The closed registry of deterministic strategies and the per-row dispatch to the selected one.

Adding a built-in strategy is one module (a ``Strategy`` subclass) and one entry in ``REGISTRY``; a
user's strategy is registered by configuration instead (``plugins.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from trading_pipeline.domain.schema import KEY, SIGNAL_COLUMNS, Action
from trading_pipeline.domain.sectors import load_sector_map
from trading_pipeline.domain.strategies.base import Strategy, atr_signals, reasons_shown_only, scatter, text_table
from trading_pipeline.domain.strategies.bollinger_bands import BollingerBands
from trading_pipeline.domain.strategies.breakout import Breakout
from trading_pipeline.domain.strategies.dual_momentum import DualMomentum
from trading_pipeline.domain.strategies.mean_reversion import MeanReversion
from trading_pipeline.domain.strategies.momentum_rotation import MomentumRotation
from trading_pipeline.domain.strategies.moving_average_envelope import MovingAverageEnvelope
from trading_pipeline.domain.strategies.plugins import strategy
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
    "NO_SELECTION_REASON",
    "REGISTRY",
    "Strategy",
    "atr_signals",
    "generate_signals",
    "generate_signals_and_actions",
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
    selected (its reason texts are built for those rows only). A panel row without a selection is a HOLD
    with ``NO_SELECTION_REASON`` and a missing ``strategy``. Raises ValueError if the selection names a
    strategy outside ``registry`` or selects twice for the same (date, symbol).
    """
    unknown = sorted(set(selection["strategy"].dropna().unique()) - set(registry))
    if unknown:
        raise ValueError(f"selection names strategies not in the registry: {unknown}")
    chosen, names = _selected(panel, selection)
    confidence = np.zeros(len(panel))
    stop = np.full(len(panel), np.nan)
    target = np.full(len(panel), np.nan)
    unselected = np.flatnonzero(chosen < 0)
    action_pieces: list[tuple[np.ndarray, str | pa.Array]] = [(unselected, Action.HOLD.value)]
    reason_pieces: list[tuple[np.ndarray, str | pa.Array]] = [(unselected, NO_SELECTION_REASON)]
    actions: dict[str, pd.Series] = {}
    for k, name in enumerate(names):
        rows = np.flatnonzero(chosen == k)
        with reasons_shown_only(chosen == k):  # its actions count on every row, its reasons on its own
            signals = registry[name].generate(panel)
        actions[name] = signals["action"]
        confidence[rows] = signals["confidence"].to_numpy()[rows]
        stop[rows] = signals["stop"].to_numpy()[rows]
        target[rows] = signals["target"].to_numpy()[rows]
        action_pieces.append((rows, pa.array(signals["action"].astype("str")).take(rows)))
        reason_pieces.append((rows, pa.array(signals["reason"].astype("str")).take(rows)))

    out = panel[KEY].reset_index(drop=True)
    out["strategy"] = pd.Series(text_table(names).take(pa.array(chosen, mask=chosen < 0)), dtype="str")
    out["action"] = pd.Series(scatter(len(panel), action_pieces), dtype="str")
    out["confidence"] = confidence
    out["stop"] = stop
    out["target"] = target
    out["reason"] = pd.Series(scatter(len(panel), reason_pieces), dtype="str")
    return out[SIGNAL_COLUMNS], actions


def _selected(panel: pd.DataFrame, selection: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Per panel row, the position in ``names`` of the strategy selected for its (date, symbol), -1 if none.

    The keys of both frames are coded to integers in the panel's terms (a selection date or symbol the
    panel lacks gets a code of its own), so the lookup hashes int64s instead of merging on dates and
    strings. Raises ValueError if the selection selects twice for the same (date, symbol).
    """
    dates, symbols = (_codes(panel[column], selection[column]) for column in KEY)
    width = int(max(symbols[0].max(initial=0), symbols[1].max(initial=0))) + 1
    panel_key, selection_key = (pd.Index(date * width + symbol) for date, symbol in zip(dates, symbols, strict=True))
    if selection_key.has_duplicates:
        raise ValueError("selection has more than one strategy for some (date, symbol)")
    codes, names = pd.factorize(selection["strategy"])
    at = selection_key.get_indexer(panel_key)
    chosen = np.where(at >= 0, codes[at], -1)
    # The strategies in order of first use on the panel, as their picks are applied.
    used = pd.unique(chosen[chosen >= 0])
    renumber = np.full(len(names) + 1, -1)
    renumber[used] = np.arange(len(used))
    return renumber[chosen], [str(names[k]) for k in used]


def _codes(panel_values: pd.Series, selection_values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a key column in the panel and in the selection; equal values, equal codes."""
    panel_codes, uniques = pd.factorize(panel_values, use_na_sentinel=False)
    selection_codes, selection_uniques = pd.factorize(selection_values, use_na_sentinel=False)
    known = pd.Index(uniques).get_indexer(pd.Index(selection_uniques))
    own = np.where(known >= 0, known, len(uniques) + np.arange(len(selection_uniques)))
    return panel_codes.astype("int64"), own[selection_codes].astype("int64")
