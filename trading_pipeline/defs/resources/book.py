"""The trading book's identity, capital and hard risk limits."""

from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.domain.risk import RiskLimits


class TradingBook(ConfigurableResource):
    """Which book the cycle trades and the limits no step may exceed (DESIGN section 6)."""

    book: str = Field(default="paper", description="Book name: journal rows and order ids are scoped by it.")
    initial_capital: float = Field(default=100_000.0, gt=0, description="Cash of a book's first session.")
    risk_per_trade: float = Field(default=0.02, gt=0, le=1)
    atr_stop_multiple: float = Field(default=1.5, gt=0)
    max_position_pct: float = Field(default=0.20, gt=0, le=1)
    max_open_positions: int = Field(default=10, ge=1)
    max_shares_per_order: int = Field(default=10_000, ge=1)
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    max_quarantined_share: float = Field(
        default=0.20, ge=0, le=1, description="A session with more of the universe quarantined takes no orders."
    )

    def limits(self) -> RiskLimits:
        return RiskLimits(
            risk_per_trade=self.risk_per_trade,
            atr_stop_multiple=self.atr_stop_multiple,
            max_position_pct=self.max_position_pct,
            max_open_positions=self.max_open_positions,
            max_shares_per_order=self.max_shares_per_order,
            min_confidence=self.min_confidence,
        )
