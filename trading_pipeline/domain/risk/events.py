"""Risk events as the risk engine raises them: non-finite figures become missing, never NaN in the journal."""

from __future__ import annotations

import math
from datetime import date

from trading_pipeline.domain.book import RiskEvent


def risk_event(
    session: date, symbol: str | None, rule: str, action: str, value: float | None, limit: float | None, message: str
) -> RiskEvent:
    """One event; ``value`` and ``limit`` are kept only when finite."""
    clean = [None if v is None or not math.isfinite(v) else float(v) for v in (value, limit)]
    return RiskEvent(
        session=session, symbol=symbol, rule=rule, action=action, value=clean[0], limit=clean[1], message=message
    )  # type: ignore[arg-type]
