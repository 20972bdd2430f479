"""Loading and validating daily OHLCV bars.

Loading is strict about *text* (a value that is not a number, a date or a ticker, or a file that is not
UTF-8 or not a whole gzip, stops the load with its file, and line and column where they are known) but
lenient about *missing* values: an empty field or a usual spelling of a missing value (``NaN``, ``NA``,
``null``...) becomes NaN, and :func:`validate_bars` quarantines the bar instead of repairing it, so
downstream code can see exactly what was excluded and why.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trading_pipeline.domain import calendar
from trading_pipeline.domain.schema import BAR_COLUMNS, OHLCV, VALIDATED_BAR_COLUMNS
from trading_pipeline.domain.symbol_blocks import SymbolBlocks

PRICES = ["open", "high", "low", "close"]
ALIASES: Mapping[str, tuple[str, ...]] = {
    "date": ("date", "timestamp"),
    "symbol": ("symbol", "ticker", "name"),
    **{c: (c,) for c in OHLCV},
}
ADJ_CLOSE = "adj close"

# How pandas, numpy, R, SQL exports and spreadsheets write a missing number (pandas' own default NA list),
# compared stripped and case-insensitively. Not "-": in accounting layouts it means zero, so it stays an error.
MISSING_SPELLINGS = frozenset(
    "nan|-nan|na|n/a|#n/a|#n/a n/a|#na|<na>|null|none|1.#ind|-1.#ind|1.#qnan|-1.#qnan".split("|")
)
# A ticker as exchanges and data vendors write them: BRK.B, BF-B, BRK/B, ^GSPC, ES=F, BTC/USD.
TICKER = re.compile(r"\^?[A-Z0-9]+(?:[.\-/=][A-Z0-9]+)*")
# The largest close-to-close move, as a factor: 0.5 flags a close above 1.5x or below 1/1.5x the previous one.
MAX_CLOSE_MOVE = 0.5

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
    "price_jump",
    "after_price_jump",
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
    """Float64 values (missing stays NaN) and the position of the first value that is neither a number nor
    a spelling of a missing one."""
    if pd.api.types.is_bool_dtype(values):  # numeric to pandas, but never a price or a volume
        return values.astype("float64"), 0
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), None
    parsed = pd.to_numeric(values, errors="coerce").astype("float64")
    unparsed = np.flatnonzero((parsed.isna() & values.notna()).to_numpy())
    text = values.iloc[unparsed].astype(str).str.strip().str.lower()
    bad = np.zeros(len(values), dtype=bool)
    bad[unparsed] = ~(text.eq("") | text.isin(MISSING_SPELLINGS)).to_numpy()
    return parsed, _first(bad)


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


def _parse_symbols(values: pd.Series) -> tuple[pd.Series, int | None, str]:
    """Stripped, upper-cased tickers, the position of the first bad one and what is wrong with it.

    Each distinct text is cleaned once (a panel repeats every symbol once per date); a missing symbol shows
    as the empty text.
    """
    codes, uniques = pd.factorize(values)
    cleaned = np.append(pd.Index(np.asarray(uniques, dtype=object)).astype(str).str.strip().str.upper(), "")
    symbols = pd.Series(cleaned[codes], index=values.index)  # code -1 (missing) takes the trailing ""
    missing = _first((symbols == "").to_numpy())
    if missing is not None:
        return symbols, missing, "missing symbol"
    ticker = np.array([TICKER.fullmatch(text) is not None for text in cleaned])
    return symbols, _first(~ticker[codes]), "not a ticker"


def _to_bars(raw: pd.DataFrame, columns: Mapping[str, str], fail: Callable[[int, str, str], Exception]) -> pd.DataFrame:
    """Parse the mapped raw columns into BAR_COLUMNS form, row-aligned with ``raw``.

    Raises ``fail(position, source_column, problem)`` at the first bad value.
    """
    dates, bad, problem = _parse_dates(raw[columns["date"]])
    if bad is not None:
        raise fail(bad, columns["date"], problem)
    symbols, bad, problem = _parse_symbols(raw[columns["symbol"]])
    if bad is not None:
        raise fail(bad, columns["symbol"], problem)
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
    """Read only the needed columns, as stored, with a function naming where a row sits in the file.

    A file that cannot be decoded (bytes that are not UTF-8, a truncated or corrupt gzip or Parquet, a CSV
    the parser cannot split into rows) is a :class:`BarsFileError` naming the file, in one line.
    """
    try:
        return _read_table(path)
    except UnicodeDecodeError:
        raise BarsFileError(f"{path}: {_not_utf8(path)}") from None
    except (EOFError, OSError, zlib.error, pa.ArrowException, pd.errors.ParserError) as exc:
        raise BarsFileError(f"{path}: cannot be read: {' '.join(str(exc).split())}") from None


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits: its line, and its column when the header names it."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as lines:
        header: list[str] = []
        for number, line in enumerate(lines, start=1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                field = line[: exc.start].count(b",")
                column = f", column {header[field]!r}" if field < len(header) else ""
                return f"line {number}{column}: not UTF-8 text: {line[exc.start : exc.end]!r}"
            header = header or [name.strip() for name in text.rstrip("\r\n").split(",")]
    return "not UTF-8 text"


def _read_table(path: Path) -> tuple[pd.DataFrame, dict[str, str], Callable[[int], str]]:
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


def validate_bars(
    bars: pd.DataFrame, max_close_move: float = MAX_CLOSE_MOVE, accepted_moves: Collection[tuple[str, date]] = ()
) -> pd.DataFrame:
    """Flag (never repair) bad bars; the result is unique per (date, symbol), sorted by (symbol, date).

    Of duplicate (date, symbol) rows only the first, in input order, is kept and it is flagged
    ``duplicate``: no copy can be trusted over another. ``nan`` covers any missing or non-finite OHLCV value.
    A close that moved beyond ``max_close_move`` (see :func:`price_jumps`) is a ``price_jump`` unless its
    (symbol, date) is in ``accepted_moves``, and every later bar of that symbol is ``after_price_jump``:
    an unadjusted split or a bad feed puts the rest of the series on another scale, so none of it is a price.
    The verdict therefore depends on the history passed in: validate a range together with the sessions
    before it to see a jump that happened there.
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
    symbol, day = ordered["symbol"], ordered["date"]
    repeat = (symbol.eq(symbol.shift()) & day.eq(day.shift())).to_numpy(dtype=bool)
    has_repeat = np.zeros(len(ordered), dtype=bool)
    has_repeat[:-1] = repeat[1:]
    out = ordered.loc[~repeat].reset_index(drop=True)
    duplicate = has_repeat[~repeat]

    o, h, low, c, v = (out[col].to_numpy(dtype="float64") for col in OHLCV)
    prices = np.column_stack([o, h, low, c])
    non_session = ~_on_session(out["date"])
    blocks = SymbolBlocks(out["symbol"])
    jump = _beyond(c, _previous_close(blocks, c, ~non_session), max_close_move) & ~_accepted(out, accepted_moves)
    jumped = np.cumsum(jump)
    masks = [
        ~np.isfinite(np.column_stack([prices, v])).all(axis=1),
        (prices <= 0).any(axis=1),
        h < np.maximum(o, c),
        low > np.minimum(o, c),
        h < low,
        v < 0,
        duplicate,
        non_session,
        jump,
        jumped - jump > (jumped - jump)[blocks.first],  # a jump earlier in the same symbol
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


def price_jumps(validated: pd.DataFrame, max_close_move: float = MAX_CLOSE_MOVE) -> pd.DataFrame:
    """Every close of ``validated`` (a :func:`validate_bars` result) that moved beyond ``max_close_move``
    from the symbol's previous close, accepted or not: ``symbol, date, previous_close, close, move``.

    A move is a factor, so a split and its reverse weigh the same: with 0.5 a close above 1.5x or below
    1/1.5x (-33%) of the previous one is a jump, and an unadjusted 2:1 split (-50%) always is one, where
    a plain +-50% band would catch it only on a day the stock fell. The previous close is that of the
    symbol's last session bar with a positive close, however long ago: a gap in the data does not explain
    a move, and a missing close does not make the next good one look like a jump.
    """
    close = validated["close"].to_numpy(dtype="float64")
    previous = _previous_close(SymbolBlocks(validated["symbol"]), close, _on_session(validated["date"]))
    rows = np.flatnonzero(_beyond(close, previous, max_close_move))
    jumps = validated.iloc[rows][["symbol", "date", "close"]].reset_index(drop=True)
    jumps.insert(2, "previous_close", previous[rows])
    return jumps.assign(move=close[rows] / previous[rows] - 1.0)


def parse_accepted_moves(texts: Iterable[str]) -> frozenset[tuple[str, date]]:
    """``SYMBOL:YYYY-MM-DD`` texts (a jump known to be real) as (symbol, date) pairs; a malformed text is an
    error naming it."""
    moves: set[tuple[str, date]] = set()
    for text in texts:
        symbol, _, day = str(text).partition(":")
        symbol = symbol.strip().upper()
        try:
            when = date.fromisoformat(day.strip())
        except ValueError:
            when = None
        if when is None or TICKER.fullmatch(symbol) is None:
            raise ValueError(f"accepted move {text!r}: expected SYMBOL:YYYY-MM-DD, e.g. AAPL:2000-09-29")
        moves.add((symbol, when))
    return frozenset(moves)


def _on_session(dates: pd.Series) -> np.ndarray:
    if dates.empty:
        return np.zeros(0, dtype=bool)
    return np.isin(dates.to_numpy(), calendar.sessions(dates.min(), dates.max()).to_numpy())


def _previous_close(blocks: SymbolBlocks, close: np.ndarray, on_session: np.ndarray) -> np.ndarray:
    """For each usable close (positive, on a session), the symbol's previous usable close; NaN for the
    others and for a symbol's first usable close."""
    usable = on_session & (close > 0) & np.isfinite(close)
    latest = np.maximum.accumulate(np.where(usable, np.arange(len(close)), -1))  # last usable row so far
    previous = np.r_[-1, latest[:-1]] if len(close) else latest
    return np.where(usable & (previous >= blocks.first), close[previous], np.nan)


def _beyond(close: np.ndarray, previous: np.ndarray, max_close_move: float) -> np.ndarray:
    """Closes more than a factor ``1 + max_close_move`` above or below ``previous`` (never where it is NaN)."""
    if not max_close_move > 0:
        raise ValueError(f"max_close_move must be positive, got {max_close_move}")
    factor = 1.0 + max_close_move
    return (close > previous * factor) | (previous > close * factor)


def _accepted(bars: pd.DataFrame, accepted_moves: Collection[tuple[str, date]]) -> np.ndarray:
    if not accepted_moves:
        return np.zeros(len(bars), dtype=bool)
    keys = pd.MultiIndex.from_tuples([(s, pd.Timestamp(d)) for s, d in accepted_moves])
    return pd.MultiIndex.from_arrays([bars["symbol"], bars["date"]]).isin(keys)


def quarantine_share(validated: pd.DataFrame, universe_size: int | None = None) -> pd.Series:
    """Share of the universe whose bar of the day is bad, so a day where much of the market is bad stands out.

    A symbol quarantined from a price jump on is one symbol set aside (listed, never traded), not a bad day of
    the market: its bars count only where they are bad on their own. The universe defaults to the distinct
    symbols in ``validated``; pass it when the frame is a subset.
    """
    universe = validated["symbol"].nunique() if universe_size is None else universe_size
    if universe <= 0:
        raise ValueError(f"universe size must be positive, got {universe}")
    counts = bad_on_their_own(validated).groupby(validated["date"]).sum()
    return (counts / universe).rename("quarantine_share")


def bad_on_their_own(validated: pd.DataFrame) -> pd.Series:
    """Quarantined bars that are bad in themselves (missing, inconsistent, duplicate, off-session), not only for
    coming after their symbol's price jump."""
    own = validated["quarantine_reason"].str.replace(_JUMP_REASONS, "", regex=True)
    return validated["quarantined"] & own.ne("")


# The jump reasons, as validate_bars joins them after any other reason of the bar.
_JUMP_REASONS = r"(?:^|; )(?:after_)?price_jump"


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
