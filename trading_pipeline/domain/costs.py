"""Trading costs: one model shared by the sizer (estimates) and the simulated broker (fills).

Sizing with the very formulas the broker charges is what keeps a sized buy affordable at the fill
unless the open gaps away from the close.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class CostModel(BaseModel):
    """Per-share commission with a per-order minimum, and slippage in basis points against the trader."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_per_share: float = Field(default=0.005, ge=0.0, allow_inf_nan=False)
    min_commission: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    slippage_bps: float = Field(default=5.0, ge=0.0, lt=10_000.0, allow_inf_nan=False)

    @property
    def slippage_rate(self) -> float:
        return self.slippage_bps / 10_000.0

    def commission(self, qty: float) -> float:
        return max(self.min_commission, self.commission_per_share * qty)

    def fill_price(self, side: str, price: float) -> float:
        """Price paid (buy) or received (sell) for a market order at ``price``."""
        if side == "buy":
            return price * (1.0 + self.slippage_rate)
        if side == "sell":
            return price * (1.0 - self.slippage_rate)
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")

    def buy_cost(self, qty: float, price: float) -> float:
        """Cash a buy of ``qty`` at reference ``price`` consumes, slippage and commission included."""
        return qty * self.fill_price("buy", price) + self.commission(qty)

    def affordable_qty(self, budget: float, price: float) -> int:
        """Most whole shares a buy at reference ``price`` can take without its cost exceeding ``budget``.

        cost(q) = q·p' + max(min_c, c·q) ≤ budget  ⇔  q·p' + min_c ≤ budget  and  q·(p' + c) ≤ budget.
        """
        if not math.isfinite(budget) or budget <= 0:
            return 0
        slipped = self.fill_price("buy", price)
        qty = max(
            0,
            min(
                math.floor((budget - self.min_commission) / slipped),
                math.floor(budget / (slipped + self.commission_per_share)),
            ),
        )
        while qty > 0 and self.buy_cost(qty, price) > budget:  # float rounding at the boundary
            qty -= 1
        return qty
