"""EnsembleCombiner: the pickers' picks merged into one ranked, capped watchlist per session.

The score of a (session, symbol) is the weighted sum of its pickers' scores, weights normalised to sum 1; a
picker without a row for it (the LLM did not rank it) adds 0. Only a symbol that at least one picker selected
can enter the watchlist. A row is divergent when the pickers that judged it split: one selected what another
rejected (for example the metric picker rejects what the LLM ranks first); the reason names both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trading_pipeline.domain.discovery.picks import check_picks
from trading_pipeline.domain.strategies.base import join, number_text, text_table

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({"metric": 0.3, "fuzzy": 0.4, "llm": 0.3})
WATCHLIST_COLUMNS = ["date", "symbol", "rank", "score", "pickers", "reason", "divergent", "divergence"]


@dataclass(frozen=True)
class EnsembleCombiner:
    """``weights`` per picker name (normalised; a picker of the picks without a weight is an error) and the
    watchlist's ``max_size`` per session."""

    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    max_size: int = 20

    def __post_init__(self) -> None:
        if not self.weights or any(not w >= 0 for w in self.weights.values()) or not sum(self.weights.values()) > 0:
            raise ValueError(f"ensemble weights must be >= 0 with a positive sum, got {dict(self.weights)}")
        if self.max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {self.max_size}")

    def normalised_weights(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {name: weight / total for name, weight in self.weights.items()}

    def combine(self, picks: pd.DataFrame) -> pd.DataFrame:
        """``WATCHLIST_COLUMNS``, per session its ranked symbols (by score, ties by symbol), at most ``max_size``."""
        check_picks(picks)
        unknown = sorted(set(picks["picker"].unique()) - set(self.weights))
        if unknown:
            raise ValueError(
                f"picks from pickers without an ensemble weight: {unknown} (weights: {dict(self.weights)})"
            )
        pickers = list(self.weights)
        weights = np.array([self.normalised_weights()[p] for p in pickers])
        grid = _Grid(picks, pickers)
        total = np.nan_to_num(grid.score) @ weights
        entered = np.flatnonzero(grid.selected.any(axis=1))
        # By session, then score (highest first), then symbol: the grid's codes are in sorted order.
        order = entered[np.lexsort((grid.symbol[entered], -total[entered], grid.date[entered]))]
        new_date = np.r_[True, grid.date[order][1:] != grid.date[order][:-1]] if len(order) else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(new_date, np.arange(len(order)), 0)) if len(order) else order
        rank = np.arange(len(order)) - first + 1
        kept = rank <= self.max_size
        return grid.watchlist(order[kept], rank[kept], total[order[kept]], picks["reason"])


class _Grid:
    """The picks as one row per (session, symbol) and one column per picker: score (NaN: no row), selected,
    and the position of the pick in the picks frame (-1: no row). Session and symbol codes sort like their
    values."""

    def __init__(self, picks: pd.DataFrame, pickers: list[str]) -> None:
        date_code, self.dates = pd.factorize(picks["date"], sort=True)
        symbol_code, self.symbols = pd.factorize(picks["symbol"], sort=True)
        picker_code, names = pd.factorize(picks["picker"])
        column = np.array([pickers.index(name) for name in names], dtype=np.int64)[picker_code]
        key = date_code.astype(np.int64) * max(len(self.symbols), 1) + symbol_code
        row, keys = pd.factorize(key)
        cell = row * len(pickers) + column
        repeated = np.bincount(cell, minlength=len(keys) * len(pickers)) > 1
        if repeated.any():
            first = picks.iloc[int(np.argmax(repeated[cell]))]
            raise ValueError(f"picker {first['picker']!r} picked {first['symbol']} more than once on {first['date']}")
        shape = (len(keys), len(pickers))
        self.pickers = pickers
        self.date, self.symbol = keys // max(len(self.symbols), 1), keys % max(len(self.symbols), 1)
        self.score = np.full(shape, np.nan)
        self.score[row, column] = picks["score"].to_numpy(dtype="float64")
        self.selected = np.zeros(shape, dtype=bool)
        self.selected[row, column] = picks["selected"].to_numpy(dtype=bool)
        self.source = np.full(shape, -1, dtype=np.int64)
        self.source[row, column] = np.arange(len(picks))

    def watchlist(self, rows: np.ndarray, rank: np.ndarray, score: np.ndarray, reasons: pd.Series) -> pd.DataFrame:
        """The watchlist rows for the grid ``rows``; texts are built for those rows only."""
        judged, selected = self.source[rows] >= 0, self.selected[rows]
        rejected = judged & ~selected
        # One label per combination of who selected and who rejected, spread over the rows.
        n = len(self.pickers)
        bits = 1 << np.arange(n)
        codes, inverse = np.unique(((selected @ bits) << n) | (rejected @ bits), return_inverse=True)
        chosen_text, divergence_text = [], []
        for code in codes.tolist():
            chosen = [p for k, p in enumerate(self.pickers) if code >> (n + k) & 1]
            against = [p for k, p in enumerate(self.pickers) if code >> k & 1]
            chosen_text.append("+".join(chosen))
            divergence_text.append(
                f"selected by {', '.join(chosen)}; rejected by {', '.join(against)}" if against else ""
            )
        texts = pa.array(reasons, type=pa.large_string())
        if isinstance(texts, pa.ChunkedArray):  # concatenated picks: join the chunks once, not at every take
            texts = texts.combine_chunks()
        parts = []
        for k, name in enumerate(self.pickers):
            source = self.source[rows, k]
            text = join(f"{name} ", number_text(self.score[rows, k], 2), ": ", texts.take(np.maximum(source, 0)))
            parts.append(pc.if_else(pa.array(source >= 0), text, pa.scalar(None, pa.large_string())))
        separator = pa.scalar("; ", pa.large_string())
        reason = pc.binary_join_element_wise(*parts, separator, null_handling="skip")
        return pd.DataFrame(
            {
                "date": self.dates[self.date[rows]],
                "symbol": pd.Series(np.asarray(self.symbols)[self.symbol[rows]], dtype="str"),
                "rank": rank.astype("int64"),
                "score": score,
                "pickers": pd.Series(text_table(chosen_text).take(inverse), dtype="str"),
                "reason": pd.Series(reason, dtype="str"),
                "divergent": rejected.any(axis=1),
                "divergence": pd.Series(text_table(divergence_text).take(inverse), dtype="str"),
            },
            columns=WATCHLIST_COLUMNS,
        )
