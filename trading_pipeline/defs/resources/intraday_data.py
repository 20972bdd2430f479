"""Intraday bars: one interface, an offline replay of the bundled SPY minute file, and Alpaca behind it.

Every provider answers in the intraday convention of ``domain.intraday``: 1-minute bars keyed by their
END time in UTC. The intraday cycle resamples them to 15-minute regular-hours bars itself, so every
provider is treated alike. A provider also says what time it is: the replay runs on a configurable clock
(a replayed instant), so schedules and sensors can be evaluated on 2011's bars.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.defs.resources.market_data import AlpacaMarketData
from trading_pipeline.domain import calendar
from trading_pipeline.domain import intraday as intraday_rules
from trading_pipeline.integrations import alpaca_data

SAMPLE_MINUTE_BARS = Path(__file__).resolve().parents[2] / "data" / "minute_spy_2011-01_2011-03.csv.gz"


class IntradayData(ConfigurableResource):
    """Minute bars point-in-time: nothing ending after the requested instant is ever returned."""

    symbols: list[str] | None = Field(
        default=None, description="Universe watched intraday; None means every symbol the provider has."
    )

    @property
    @abstractmethod
    def provider(self) -> str:
        """A short name for metadata (never a key)."""

    @abstractmethod
    def minute_bars(self, start: datetime, end: datetime) -> pd.DataFrame:
        """1-minute bars of the universe with ``start < bar_end <= end`` (``domain.intraday.BAR_COLUMNS``)."""

    def now(self) -> datetime:
        """The provider's clock (UTC)."""
        return datetime.now(UTC)

    def session_bars(self, session: date, as_of: datetime, minutes: int = 15) -> pd.DataFrame:
        """``session``'s regular-hours bars of ``minutes``, those complete at ``as_of`` only."""
        opening, close = intraday_rules.session_hours(session)
        end = min(pd.Timestamp(as_of), close)
        if end <= opening:
            return intraday_rules.empty_bars()
        minute = intraday_rules.validate_minute_bars(self.minute_bars(opening.to_pydatetime(), end.to_pydatetime()))
        return intraday_rules.known_at(intraday_rules.resample(minute, session, minutes), end)

    def latest_prices(self, as_of: datetime) -> dict[str, float]:
        """The last regular-hours close per symbol at ``as_of`` in the session of ``as_of``."""
        session = intraday_rules.session_of(as_of)
        if not calendar.is_session(session):
            return {}
        opening, close = intraday_rules.session_hours(session)
        end = min(pd.Timestamp(as_of), close)
        if end <= opening:
            return {}
        return intraday_rules.last_close(self.minute_bars(opening.to_pydatetime(), end.to_pydatetime()))

    def previous_closes(self, session: date) -> dict[str, float]:
        """Each symbol's close of the previous session (its last regular-hours minute)."""
        previous = calendar.previous_session(session).date()
        opening, close = intraday_rules.session_hours(previous)
        return intraday_rules.last_close(self.minute_bars(opening.to_pydatetime(), close.to_pydatetime()))

    def universe(self) -> list[str] | None:
        return None if self.symbols is None else sorted({s.strip().upper() for s in self.symbols})


@lru_cache(maxsize=2)
def _load_minute_file(path: str) -> pd.DataFrame:
    """Parse and validate a minute file once per process (32k rows: ~0.1 s)."""
    raw = pd.read_csv(path)
    if "bar_end_utc" not in raw.columns:
        raise ValueError(f"{path}: expected a bar_end_utc column (UTC bar END times), got {list(raw.columns)}")
    raw["bar_end"] = pd.to_datetime(raw["bar_end_utc"], utc=True)
    return intraday_rules.validate_minute_bars(raw)


class ReplayIntradayData(IntradayData):
    """Replays a minute file (the bundled SPY January/March 2011 bars by default) on a replay clock."""

    path: str | None = Field(default=None, description="Minute-bar CSV(.gz) with bar_end_utc; None: bundled SPY.")
    replay_now: str | None = Field(
        default=None,
        description="The replayed instant (ISO 8601 with offset) the sensors see as 'now'; None: the wall clock.",
    )

    @property
    def provider(self) -> str:
        return f"replay:{Path(self.path).name if self.path else SAMPLE_MINUTE_BARS.name}"

    def now(self) -> datetime:
        if self.replay_now is None:
            return super().now()
        stamp = pd.Timestamp(self.replay_now)
        if stamp.tz is None:
            raise ValueError(f"replay_now must carry a UTC offset, got {self.replay_now!r}")
        return stamp.tz_convert("UTC").to_pydatetime()

    def minute_bars(self, start: datetime, end: datetime) -> pd.DataFrame:
        frame = _load_minute_file(str(Path(self.path).resolve()) if self.path else str(SAMPLE_MINUTE_BARS))
        keep = (frame["bar_end"] > pd.Timestamp(start)) & (frame["bar_end"] <= pd.Timestamp(end))
        universe = self.universe()
        if universe is not None:
            keep &= frame["symbol"].isin(universe)
        return frame[keep].reset_index(drop=True)


class AlpacaIntradayData(IntradayData):
    """Alpaca's 1-minute bars through the configured ``AlpacaMarketData`` (its keys, feed and rate limit)."""

    market_data: AlpacaMarketData

    @property
    def provider(self) -> str:
        return f"alpaca-minute:{self.market_data.feed}"

    def minute_bars(self, start: datetime, end: datetime) -> pd.DataFrame:
        symbols = self.universe() or self.market_data.universe()
        if not symbols:
            raise ValueError("AlpacaIntradayData needs a universe: configure `symbols` here or on market_data")
        # Alpaca labels a bar by its start; a minute bar starting at s ends at s + 1 minute.
        frame = alpaca_data.fetch_intraday_bars(
            self.market_data.client(), symbols, start, end - timedelta(minutes=1), 1, self.market_data.feed
        )
        frame = frame.assign(bar_end=pd.to_datetime(frame["timestamp"], utc=True) + pd.Timedelta(minutes=1))
        frame = frame[(frame["bar_end"] > pd.Timestamp(start)) & (frame["bar_end"] <= pd.Timestamp(end))]
        return intraday_rules.validate_minute_bars(frame)
