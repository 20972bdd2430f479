"""GET /v2/stocks/bars as Alpaca answers it: bars per symbol, sorted by symbol then time, paged with a token.

Daily bars are stamped at midnight New York time, as Alpaca stamps them; minute-based timeframes
aggregate the minute bars the sandbox holds (bars are labelled by their start). A symbol without bars in
the range is simply absent from ``bars``, as at Alpaca. Unless told to serve every bar it holds, the
sandbox serves only bars complete at its clock: a session's daily bar from its close on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from trading_pipeline.domain import calendar
from trading_pipeline.domain.schema import OHLCV
from trading_pipeline.integrations.alpaca_client import MOST_ACTIVES_LIMIT
from trading_pipeline.sandbox.matching import Bar
from trading_pipeline.sandbox.wire import bad_request, iso, parse_choice, parse_int, parse_time, unprocessable

TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
UNIT_MINUTES = {"Min": 1, "T": 1, "Hour": 60, "H": 60}
MAX_PAGE = 10_000
FEEDS = ("iex", "sip", "delayed_sip", "otc", "boats", "overnight")
ADJUSTMENTS = ("raw", "split", "dividend", "spin-off", "all")


def empty_daily() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "symbol": pd.Series(dtype=str)}).assign(
        **{c: pd.Series(dtype=float) for c in OHLCV}
    )


@dataclass(frozen=True)
class BarsQuery:
    symbols: list[str]
    minutes: int | None  # None: daily bars
    start: pd.Timestamp
    end: pd.Timestamp
    limit: int
    offset: int
    descending: bool


def parse_bars_query(query: Mapping[str, str], now: datetime) -> BarsQuery:
    """Validate a bars query; what the sandbox cannot answer is a 4xx, never a dropped connection."""
    symbols = [s for s in query.get("symbols", "").split(",") if s]
    if not symbols:
        raise bad_request("symbols is required")
    match = TIMEFRAME.match(query.get("timeframe", ""))
    if match is None:
        raise bad_request(f"invalid timeframe {query.get('timeframe')!r}")
    amount, unit = int(match[1]), match[2]
    if unit in ("Day", "D"):
        if amount != 1:
            raise bad_request(f"invalid timeframe {query['timeframe']!r}: days come one at a time")
        minutes = None
    elif unit in UNIT_MINUTES and 1 <= amount <= (59 if UNIT_MINUTES[unit] == 1 else 23):
        minutes = amount * UNIT_MINUTES[unit]
    else:
        raise unprocessable(f"timeframe {query['timeframe']} is not served by the sandbox (minutes, hours, 1Day)")
    for name, choices in (("feed", FEEDS), ("adjustment", ADJUSTMENTS), ("sort", ("asc", "desc"))):
        if name in query:
            parse_choice(query[name], name, choices)
    start = pd.Timestamp(parse_time(query["start"], "start")) if "start" in query else None
    end = pd.Timestamp(parse_time(query["end"], "end")) if "end" in query else pd.Timestamp(now)
    start = start if start is not None else end.tz_convert(calendar.EXCHANGE_TZ).normalize()
    if end < start:
        raise bad_request(f"end {end.isoformat()} is before start {start.isoformat()}")
    return BarsQuery(
        symbols=symbols,
        minutes=minutes,
        start=start,
        end=end,
        limit=parse_int(query.get("limit", "1000"), "limit", 1, MAX_PAGE),
        offset=parse_int(query.get("page_token", "0"), "page_token", 0, 2**62),
        descending=query.get("sort") == "desc",
    )


def _local_day(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_convert(calendar.EXCHANGE_TZ).tz_localize(None).normalize()


def _stamped_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily bars stamped at midnight New York time, as Alpaca stamps them."""
    stamps = pd.to_datetime(daily["date"]).dt.tz_localize(calendar.EXCHANGE_TZ)
    return daily.drop(columns="date").assign(stamp=stamps.to_numpy())


def _stamped_intraday(minutes: pd.DataFrame, width: int) -> pd.DataFrame:
    """Minute bars (``timestamp`` = start) aggregated to ``width``-minute bars, labelled by their start."""
    if minutes.empty:
        never = pd.Series(dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"symbol": pd.Series(dtype=str), **{c: pd.Series(dtype=float) for c in OHLCV}}).assign(
            stamp=never, ready=never
        )
    frame = minutes.assign(stamp=pd.to_datetime(minutes["timestamp"], utc=True).dt.floor(f"{width}min"))
    grouped = frame.sort_values("timestamp").groupby(["symbol", "stamp"], as_index=False)
    bars = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"))
    bars["volume"] = grouped["volume"].sum()["volume"].to_numpy()
    return bars.assign(ready=bars["stamp"] + pd.Timedelta(minutes=width))


def bars_page(
    daily: pd.DataFrame,
    intraday: pd.DataFrame | None,
    query: BarsQuery,
    now: datetime,
    page_size: int,
    serve_future: bool,
) -> dict[str, Any]:
    """One page of bars for ``query`` as Alpaca's JSON (``bars`` by symbol, ``next_page_token``)."""
    if query.minutes is None:
        days = pd.to_datetime(daily["date"])
        # A day either side of the window in New York dates: only those rows are stamped, then filtered exactly.
        near = days.between(
            _local_day(query.start) - pd.Timedelta(days=1), _local_day(query.end) + pd.Timedelta(days=1)
        )
        source = daily[near & daily["symbol"].isin(query.symbols)]
        if not serve_future:  # a session's bar exists from its close on
            source = source[pd.to_datetime(source["date"]) <= pd.Timestamp(last_closed_day(now))]
        frame = _stamped_daily(source)
    else:
        minutes = intraday if intraday is not None else pd.DataFrame(columns=["timestamp", "symbol", *OHLCV])
        frame = _stamped_intraday(minutes[minutes["symbol"].isin(query.symbols)], query.minutes)
        if not serve_future:
            frame = frame[frame["ready"] <= pd.Timestamp(now)]
    frame = frame[(frame["stamp"] >= query.start) & (frame["stamp"] <= query.end)]
    frame = frame.sort_values(["symbol", "stamp"], ascending=[True, not query.descending])
    limit = min(query.limit, page_size)
    page = frame.iloc[query.offset : query.offset + limit]
    bars: dict[str, list[dict[str, Any]]] = {}
    for row in page.itertuples(index=False):
        bars.setdefault(row.symbol, []).append(
            {
                "t": iso(pd.Timestamp(row.stamp).to_pydatetime()),
                "o": row.open,
                "h": row.high,
                "l": row.low,
                "c": row.close,
                "v": row.volume,
                "n": 1000,
                "vw": round((row.high + row.low + row.close) / 3, 4),
            }
        )
    more = query.offset + limit < len(frame)
    return {"bars": bars, "next_page_token": str(query.offset + limit) if more else None}


def last_closed_day(now: datetime) -> date:
    """The latest day whose session (if it is one) has closed by ``now``: today after the close, else yesterday."""
    today = pd.Timestamp(now).tz_convert(calendar.EXCHANGE_TZ).date()
    closed = calendar.is_session(today) and now >= calendar.session_close(today)
    return today if closed else today - timedelta(days=1)


def session_bars(daily: pd.DataFrame, session: date) -> dict[str, Bar]:
    """Each symbol's bar of ``session`` (symbols that did not trade that day have none)."""
    rows = daily[pd.to_datetime(daily["date"]) == pd.Timestamp(session)]
    return {r.symbol: Bar(r.open, r.high, r.low, r.close) for r in rows.itertuples(index=False)}


def check_columns(daily: pd.DataFrame) -> pd.DataFrame:
    missing = {"date", "symbol", *OHLCV} - set(daily.columns)
    if missing:
        raise ValueError(f"daily bars need columns date, symbol, {', '.join(OHLCV)}; missing {sorted(missing)}")
    return daily


def most_actives(daily: pd.DataFrame, query: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """GET /v1beta1/screener/stocks/most-actives: the symbols of the last closed session ranked by its volume (ties
    by symbol), ``top`` of them. The sandbox has no trade counts, so it ranks ``by=volume`` only."""
    by = parse_choice(query.get("by", "volume"), "by", ("volume", "trades"))
    if by != "volume":
        raise unprocessable("the sandbox's daily bars have no trade counts: rank by volume")
    top = parse_int(query.get("top", "10"), "top", 1, MOST_ACTIVES_LIMIT)
    days = pd.to_datetime(daily["date"])
    last = days[days <= pd.Timestamp(last_closed_day(now))].max()  # NaT without a closed session: no row
    ranked = daily[days == last].sort_values(["volume", "symbol"], ascending=[False, True]).head(top)
    return {
        "most_actives": [
            {"symbol": str(s), "volume": float(v), "trade_count": 0.0}
            for s, v in zip(ranked["symbol"], ranked["volume"], strict=True)
        ],
        "last_updated": iso(pd.Timestamp(now)),
    }
