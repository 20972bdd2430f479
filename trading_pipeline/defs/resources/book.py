"""The trading book's identity, capital and hard risk limits."""

from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.domain.risk import RiskLimits

# RiskLimits owns the defaults and the cross-field rules; the resource only exposes them as config.
_DEFAULT = RiskLimits()


class TradingBook(ConfigurableResource):
    """Which book the cycle trades and the limits no step may exceed (DESIGN section 6)."""

    book: str = Field(default="paper", description="Book name: journal rows and order ids are scoped by it.")
    initial_capital: float = Field(default=100_000.0, gt=0, description="Cash of a book's first session.")
    risk_per_trade: float = Field(default=_DEFAULT.risk_per_trade, gt=0, le=1)
    atr_stop_multiple: float = Field(default=_DEFAULT.atr_stop_multiple, gt=0)
    max_position_pct: float = Field(default=_DEFAULT.max_position_pct, gt=0, le=1)
    max_sector_pct: float = Field(default=_DEFAULT.max_sector_pct, gt=0, le=1, description="Bundled sector map.")
    max_open_positions: int = Field(default=_DEFAULT.max_open_positions, ge=1)
    max_shares_per_order: int = Field(default=_DEFAULT.max_shares_per_order, ge=1)
    min_confidence: float = Field(default=_DEFAULT.min_confidence, ge=0, le=1)
    max_daily_loss: float = Field(
        default=_DEFAULT.max_daily_loss, gt=0, le=1, description="A day losing more takes no new risk."
    )
    max_drawdown: float = Field(default=_DEFAULT.max_drawdown, gt=0, lt=1, description="Circuit breaker trip.")
    resume_drawdown: float = Field(
        default=_DEFAULT.resume_drawdown, gt=0, lt=1, description="Circuit breaker resumes back within this drawdown."
    )
    drawdown_cooloff_sessions: int | None = Field(
        default=_DEFAULT.drawdown_cooloff_sessions,
        description="Resume a drawdown trip after this many closes (peak rebased); None: only recovery or reset.",
    )
    max_losing_streak: int = Field(default=_DEFAULT.max_losing_streak, ge=1, description="Losing round trips in a row.")
    streak_cooloff_sessions: int = Field(default=_DEFAULT.streak_cooloff_sessions, ge=1)
    trailing_stop: str = Field(default=_DEFAULT.trailing_stop, description="none, atr or percent.")
    trailing_atr_multiple: float = Field(default=_DEFAULT.trailing_atr_multiple, gt=0)
    trailing_pct: float = Field(default=_DEFAULT.trailing_pct, gt=0, lt=1)
    take_profit_atr_multiple: float | None = Field(
        default=_DEFAULT.take_profit_atr_multiple, description="Target when a signal has none; None: no target."
    )
    max_holding_sessions: int | None = Field(default=_DEFAULT.max_holding_sessions, description="Time stop.")
    max_quarantined_share: float = Field(
        default=0.20, ge=0, le=1, description="A session with more of the universe quarantined takes no orders."
    )

    def limits(self) -> RiskLimits:
        exposed = [name for name in RiskLimits.model_fields if name != "cash_buffer_pct"]
        return RiskLimits(**{name: getattr(self, name) for name in exposed})
