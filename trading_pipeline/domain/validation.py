"""Quant validation of signals: a poor track record or poor conditions scale confidence down, never up.

Every metric is point-in-time: it uses only bars up to the signal's date, over a trailing window of
sessions, so validating a range at once or day by day gives the same numbers. The metrics are facts
computed with the signals (``signals_with_track_record``, one strategy run serves both); judging them
against the limits is ``validate_signals``.

- Track record of the signal's strategy on that symbol ("shadow" book: long one unit after the
  strategy's BUY, flat after its SELL, marked close to close): expectancy (mean return of the round trips
  closed in the window), rolling Sharpe and the deepest drawdown of that shadow equity in the window.
- Volatility regime: a volatility spike (ATR% against its one-year median) or thin volume.
- Multicollinearity of the context features (VIF, pooled over the universe and the window): when the
  features the regime is read from are nearly collinear, the regime, and so the choice of strategy,
  says less than it seems.

Only entries (BUY) are scaled: a SELL reduces risk and must never be blocked by a weak track record.
A missing track record (too few trades, no time in the market yet) is reported, not penalised.
Each adjustment is written into ``validation`` with its value and limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_pipeline.domain.context import market_context
from trading_pipeline.domain.schema import KEY, Action
from trading_pipeline.domain.strategies import REGISTRY, Strategy, generate_signals_and_actions
from trading_pipeline.domain.symbol_blocks import SymbolBlocks

SESSIONS_PER_YEAR = 252
VIF_FEATURES = ["trend_strength", "volatility_ratio", "volume_ratio", "momentum"]
RECORD_COLUMNS = ["expectancy", "trades", "sharpe", "max_drawdown"]
METRIC_COLUMNS = [*RECORD_COLUMNS, "max_vif"]
# The market context features validate_signals reads.
CONTEXT_FEATURES = ("volatility_ratio", "volume_ratio")
TRACK_RECORD_WINDOW = SESSIONS_PER_YEAR


@dataclass(frozen=True)
class ValidationThresholds:
    """Limits and the factor each failed limit multiplies an entry's confidence by.

    Defaults were chosen from the pass-rate study in ``benchmarks/validation_pass_rates.py`` (README,
    "Quant validation"): the seed system's hard limits (Sharpe > 1.5, drawdown < 8%) rejected most
    entries of every strategy on both bundled and S&P 500 data, so here they are targets that scale
    confidence, and only a clearly losing record (negative expectancy, negative Sharpe) cuts it hard.
    """

    min_trades: int = 3
    min_expectancy: float = 0.0
    expectancy_scale: float = 0.5
    sharpe_target: float = 1.5
    sharpe_scale: float = 0.85
    negative_sharpe_scale: float = 0.6
    max_drawdown: float = 0.08
    drawdown_scale: float = 0.85
    volatility_spike_ratio: float = 1.5
    volatility_spike_scale: float = 0.5
    thin_volume_ratio: float = 0.5
    thin_volume_scale: float = 0.75
    max_vif: float = 10.0
    vif_scale: float = 0.8

    def __post_init__(self) -> None:
        scales = {k: v for k, v in vars(self).items() if k.endswith("_scale")}
        bad = {k: v for k, v in scales.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"validation scales must lie in [0, 1] (they may only lower confidence): {bad}")
        if self.min_trades < 1:
            raise ValueError(f"min_trades must be >= 1, got {self.min_trades}")


def track_record(panel: pd.DataFrame, action: pd.Series, window: int) -> pd.DataFrame:
    """Point-in-time track record of a strategy, from its ``action`` on every row of ``panel`` (indicators,
    sorted by symbol, date).

    Columns: expectancy (mean return of the round trips closed in the trailing ``window`` sessions, NaN
    without any), trades (their count), sharpe (annualised, of the shadow daily returns over the window;
    NaN if never in the market), max_drawdown (deepest drop of the shadow equity below its running peak
    over the window, as a positive fraction).
    """
    return _track_record(panel, action, window, SymbolBlocks(panel["symbol"]))


def _track_record(panel: pd.DataFrame, action: pd.Series, window: int, symbol: SymbolBlocks) -> pd.DataFrame:
    """``track_record`` with the panel's symbol runs given, so several strategies share them."""
    if window < 20:
        raise ValueError(f"a track record needs a window of at least 20 sessions, got {window}")
    buy, sell = (action == Action.BUY).to_numpy(dtype=bool), (action == Action.SELL).to_numpy(dtype=bool)
    position = symbol.ffill(np.select([buy, sell], [1.0, 0.0], np.nan))
    position[np.isnan(position)] = 0.0
    held = symbol.shift(position, fill=0.0)
    close = panel["close"].to_numpy(dtype="float64")
    move = close / symbol.shift(close, fill=np.nan) - 1.0
    move[np.isnan(move)] = 0.0
    returns = held * move
    equity = symbol.cumprod(1.0 + returns)

    def rolling(values: np.ndarray, how: str, min_periods: int = 1) -> np.ndarray:
        return _rolling_by_symbol(values, symbol, window, how, min_periods)

    min_periods = max(window // 4, 2)
    mean, std = rolling(returns, "mean", min_periods), rolling(returns, "std", min_periods)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = (mean / np.where(std > 0, std, np.nan)) * np.sqrt(SESSIONS_PER_YEAR)
    drawdown = 1.0 - equity / rolling(equity, "max")
    max_drawdown = rolling(drawdown, "max")

    # A round trip closes on the bar the shadow position goes 1 → 0; its return is the equity ratio
    # between that bar and the bar it opened on (returns are zero while flat, so equity is flat too).
    opened = (position == 1.0) & (held == 0.0)
    closed = (position == 0.0) & (held == 1.0)
    entry_equity = symbol.ffill(np.where(opened, equity, np.nan))
    # ``entry_equity`` is the equity at the entry bar's close; the trade's first return is the next bar's.
    trade_return = np.where(closed, equity / entry_equity - 1.0, np.nan)
    trades = rolling(closed.astype("float64"), "sum")
    total = rolling(np.where(np.isnan(trade_return), 0.0, trade_return), "sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        expectancy = np.where(trades > 0, total / trades, np.nan)
    return pd.DataFrame(
        {"expectancy": expectancy, "trades": trades.astype("int64"), "sharpe": sharpe, "max_drawdown": max_drawdown},
        index=panel.index,
    )


def _rolling_by_symbol(values: np.ndarray, symbol: SymbolBlocks, window: int, how: str, min_periods: int) -> np.ndarray:
    """``series.groupby(symbol).rolling(window)`` for a frame sorted by symbol, at a fraction of its cost:
    one rolling pass over the whole column, then the first ``window - 1`` rows of each symbol (whose
    window would reach into the previous symbol) recomputed as expanding statistics of their own symbol."""
    flat = getattr(
        pd.Series(values, copy=False).rolling(symbol.trailing(window), min_periods=min_periods), how
    )().to_numpy(copy=True)
    head = np.flatnonzero(symbol.bar < window - 1)
    if not len(head):
        return flat
    # A symbol's head rows are its first rows, so their running statistics are those of the whole column.
    series = pd.Series(values[head], copy=False)
    grouped = series.groupby(symbol.codes[head], sort=False)
    count = symbol.bar[head] + 1.0
    if how == "max":
        expanding = grouped.cummax().to_numpy()
    elif how == "sum":
        expanding = grouped.cumsum().to_numpy()
    elif how == "mean":
        expanding = grouped.cumsum().to_numpy() / count
    elif how == "std":
        s1 = grouped.cumsum().to_numpy()
        s2 = (series * series).groupby(symbol.codes[head], sort=False).cumsum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            expanding = np.sqrt(np.maximum(s2 - s1 * s1 / count, 0.0) / (count - 1.0))
    else:
        raise ValueError(f"unsupported rolling statistic {how!r}")
    flat[head] = np.where(count >= min_periods, expanding, np.nan)
    return flat


def rolling_vif(context: pd.DataFrame, window: int) -> pd.DataFrame:
    """Per date: the largest variance inflation factor of ``VIF_FEATURES`` and its feature.

    Pooled over every symbol of the trailing ``window`` dates (this one included), from rolling sums of
    the features and their cross-products, so it costs one pass. VIF_j is the j-th diagonal element of
    the inverse correlation matrix; NaN with fewer than 10 observations per feature or a singular matrix.
    """
    k = len(VIF_FEATURES)
    features = context[VIF_FEATURES].astype("float64")
    ok = np.isfinite(features.to_numpy()).all(axis=1)
    x = features.to_numpy()[ok]
    dates = context["date"].to_numpy()[ok]
    cross = (x[:, :, None] * x[:, None, :]).reshape(len(x), k * k)
    sums = (
        pd.DataFrame(np.hstack([np.ones((len(x), 1)), x, cross]), index=pd.DatetimeIndex(dates)).groupby(level=0).sum()
    )
    all_dates = pd.DatetimeIndex(np.unique(context["date"].to_numpy()))
    sums = sums.reindex(all_dates, fill_value=0.0).rolling(window, min_periods=1).sum().to_numpy()
    n, sx, sxx = sums[:, 0], sums[:, 1 : 1 + k], sums[:, 1 + k :].reshape(-1, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (sxx - sx[:, :, None] * sx[:, None, :] / n[:, None, None]) / (n - 1)[:, None, None]
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        corr = cov / (sd[:, :, None] * sd[:, None, :])
    usable = (n >= 10 * k) & np.isfinite(corr).all(axis=(1, 2))
    vif = np.full((len(n), k), np.nan)
    if usable.any():
        inverse = np.linalg.pinv(corr[usable], hermitian=True)
        vif[usable] = np.diagonal(inverse, axis1=1, axis2=2)
    worst = np.where(np.isfinite(vif).any(axis=1), np.nanargmax(np.where(np.isfinite(vif), vif, -np.inf), axis=1), 0)
    return pd.DataFrame(
        {
            "max_vif": np.where(usable, vif[np.arange(len(n)), worst], np.nan),
            "vif_feature": np.where(usable, np.asarray(VIF_FEATURES, dtype=object)[worst], None),
        },
        index=all_dates.rename("date"),
    )


def signals_with_track_record(
    history: pd.DataFrame,
    selection: pd.DataFrame,
    registry: Mapping[str, Strategy] = REGISTRY,
    window: int = TRACK_RECORD_WINDOW,
) -> pd.DataFrame:
    """The signals of every ``history`` row (indicators sorted by symbol, date, RangeIndex) with
    ``METRIC_COLUMNS``: the selected strategy's track record on that symbol and the context's VIF.

    Rows before the selection's range are the look-back the metrics read (HOLD, no strategy); callers
    keep the rows they asked for.
    """
    frame, actions = generate_signals_and_actions(history, selection, registry)
    records = np.full((len(frame), len(RECORD_COLUMNS)), np.nan)
    symbol = SymbolBlocks(history["symbol"])
    for name, action in actions.items():
        rows = (frame["strategy"] == name).to_numpy(dtype=bool)
        record = _track_record(history, action, window, symbol)
        records[rows] = record[RECORD_COLUMNS].to_numpy(dtype="float64")[rows]
    for k, column in enumerate(RECORD_COLUMNS):
        frame[column] = records[:, k]
    vif = rolling_vif(market_context(history), window)
    frame["max_vif"] = vif["max_vif"].reindex(frame["date"]).to_numpy()
    frame["vif_feature"] = vif["vif_feature"].reindex(frame["date"]).to_numpy()
    return frame


def validate_signals(
    signals: pd.DataFrame, context: pd.DataFrame, thresholds: ValidationThresholds = ValidationThresholds()
) -> pd.DataFrame:
    """Signals (with ``METRIC_COLUMNS``) with ``raw_confidence``, the adjusted ``confidence`` and
    ``validation`` (the reasons); ``context`` gives each row's volatility and volume ratios.

    Raises ValueError if the metric columns are missing or a signal has no context row.
    """
    t = thresholds
    missing = [c for c in [*METRIC_COLUMNS, "vif_feature"] if c not in signals.columns]
    if missing:
        raise ValueError(f"signals lack the track-record columns {missing} (see signals_with_track_record)")
    features = context[[*KEY, *CONTEXT_FEATURES]]
    frame = signals.reset_index(drop=True).merge(features, on=KEY, how="left", validate="one_to_one", indicator=True)
    if (frame["_merge"] != "both").any():
        absent = frame.loc[frame["_merge"] != "both", KEY].head(5).to_dict("records")
        raise ValueError(f"signals without a market context row, e.g. {absent}")
    entry = (frame["action"] == Action.BUY.value).to_numpy()
    frame["raw_confidence"] = frame["confidence"]
    judged = frame["trades"] >= t.min_trades
    checks = _checks(frame, judged, t)
    scale = np.ones(len(frame))
    reasons = pd.Series("", index=frame.index, dtype="str")
    for failed, factor, text in checks:
        hit = failed.fillna(False).to_numpy(dtype=bool) & entry
        if not hit.any():
            continue
        scale[hit] *= factor
        joined = np.where(reasons[hit] == "", "", reasons[hit] + "; ")
        reasons[hit] = joined + text(frame.loc[hit]).to_numpy()
    unjudged = entry & ~judged.to_numpy()
    if unjudged.any():
        joined = np.where(reasons[unjudged] == "", "", reasons[unjudged] + "; ")
        count = frame.loc[unjudged, "trades"].fillna(0).astype("int64").astype(str)
        reasons[unjudged] = joined + "track record not judged (" + count + f" < {t.min_trades} trades)"
    frame["confidence"] = frame["raw_confidence"] * scale
    frame["validation"] = reasons.to_numpy()
    return frame.drop(columns=["volatility_ratio", "volume_ratio", "_merge"])


Check = tuple[pd.Series, float, Callable[[pd.DataFrame], pd.Series]]


def _checks(frame: pd.DataFrame, judged: pd.Series, t: ValidationThresholds) -> list[Check]:
    """The limits in the order their reasons are written: (failed rows, confidence factor, reason text)."""
    volatility, volume = frame["volatility_ratio"], frame["volume_ratio"]
    return [
        (
            judged & (frame["expectancy"] <= t.min_expectancy),
            t.expectancy_scale,
            lambda f: (
                "expectancy "
                + _pct(f["expectancy"])
                + f" <= {t.min_expectancy:.2%} over "
                + f["trades"].astype("int64").astype(str)
                + " trades"
            ),
        ),
        (
            frame["sharpe"] < 0,
            t.negative_sharpe_scale,
            lambda f: "rolling Sharpe " + f["sharpe"].round(2).astype(str) + " < 0",
        ),
        (
            (frame["sharpe"] >= 0) & (frame["sharpe"] < t.sharpe_target),
            t.sharpe_scale,
            lambda f: "rolling Sharpe " + f["sharpe"].round(2).astype(str) + f" < {t.sharpe_target:g}",
        ),
        (
            frame["max_drawdown"] > t.max_drawdown,
            t.drawdown_scale,
            lambda f: "max drawdown " + _pct(f["max_drawdown"]) + f" > {t.max_drawdown:.0%}",
        ),
        (
            volatility > t.volatility_spike_ratio,
            t.volatility_spike_scale,
            lambda f: "volatility spike (ratio " + f["volatility_ratio"].round(2).astype(str) + ")",
        ),
        (
            volume < t.thin_volume_ratio,
            t.thin_volume_scale,
            lambda f: "thin volume (ratio " + f["volume_ratio"].round(2).astype(str) + ")",
        ),
        (
            frame["max_vif"] > t.max_vif,
            t.vif_scale,
            lambda f: (
                "context features collinear (VIF "
                + f["max_vif"].round(1).astype(str)
                + " of "
                + f["vif_feature"].astype(str)
                + f" > {t.max_vif:g})"
            ),
        ),
    ]


def _pct(values: pd.Series) -> pd.Series:
    return (values * 100).round(2).astype(str) + "%"
