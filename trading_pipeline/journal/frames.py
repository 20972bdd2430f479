"""Frames on their way into the journal: every value checked against its table before a transaction opens.

A bad frame raises ``ValueError`` naming the table, the column and the offending values, and nothing is written.
Every check is column-wise: a backtest writes hundreds of thousands of rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Date, DateTime, Double, Table

from trading_pipeline.domain.book import SIDES
from trading_pipeline.domain.llm.calls import CHOICE_OUTCOMES, Outcome, Step
from trading_pipeline.journal.tables import OrderStatus, RiskAction

type DateLike = date | datetime | pd.Timestamp | np.datetime64 | str

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Rules:
    """Checks beyond types and nullability that a frame must pass before it is written."""

    choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    positive: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    may_be_empty: tuple[str, ...] = ()


_SIDES = frozenset(SIDES)
RULES: dict[str, Rules] = {
    "orders": Rules(
        choices={"side": _SIDES, "status": frozenset(OrderStatus)},
        positive=("qty",),
        unique=(("client_order_id",),),
        may_be_empty=("reason",),
    ),
    "fills": Rules(choices={"side": _SIDES}, positive=("qty",), unique=(("fill_id",),)),
    "positions": Rules(unique=(("session", "symbol"),)),
    "equity": Rules(unique=(("session",),)),
    "risk_events": Rules(choices={"action": frozenset(RiskAction)}, may_be_empty=("message",)),
    "llm_calls": Rules(choices={"outcome": frozenset(Outcome), "step": frozenset(Step)}),
    "audit_reports": Rules(unique=(("session",),)),
    "strategy_choices": Rules(choices={"outcome": CHOICE_OUTCOMES}, unique=(("session", "symbol"),)),
    "watchlist": Rules(unique=(("session", "symbol"),), may_be_empty=("divergence",)),
    "watchlist_returns": Rules(unique=(("suggested_on", "symbol", "horizon"),)),
}


def to_session_date(value: DateLike) -> date:
    """A session date from a date, datetime, pandas Timestamp, numpy datetime64 or 'YYYY-MM-DD' string."""
    if value is pd.NaT:
        raise ValueError("a session date is missing (NaT)")
    if isinstance(value, datetime):  # also pd.Timestamp; checked before date, its base class
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("a session date is missing (NaT)")
        return pd.Timestamp(value).date()
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a valid session date: {value!r}") from exc
    raise ValueError(
        f"not a session date: {value!r} (expected a date, datetime, pandas Timestamp or 'YYYY-MM-DD' string)"
    )


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; the journal writes them in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def require_label(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    return value


def validated_columns(
    table: Table, rules: Rules, rows: pd.DataFrame, sessions: set[date], context: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Validate ``rows`` against ``table`` and return their values column by column (object arrays of the Python
    values the drivers take, None for missing), context columns included. Every check is column-wise: a
    backtest writes hundreds of thousands of strategy choices."""
    name = table.name
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"{name}: rows must be a pandas DataFrame, got {type(rows).__name__}")
    if len(rows) == 0:
        return {}
    frame_columns = [column for column in table.columns if column.name != "id" and column.name not in context]
    known = {column.name for column in frame_columns} | set(context)
    if rows.columns.duplicated().any():
        raise ValueError(f"{name}: duplicate column names {sorted(map(str, rows.columns[rows.columns.duplicated()]))}")
    unknown = sorted(str(column) for column in rows.columns if column not in known)
    if unknown:
        raise ValueError(f"{name}: columns {unknown} are not journal columns; expected {sorted(known)}")
    missing = [
        column.name
        for column in frame_columns
        if column.name not in rows.columns and not column.nullable and not isinstance(column.type, DateTime)
    ]
    if missing:
        raise ValueError(f"{name}: missing required columns {missing}")
    for key, expected in context.items():
        if key in rows.columns:
            others = rows[key][rows[key] != expected]
            if len(others):
                raise ValueError(f"{name}: column {key!r} holds {show(others.unique())}, not {expected!r}")

    count = len(rows)
    values: dict[str, np.ndarray] = {key: np.full(count, value, dtype=object) for key, value in context.items()}
    for column in frame_columns:
        label = f"{name}: column {column.name!r}"
        if column.name not in rows.columns:
            default = datetime.now(UTC) if isinstance(column.type, DateTime) else None
            values[column.name] = np.full(count, default, dtype=object)
        elif column.name == "session":
            values["session"] = _session_values(rows["session"], label, sessions, bool(column.nullable))
        elif isinstance(column.type, Double):
            positive = column.name in rules.positive
            values[column.name] = _float_values(rows[column.name], label, bool(column.nullable), positive)
        elif isinstance(column.type, DateTime):
            values[column.name] = _timestamp_values(rows[column.name], label)
        elif isinstance(column.type, Date):
            values[column.name] = _date_values(rows[column.name], label)
        else:
            values[column.name] = _string_values(
                rows[column.name], label, bool(column.nullable), column.name in rules.may_be_empty
            )

    for column_name, allowed in rules.choices.items():
        bad = set(pd.unique(values[column_name])) - allowed
        if bad:
            raise ValueError(f"{name}: column {column_name!r} holds {show(bad)}; allowed: {sorted(allowed)}")
    for unique_key in rules.unique:
        if pd.MultiIndex.from_arrays([values[column_name] for column_name in unique_key]).has_duplicates:
            keys = zip(*(values[column_name] for column_name in unique_key), strict=True)
            raise ValueError(f"{name}: {unique_key} must be unique, repeated: {show(duplicates(keys))}")
    return values


def _session_values(series: pd.Series, label: str, sessions: set[date], nullable: bool = False) -> np.ndarray:
    codes, uniques = pd.factorize(series)
    missing = int((codes < 0).sum())
    if missing and not nullable:
        raise ValueError(f"{label}: {missing} row(s) have no session")
    if len(uniques) == 0:
        return np.full(len(series), None, dtype=object)
    dates = np.empty(len(uniques), dtype=object)
    dates[:] = [to_session_date(value) for value in uniques]
    outside = sorted(set(dates) - sessions)
    if outside:
        rows_outside = int(np.isin(dates[codes], outside).sum())
        raise ValueError(
            f"{label}: {rows_outside} row(s) fall on sessions {show(outside)}, which are not among the sessions "
            f"being replaced {show(sorted(sessions))}"
        )
    picked = dates[codes]
    picked[codes < 0] = None
    return picked


def _float_values(series: pd.Series, label: str, nullable: bool, positive: bool) -> np.ndarray:
    try:
        array = series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must be numeric: {exc}") from exc
    missing = np.isnan(array)
    if missing.any() and not nullable:
        raise ValueError(f"{label} has {int(missing.sum())} NaN/missing row(s) of {len(array)}")
    if np.isinf(array).any():
        raise ValueError(f"{label} has {int(np.isinf(array).sum())} infinite row(s)")
    if positive and (array[~missing] <= 0).any():
        raise ValueError(f"{label} must be positive; {int((array[~missing] <= 0).sum())} row(s) are not")
    values = array.astype(object)  # Python floats
    values[missing] = None
    return values


def _string_values(series: pd.Series, label: str, nullable: bool, may_be_empty: bool) -> np.ndarray:
    missing = series.isna().to_numpy()
    if missing.any() and not nullable:
        raise ValueError(f"{label} has {int(missing.sum())} missing row(s) of {len(series)}")
    # The loop only runs to name the first offending value.
    present = series[~missing]
    if len(present) and pd.api.types.infer_dtype(present, skipna=False) != "string":
        value = next(v for v in present.astype(object) if not isinstance(v, str))
        raise ValueError(f"{label} must hold strings, found {type(value).__name__} {value!r}")
    if not may_be_empty and present.eq("").any():
        raise ValueError(f"{label} has empty strings")
    return series.to_numpy(dtype=object, na_value=None)


def _date_values(series: pd.Series, label: str) -> np.ndarray:
    """A date column other than the session (e.g. the session a later row refers to): every value a date."""
    try:
        parsed = pd.to_datetime(series, format="ISO8601") if series.dtype == object else pd.to_datetime(series)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{label}: not a date: {exc}") from None
    if parsed.isna().any():
        raise ValueError(f"{label}: {int(parsed.isna().sum())} missing date(s)")
    return np.asarray(parsed.dt.date, dtype=object)


def _timestamp_values(series: pd.Series, label: str) -> np.ndarray:
    try:
        stamps = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label} must hold timestamps: {exc}") from exc
    if stamps.isna().any():
        raise ValueError(f"{label} has {int(stamps.isna().sum())} missing row(s)")
    return np.asarray(stamps.dt.to_pydatetime(), dtype=object)


def duplicates[T](items: Iterable[T]) -> list[T]:
    return [item for item, seen in Counter(items).items() if seen > 1]


def show(items: Iterable[Any], limit: int = 5) -> str:
    """A short rendering of offending values for error messages (dates as ISO strings)."""
    shown = [item.isoformat() if isinstance(item, date) else item for item in items]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return f"{shown[:limit]}{more}"
