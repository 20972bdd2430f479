"""What a bars provider returns, and the cache-aware fetch every provider shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from trading_pipeline.domain.schema import BAR_COLUMNS
from trading_pipeline.integrations.bar_cache import BarCache

NO_BARS = "no bars in the requested range"


@dataclass(frozen=True)
class ProviderBars:
    """Bars in schema.BAR_COLUMNS, and why each requested symbol that has none has none."""

    bars: pd.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    cache_hits: int = 0


def empty_bars() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame["date"] = frame["date"].astype("datetime64[ns]")
    frame["symbol"] = frame["symbol"].astype("object")
    return frame


def fetch_with_cache(
    symbols: Sequence[str],
    request: Mapping[str, str],
    cache: BarCache | None,
    fetch: Callable[[list[str]], tuple[pd.DataFrame, dict[str, str]]],
) -> ProviderBars:
    """Serve each symbol from ``cache`` when fresh; fetch the rest in one call and cache what came back.

    ``fetch`` returns BAR_COLUMNS rows and a reason for symbols it could not serve (those are not cached:
    an error is worth retrying, an empty answer is not).
    """
    frames: list[pd.DataFrame] = []
    todo: list[str] = []
    hits = 0
    for symbol in symbols:
        cached = cache.get({**request, "symbol": symbol}) if cache else None
        if cached is None:
            todo.append(symbol)
        else:
            hits += 1
            frames.append(cached)
    missing: dict[str, str] = {}
    if todo:
        fetched, failed = fetch(todo)
        missing.update(failed)
        by_symbol = dict(tuple(fetched.groupby("symbol", sort=False))) if len(fetched) else {}
        for symbol in todo:
            if symbol in failed:
                continue
            rows = by_symbol.get(symbol, empty_bars())[BAR_COLUMNS].reset_index(drop=True)
            if cache:
                cache.put({**request, "symbol": symbol}, rows)
            frames.append(rows)
    bars = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else empty_bars()
    served = set(bars["symbol"].unique())
    for symbol in symbols:
        if symbol not in served and symbol not in missing:
            missing[symbol] = NO_BARS
    bars = bars.sort_values(["symbol", "date"], ignore_index=True)
    return ProviderBars(bars=bars[BAR_COLUMNS], missing=missing, cache_hits=hits)
