"""Loading and validating daily OHLCV bars.

Loading is strict about *text* (a value that is not a number or a date stops the load with its file, line
and column) but lenient about *missing* values: an empty field becomes NaN, and :func:`validate_bars`
quarantines the bar instead of repairing it, so downstream code can see exactly what was excluded and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from trading_pipeline.domain import calendar
from trading_pipeline.domain.schema import BAR_COLUMNS, OHLCV, VALIDATED_BAR_COLUMNS

PRICES = ["open", "high", "low", "close"]
ALIASES: Mapping[str, tuple[str, ...]] = {
    "date": ("date", "timestamp"),
    "symbol": ("symbol", "ticker", "name"),
    **{c: (c,) for c in OHLCV},
}
ADJ_CLOSE = "adj close"

# Quarantine reasons in the fixed order they are reported in.
REASONS = [
    "nan",
    "non_positive_price",
    "high_below_open_close",
    "low_above_open_close",
    "high_below_low",
    "negative_volume",
    "duplicate",
    "non_session",
]


class BarsFileError(ValueError):
    """A bars file that cannot be loaded; the message names the file (and line, column, text if a value)."""


def _normalize(name: object) -> str:
    return str(name).strip().lower()


def _resolve_columns(columns: pd.Index, wanted: Mapping[str, tuple[str, ...]]) -> tuple[dict[str, str], list[str]]:
    """Map each wanted canonical name to the source column providing it (canonical name beats aliases).

    Returns the mapping and the canonical names that no column provides.
    """
    by_name: dict[str, list[str]] = {}
    for col in columns:
        by_name.setdefault(_normalize(col), []).append(col)
    found: dict[str, str] = {}
    missing: list[str] = []
    for canonical, names in wanted.items():
        name = next((n for n in names if n in by_name), None)
        if name is None:
            missing.append(canonical)
        elif len(by_name[name]) > 1:
            raise ValueError(f"ambiguous columns {by_name[name]} for {canonical!r}")
        else:
            found[canonical] = by_name[name][0]
    return found, missing


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _parse_numbers(values: pd.Series) -> tuple[pd.Series, int | None]:
    """Float64 values (missing stays NaN) and the position of the first non-empty unparsable value."""
    if pd.api.types.is_bool_dtype(values):  # numeric to pandas, but never a price or a volume
        return values.astype("float64"), 0
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), None
    parsed = pd.to_numeric(values, errors="coerce").astype("float64")
    return parsed, _first((parsed.isna() & values.notna() & (values.astype(str) != "")).to_numpy())


def _parse_dates(values: pd.Series) -> tuple[pd.Series, int | None, str]:
    """Normalized datetime64[ns] dates, the position of the first bad one and what is wrong with it.

    Missing dates are bad too: a bar without its key cannot even be quarantined. A time of day other than
    midnight or a time zone means the rows are not daily session bars, which is an error, not something to
    round away.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:  # parse each distinct text once: a panel repeats every date once per symbol
        codes, uniques = pd.factorize(values)
        parsed_uniques = pd.to_datetime(uniques, format="ISO8601", errors="coerce")
        parsed = pd.Series(parsed_uniques.take(codes, allow_fill=True, fill_value=pd.NaT), index=values.index)
    bad = _first(parsed.isna().to_numpy())
    if bad is not None:
        return parsed, bad, "missing date" if pd.isna(values.iloc[bad]) else "not a date"
    if parsed.dt.tz is not None:
        return parsed, 0, "not a tz-naive date"
    parsed = parsed.astype("datetime64[ns]")
    bad = _first((parsed != parsed.dt.normalize()).to_numpy())
    if bad is not None:
        return parsed, bad, "has a time of day, expected a session date"
    return parsed, None, ""


def _parse_symbols(values: pd.Series) -> tuple[pd.Series, int | None]:
    text = values.astype("str")
    return text.str.upper(), _first((values.isna() | (text.str.strip() == "")).to_numpy())


def _to_bars(raw: pd.DataFrame, columns: Mapping[str, str], fail: Callable[[int, str, str], Exception]) -> pd.DataFrame:
    """Parse the mapped raw columns into BAR_COLUMNS form, row-aligned with ``raw``.

    Raises ``fail(position, source_column, problem)`` at the first bad value.
    """
    dates, bad, problem = _parse_dates(raw[columns["date"]])
    if bad is not None:
        raise fail(bad, columns["date"], problem)
    symbols, bad = _parse_symbols(raw[columns["symbol"]])
    if bad is not None:
        raise fail(bad, columns["symbol"], "missing symbol")
    out = {"date": dates, "symbol": symbols}
    for canonical in OHLCV:
        numbers, bad = _parse_numbers(raw[columns[canonical]])
        if bad is not None:
            raise fail(bad, columns[canonical], "not a number")
        out[canonical] = numbers
    return pd.DataFrame(out, columns=BAR_COLUMNS)


def _sorted(bars: pd.DataFrame) -> pd.DataFrame:
    return bars.sort_values(["symbol", "date"], kind="stable", ignore_index=True)


def _shown(value: object) -> str:
    return "empty field" if pd.isna(value) else repr(value)


def _read_raw(path: Path) -> tuple[pd.DataFrame, dict[str, str], Callable[[int], str]]:
    """Read only the needed columns, as stored, with a function naming where a row sits in the file."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        columns = _check_columns(path, pd.Index(pq.read_schema(path).names))
        return pd.read_parquet(path, columns=list(columns.values())), columns, lambda i: f"row {i + 1}"
    if name.endswith((".csv", ".csv.gz")):
        try:
            header = pd.read_csv(path, nrows=0).columns
        except pd.errors.EmptyDataError:
            raise BarsFileError(f"{path}: empty file (no header)") from None
        columns = _check_columns(path, header)
        raw = pd.read_csv(
            path,
            usecols=list(columns.values()),
            dtype={columns["date"]: "str", columns["symbol"]: "str"},
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,  # keeps row i on line i + 2, so errors point at the right line
        )
        return raw, columns, lambda i: f"line {i + 2}"
    raise BarsFileError(f"{path}: unsupported file type (expected .csv, .csv.gz or .parquet)")


def _check_columns(path: Path, header: pd.Index) -> dict[str, str]:
    try:
        columns, missing = _resolve_columns(header, ALIASES)
    except ValueError as exc:
        raise BarsFileError(f"{path}: {exc}") from None
    if missing:
        raise BarsFileError(f"{path}: missing required column(s) {missing} (found {list(header)})")
    return columns


def load_bars_file(path: str | Path) -> pd.DataFrame:
    """Load a CSV, CSV.gz or Parquet bars file into BAR_COLUMNS form, sorted by (symbol, date).

    Headers are matched case-insensitively (``ticker``/``name`` for symbol, ``timestamp`` for date) and
    extra columns are ignored. Empty fields become NaN for :func:`validate_bars` to quarantine.
    """
    path = Path(path)
    raw, columns, where = _read_raw(path)
    if raw.empty:
        raise BarsFileError(f"{path}: no data rows")

    def fail(position: int, column: str, problem: str) -> BarsFileError:
        text = _shown(raw[column].iloc[position])
        return BarsFileError(f"{path}: {where(position)}, column {column!r}: {problem}: {text}")

    return _sorted(_to_bars(raw, columns, fail))


def validate_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Flag (never repair) bad bars; the result is unique per (date, symbol), sorted by (symbol, date).

    Of duplicate (date, symbol) rows only the first, in input order, is kept and it is flagged
    ``duplicate``: no copy can be trusted over another. ``nan`` covers any missing or non-finite OHLCV value.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {missing}")
    if not pd.api.types.is_datetime64_dtype(bars["date"]):
        raise ValueError(f"bars 'date' must be tz-naive datetime64, got {bars['date'].dtype}")
    not_numeric = [c for c in OHLCV if not pd.api.types.is_numeric_dtype(bars[c])]
    if not_numeric:
        raise ValueError(f"bars column(s) {not_numeric} are not numeric")

    ordered = _sorted(bars[BAR_COLUMNS])
    symbol, date = ordered["symbol"], ordered["date"]
    repeat = (symbol.eq(symbol.shift()) & date.eq(date.shift())).to_numpy(dtype=bool)
    has_repeat = np.zeros(len(ordered), dtype=bool)
    has_repeat[:-1] = repeat[1:]
    out = ordered.loc[~repeat].reset_index(drop=True)
    duplicate = has_repeat[~repeat]

    o, h, low, c, v = (out[col].to_numpy(dtype="float64") for col in OHLCV)
    prices = np.column_stack([o, h, low, c])
    dates = out["date"].to_numpy()
    if len(out):
        session_days = calendar.sessions(dates.min(), dates.max()).to_numpy()
        non_session = ~np.isin(dates, session_days)
    else:
        non_session = np.zeros(0, dtype=bool)
    masks = [
        ~np.isfinite(np.column_stack([prices, v])).all(axis=1),
        (prices <= 0).any(axis=1),
        h < np.maximum(o, c),
        low > np.minimum(o, c),
        h < low,
        v < 0,
        duplicate,
        non_session,
    ]
    codes = np.zeros(len(out), dtype=np.int64)
    for bit, mask in enumerate(masks):
        codes |= mask.astype(np.int64) << bit
    labels = {
        code: "; ".join(r for bit, r in enumerate(REASONS) if code >> bit & 1) for code in np.unique(codes).tolist()
    }
    out["quarantined"] = codes != 0
    out["quarantine_reason"] = pd.Series(codes).map(labels).astype("str")
    return out[VALIDATED_BAR_COLUMNS]


def quarantine_share(validated: pd.DataFrame, universe_size: int | None = None) -> pd.Series:
    """Share of the universe quarantined per date, so a day where much of the market is bad stands out.

    The universe defaults to the distinct symbols in ``validated``; pass it when the frame is a subset.
    """
    universe = validated["symbol"].nunique() if universe_size is None else universe_size
    if universe <= 0:
        raise ValueError(f"universe size must be positive, got {universe}")
    counts = validated.groupby("date")["quarantined"].sum()
    return (counts / universe).rename("quarantine_share")


def adjust_with_adj_close(raw: pd.DataFrame) -> pd.DataFrame:
    """Split- and dividend-adjust unadjusted bars with their ``Adj Close`` (Quandl WIKI layout).

    Prices are scaled by ``Adj Close / Close`` and volume by the inverse, so traded value is preserved and
    a split leaves no artificial gap. Returns BAR_COLUMNS form sorted by (symbol, date).
    """
    columns, missing = _resolve_columns(raw.columns, {**ALIASES, ADJ_CLOSE: (ADJ_CLOSE,)})
    if missing:
        raise ValueError(f"raw bars lack column(s) {missing} (found {list(raw.columns)})")

    def fail(position: int, column: str, problem: str) -> ValueError:
        text = _shown(raw[column].iloc[position])
        return ValueError(f"raw bars row {raw.index[position]!r}, column {column!r}: {problem}: {text}")

    adj_close, bad = _parse_numbers(raw[columns[ADJ_CLOSE]])
    if bad is not None:
        raise fail(bad, columns[ADJ_CLOSE], "not a number")
    bars = _to_bars(raw, columns, fail)
    factor = adj_close.to_numpy() / bars["close"].to_numpy()
    bars[PRICES] = bars[PRICES].to_numpy() * factor[:, None]
    bars["volume"] = bars["volume"].to_numpy() / factor
    return _sorted(bars)
