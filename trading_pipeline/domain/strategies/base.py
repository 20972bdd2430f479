"""The strategy contract and the helpers every strategy shares.

A strategy maps the whole indicators panel (all symbols, all dates) to one signal per row in a single
vectorized pass; cross-sectional strategies need the universe, and per-day loops would be too slow for
a backtest. ``Strategy.generate`` applies the minimum-history rule after the strategy's own rule, so no
strategy can forget it: a row with too little history is a HOLD with a reason, never an exception and
never a NaN confidence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trading_pipeline.domain.schema import Action, StrategyName

SIGNAL_OUTPUT_COLUMNS = ["action", "confidence", "stop", "target", "reason"]

# Confidence of any BUY/SELL lies in [MIN_SIGNAL_CONFIDENCE, 1]; a HOLD has confidence 0.
MIN_SIGNAL_CONFIDENCE = 0.3
# Protective stop and profit target distances, in multiples of ATR14 from the signal bar's close.
STOP_ATR_MULTIPLE = 1.5
TARGET_ATR_MULTIPLE = 3.0


class Strategy(ABC):
    """A deterministic signal rule over the indicators panel.

    Subclasses set ``name`` and ``min_history`` and implement ``rule``; callers use ``generate``.
    """

    name: ClassVar[StrategyName | str]
    min_history: ClassVar[int]

    def generate(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Signals aligned to ``panel.index``: the rule's output with the minimum-history rule applied."""
        return apply_min_history(self.rule(panel), panel["history"], self.min_history)

    @abstractmethod
    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The strategy's own signals (``SIGNAL_OUTPUT_COLUMNS``, aligned to ``panel.index``)."""


def apply_min_history(signals: pd.DataFrame, history: pd.Series, min_history: int) -> pd.DataFrame:
    """Turn rows whose symbol has fewer than ``min_history`` clean bars into a reasoned HOLD."""
    keep = (history >= min_history).to_numpy() | history.isna().to_numpy()
    out = signals.copy(deep=False)
    if keep.all():
        return out
    # One label per distinct history value (a few hundred at most), spread over the rows.
    codes, values = pd.factorize(history.where(~keep).astype("float64"))
    labels = text_table([f"insufficient history: {int(value)} < {min_history} bars" for value in values])
    out["action"] = _text_where(signals["action"], keep, pa.scalar(Action.HOLD.value, pa.large_string()))
    out["confidence"] = signals["confidence"].where(keep, 0.0)
    out["stop"] = signals["stop"].where(keep, np.nan)
    out["target"] = signals["target"].where(keep, np.nan)
    out["reason"] = _text_where(signals["reason"], keep, labels.take(np.where(codes < 0, 0, codes)))
    return out


def _text_where(text: pd.Series, keep: np.ndarray, other: pa.Scalar | pa.Array) -> pd.Series:
    """``text.where(keep, other)``, in Arrow when the column is a ``str`` column (several times faster)."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pd.Series(pc.if_else(pa.array(keep), _arrow(text), other), index=text.index, dtype=text.dtype)
    replacement = pd.Series(other.to_pylist(), index=text.index) if isinstance(other, pa.Array) else other.as_py()
    return text.where(keep, replacement)


def confidence_ramp(excess: pd.Series, full_at: float) -> pd.Series:
    """Confidence rising linearly from the minimum at ``excess`` 0 to 1 at ``full_at``."""
    return MIN_SIGNAL_CONFIDENCE + (1.0 - MIN_SIGNAL_CONFIDENCE) * excess / full_at


def atr_signals(
    panel: pd.DataFrame,
    buy: pd.Series | np.ndarray,
    sell: pd.Series | np.ndarray,
    confidence: pd.Series,
    reason: pd.Series,
) -> pd.DataFrame:
    """Assemble BUY/SELL/HOLD rows with ATR-based stops and targets.

    ``buy`` and ``sell`` are disjoint boolean masks. On a signal the confidence is clipped to
    [MIN_SIGNAL_CONFIDENCE, 1] (an undefined strength, e.g. a zero ATR, gets the minimum); a HOLD gets
    confidence 0 and NaN stop/target. The stop sits ``STOP_ATR_MULTIPLE`` ATRs against the trade and the
    target ``TARGET_ATR_MULTIPLE`` ATRs in its favour.
    """
    buy, sell = np.asarray(buy, dtype=bool), np.asarray(sell, dtype=bool)
    direction = np.select([buy, sell], [1.0, -1.0], default=np.nan)
    close, atr = panel["close"].to_numpy(dtype="float64"), panel["atr14"].to_numpy(dtype="float64")
    strength = confidence.fillna(MIN_SIGNAL_CONFIDENCE).clip(MIN_SIGNAL_CONFIDENCE, 1.0).to_numpy()
    actions = text_table([Action.HOLD.value, Action.BUY.value, Action.SELL.value])
    return pd.DataFrame(
        {
            "action": pd.Series(actions.take(np.select([buy, sell], [1, 2], 0)), index=panel.index, dtype="str"),
            "confidence": np.where(buy | sell, strength, 0.0),
            "stop": close - direction * STOP_ATR_MULTIPLE * atr,
            "target": close + direction * TARGET_ATR_MULTIPLE * atr,
            "reason": reason,
        },
        index=panel.index,
    )


def format_values(values: pd.Series, decimals: int, signed: bool = False) -> pd.Series:
    """Fixed-point strings for reason texts (NaN → "nan").

    Each distinct rounded value is formatted once, so labelling the whole panel stays cheap. Distinct
    means as ``pd.factorize`` sees it: -0.0 and 0.0 are one value, labelled as the first one met.
    """
    return pd.Series(number_text(values.to_numpy(dtype="float64"), decimals, signed), index=values.index, dtype="str")


def number_text(values: np.ndarray, decimals: int, signed: bool = False) -> pa.Array:
    """``format_values`` of a float array, as an Arrow string array: each distinct rounded value formatted once.

    factorize holds -0.0 and 0.0 as one value (the first seen), so a rounded zero takes its sign from its own
    row, as formatting that row alone would: the text of a row never depends on the other rows.
    """
    rounded = np.round(values, decimals)
    codes, uniques = pd.factorize(rounded)
    spec = f"{{:{'+' if signed else ''}.{decimals}f}}"
    n = len(uniques)
    labels = [*(spec.format(value) for value in uniques), "nan", spec.format(0.0), spec.format(-0.0)]
    codes = np.where(codes < 0, n, codes)
    codes = np.where(rounded == 0, np.where(np.signbit(rounded), n + 2, n + 1), codes)
    return text_table(labels).take(codes)


def text_table(labels: Sequence[str]) -> pa.Array:
    """Labels to be spread over rows with ``.take(codes)``: Arrow strings, the storage of pandas' ``str``
    dtype, so a column of labels is built without one Python string object per row."""
    return pa.array(labels, type=pa.large_string())


type Text = str | pa.Array | pa.ChunkedArray | pd.Series


def join(*parts: Text) -> pa.Array:
    """Row-wise concatenation of strings and string columns (plain strings are repeated on every row)."""
    arrays = [pa.scalar(part, pa.large_string()) if isinstance(part, str) else _arrow(part) for part in parts]
    return _arrow(pc.binary_join_element_wise(*arrays, pa.scalar("", pa.large_string())))


_SHOWN_ROWS: ContextVar[np.ndarray | None] = ContextVar("shown_reason_rows", default=None)


@contextmanager
def reasons_shown_only(shown: np.ndarray) -> Iterator[None]:
    """Within it, ``reasons`` builds row-specific texts only where the boolean mask ``shown`` holds and leaves
    the other rows' reasons empty. Signals keep each strategy's reasons on the rows it was selected for
    only; building them for every row of all ten strategies was a sixth of what the strategies cost."""
    token = _SHOWN_ROWS.set(np.asarray(shown, dtype=bool))
    try:
        yield
    finally:
        _SHOWN_ROWS.reset(token)


def reasons(
    index: pd.Index, default: str, cases: Sequence[tuple[np.ndarray | pd.Series, str | Callable[[np.ndarray], Text]]]
) -> pd.Series:
    """The reason of every row: the text of the LAST case whose mask holds on it, else ``default``.

    A case's text is a string, or a function of the positions of the rows the case decides returning
    their texts: row-specific strings are built only for the rows that show them (see ``reasons_shown_only``).
    """
    winner = np.zeros(len(index), dtype=np.int64)
    for k, (mask, _) in enumerate(cases, start=1):
        winner[np.asarray(mask, dtype=bool)] = k
    shown = _SHOWN_ROWS.get()
    if shown is not None and len(shown) != len(index):
        shown = None  # reasons for another frame than the masked panel: every row's text
    pieces: list[tuple[np.ndarray, Text]] = []
    for k, text in enumerate([default, *(text for _, text in cases)]):
        rows = np.flatnonzero(winner == k)
        if not isinstance(text, str) and shown is not None:
            pieces.append((rows[~shown[rows]], ""))
            rows = rows[shown[rows]]
        if len(rows):
            pieces.append((rows, text if isinstance(text, str) else text(rows)))
    return pd.Series(scatter(len(index), pieces), index=index, dtype="str")


def scatter(size: int, pieces: Sequence[tuple[np.ndarray, Text]]) -> pa.Array:
    """One string column of ``size`` rows from pieces (row positions, their texts, or one string for all of
    them) that cover every row exactly once: the rows are built by a single take from the pieces' texts."""
    source = np.empty(size, dtype=np.int64)
    chunks, offset = [], 0
    for rows, text in pieces:
        chunk = text_table([text]) if isinstance(text, str) else _arrow(text)
        source[rows] = offset if isinstance(text, str) else offset + np.arange(len(rows))
        chunks.append(chunk)
        offset += len(chunk)
    return pa.concat_arrays(chunks).take(source) if chunks else text_table([])


def _arrow(text: pa.Array | pa.ChunkedArray | pd.Series) -> pa.Array:
    """A string column as one Arrow ``large_string`` array (zero-copy for a ``str`` Series)."""
    array = pa.array(text) if isinstance(text, pd.Series) else text
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())
