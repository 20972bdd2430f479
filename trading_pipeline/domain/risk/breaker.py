"""The circuit breaker and the daily loss limit: when a book may take no new risk.

``update_risk_state`` keeps the breaker (drawdown from its peak, losing streak) at each close, by the rules of
``RiskLimits``; ``new_risk_block`` says why no buy may be sized now; ``reset_breaker`` is the manual reset. While the
breaker is tripped, and on a day past the daily loss limit, only risk-reducing orders (sells) pass.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from trading_pipeline.domain.book import BookState, RiskEvent, as_session
from trading_pipeline.domain.risk.events import risk_event
from trading_pipeline.domain.risk.limits import RiskLimits


def new_risk_block(state: BookState, limits: RiskLimits) -> tuple[str, float, float, str] | None:
    """Why no new risk may be taken at this close (rule, value, limit, message), or None."""
    if state.breaker == "drawdown":
        dd = state.equity / state.breaker_peak - 1.0
        return "circuit_breaker", dd, -limits.max_drawdown, f"circuit breaker tripped on drawdown ({dd:.1%})"
    if state.breaker == "losing_streak":
        streak = float(state.losing_streak - state.streak_floor)
        message = f"circuit breaker tripped on {streak:.0f} consecutive losing round trips"
        return "circuit_breaker", streak, float(limits.max_losing_streak), message
    if state.day_start_equity is not None and state.day_start_equity > 0:
        day = state.equity / state.day_start_equity - 1.0
        if day < -limits.max_daily_loss:
            return "daily_loss_limit", day, -limits.max_daily_loss, f"the day lost {day:.2%}: no new risk today"
    return None


_BREAKER_FIELDS = ("breaker", "breaker_since", "breaker_sessions", "risk_peak", "streak_floor")


def with_risk_state(state: BookState, source: BookState) -> BookState:
    """``state`` carrying ``source``'s circuit breaker state (the fields ``update_risk_state`` owns)."""
    return replace(state, **{f: getattr(source, f) for f in _BREAKER_FIELDS})


def _state_event(session: date, message: str, value: float | None, limit: float | None) -> RiskEvent:
    return risk_event(session, None, "circuit_breaker", "info", value, limit, message)  # type: ignore[arg-type]


def update_risk_state(state: BookState, session: date, limits: RiskLimits) -> tuple[BookState, list[RiskEvent]]:
    """The circuit breaker after ``session``'s close: trip, stay, or resume by the rules of ``RiskLimits``."""
    session = as_session(session)
    peak = max(state.breaker_peak, state.equity)
    floor = state.streak_floor if state.losing_streak >= state.streak_floor else 0  # a win reset the streak
    breaker, since, held = state.breaker, state.breaker_since, state.breaker_sessions
    events: list[RiskEvent] = []

    def drawdown() -> float:
        return state.equity / peak - 1.0

    if breaker is not None:
        held += 1
        if breaker == "drawdown" and drawdown() >= -limits.resume_drawdown:
            message = f"resumed: drawdown back to {drawdown():.1%}, within {limits.resume_drawdown:.0%}"
            events.append(_state_event(session, message, drawdown(), -limits.resume_drawdown))
            breaker = None
        elif breaker == "drawdown" and limits.drawdown_cooloff_sessions and held >= limits.drawdown_cooloff_sessions:
            message = f"resumed after a {held}-session cool-off at drawdown {drawdown():.1%}; peak rebased to equity"
            events.append(_state_event(session, message, drawdown(), -limits.max_drawdown))
            breaker, peak = None, state.equity
        elif breaker == "losing_streak" and state.losing_streak - floor < limits.max_losing_streak:
            message = "resumed: a winning round trip ended the losing streak"
            events.append(_state_event(session, message, float(state.losing_streak - floor), limits.max_losing_streak))
            breaker = None
        elif breaker == "losing_streak" and held >= limits.streak_cooloff_sessions:
            streak = state.losing_streak - floor
            message = f"resumed after a {held}-session cool-off; the streak of {streak} is acknowledged"
            events.append(_state_event(session, message, float(state.losing_streak - floor), limits.max_losing_streak))
            breaker, floor = None, state.losing_streak
    if breaker is None:
        since, held = None, 0
        streak = state.losing_streak - floor
        if drawdown() < -limits.max_drawdown:
            breaker = "drawdown"
            message = f"tripped: drawdown {drawdown():.1%} from the peak {peak:,.2f} exceeds {limits.max_drawdown:.0%}"
            events.append(_state_event(session, message, drawdown(), -limits.max_drawdown))
        elif streak >= limits.max_losing_streak:
            breaker = "losing_streak"
            message = f"tripped: {streak} consecutive losing round trips (limit {limits.max_losing_streak})"
            events.append(_state_event(session, message, float(streak), float(limits.max_losing_streak)))
        since = session if breaker is not None else None
    new = replace(
        state, breaker=breaker, breaker_since=since, breaker_sessions=held, risk_peak=peak, streak_floor=floor
    )
    return new, events


def reset_breaker(state: BookState, session: date, operator: str, reason: str) -> tuple[BookState, RiskEvent]:
    """Manual reset: the breaker clears, its peak is rebased to the current equity and the streak is acknowledged."""
    if not operator.strip() or not reason.strip():
        raise ValueError("a manual breaker reset needs an operator and a reason")
    was = state.breaker or "not tripped"
    new = replace(
        state,
        breaker=None,
        breaker_since=None,
        breaker_sessions=0,
        risk_peak=state.equity,
        streak_floor=state.losing_streak,
    )
    message = f"manual reset by {operator} (was {was}): {reason}"
    return new, _state_event(as_session(session), message, state.equity / state.breaker_peak - 1.0, None)
