"""Re-dating bundled history onto recent NYSE sessions, so the sandbox trades real prices at today's dates.

The bundled sessions are mapped one to one, in order, onto the same number of XNYS sessions ending at
the chosen last session: the last bundled session becomes that session, the one before it the session
before, and so on. Holidays and early closes are today's; the prices, gaps and ranges are the bundle's.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from trading_pipeline.domain import calendar


def redate(bars: pd.DataFrame, last_session: date) -> pd.DataFrame:
    """``bars`` (BAR_COLUMNS) with each session's date moved onto the sessions ending at ``last_session``."""
    if not calendar.is_session(last_session):
        raise ValueError(f"cannot re-date onto {last_session}: not an {calendar.CALENDAR_NAME} session")
    bundled = pd.DatetimeIndex(sorted(pd.to_datetime(bars["date"]).unique()))
    if bundled.empty:
        raise ValueError("cannot re-date an empty set of bars")
    first = calendar.session_offset(last_session, -(len(bundled) - 1))
    target = calendar.sessions(first, last_session)
    moved = pd.Series(target, index=bundled)
    return bars.assign(date=pd.to_datetime(bars["date"]).map(moved).astype("datetime64[ns]"))
