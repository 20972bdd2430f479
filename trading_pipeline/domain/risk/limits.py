"""The hard risk limits of a book, each declared once with its bounds and what it means (DESIGN section 6).

``RiskLimits`` is the one declaration: the sizer, the circuit breaker and the independent verification read it, and
the ``TradingBook`` resource exposes exactly these fields as its configuration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskLimits(BaseModel):
    """Per-book risk limits; fractions are of equity at decision time.

    Circuit breaker: trips when the drawdown from its peak exceeds ``max_drawdown`` or after
    ``max_losing_streak`` consecutive losing round trips. A drawdown trip resumes once the drawdown is
    back within ``resume_drawdown`` or, if set, after ``drawdown_cooloff_sessions`` closes (the peak is
    then rebased to the equity at the resume); a losing-streak trip resumes at the next winning round
    trip or after ``streak_cooloff_sessions`` closes (the streak so far is then acknowledged).
    ``reset_breaker`` is the manual reset. Exits: a fixed ATR stop, a trailing stop (``atr``: k × ATR
    at entry below the high-water mark; ``percent``: a fraction below it), the signal's take-profit
    target (or ``take_profit_atr_multiple`` × ATR above the close) and a time stop.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_per_trade: float = Field(
        default=0.02, gt=0.0, le=1.0, description="Money at risk to the stop per trade, as a fraction of equity."
    )
    atr_stop_multiple: float = Field(
        default=1.5, gt=0.0, le=20.0, description="Stop distance below the entry, in ATR14s (sizes every buy)."
    )
    max_position_pct: float = Field(default=0.20, gt=0.0, le=1.0, description="Largest position, fraction of equity.")
    max_sector_pct: float = Field(
        default=0.30, gt=0.0, le=1.0, description="Largest sector (bundled GICS map), fraction of equity."
    )
    max_open_positions: int = Field(default=10, ge=1, description="Most positions open at once.")
    max_shares_per_order: int = Field(default=10_000, ge=1, description="Most shares one buy may ask for.")
    min_confidence: float = Field(default=0.3, ge=0.0, le=1.0, description="Weakest signal that may open a position.")
    cash_buffer_pct: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Cash kept back from buys, as a fraction of equity."
    )
    max_daily_loss: float = Field(
        default=0.05, gt=0.0, le=1.0, description="A day losing more than this fraction takes no new risk."
    )
    max_drawdown: float = Field(
        default=0.20, gt=0.0, lt=1.0, description="Circuit breaker: trips past this drawdown from its peak."
    )
    resume_drawdown: float = Field(
        default=0.15, gt=0.0, lt=1.0, description="Circuit breaker: a drawdown trip resumes back within this drawdown."
    )
    drawdown_cooloff_sessions: int | None = Field(
        default=None,
        ge=1,
        description="Circuit breaker: resume a drawdown trip after this many closes (peak rebased); None: only by "
        "recovery or a manual reset.",
    )
    max_losing_streak: int = Field(
        default=10, ge=1, description="Circuit breaker: trips after this many losing round trips in a row."
    )
    streak_cooloff_sessions: int = Field(
        default=5, ge=1, description="Circuit breaker: a losing-streak trip resumes after this many closes."
    )
    trailing_stop: Literal["none", "atr", "percent"] = Field(
        default="atr", description="Trailing stop below the high-water mark: none, atr (a multiple of ATR) or percent."
    )
    trailing_atr_multiple: float = Field(
        default=3.0, gt=0.0, le=50.0, description="Trailing distance in ATR14s at entry (trailing_stop=atr)."
    )
    trailing_pct: float = Field(
        default=0.10, gt=0.0, lt=1.0, description="Trailing distance as a fraction (trailing_stop=percent)."
    )
    take_profit_atr_multiple: float | None = Field(
        default=None,
        gt=0.0,
        le=100.0,
        description="Target in ATR14s above the close when a signal has none; None: no target.",
    )
    max_holding_sessions: int | None = Field(
        default=None, ge=1, description="Time stop: sell after this many closes held; None: no time stop."
    )

    @model_validator(mode="after")
    def _resume_below_trip(self) -> RiskLimits:
        if self.resume_drawdown >= self.max_drawdown:
            raise ValueError(
                f"resume_drawdown {self.resume_drawdown} must be below max_drawdown {self.max_drawdown}, "
                "or the breaker would resume as soon as it trips"
            )
        return self
