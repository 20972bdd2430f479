"""Alpaca's JSON conventions: decimal strings, UTC "Z" timestamps, and errors as ``{"code", "message"}``.

Every refusal the sandbox makes is an :class:`ApiError`, so a bad request always gets a JSON answer with
Alpaca's status and code, never a dropped connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

# Alpaca's error codes: the first three digits are the HTTP status.
BAD_REQUEST = 40010001
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000


class ApiError(Exception):
    """A refusal as Alpaca answers it: HTTP ``status``, a JSON body with ``code`` and ``message`` (and extras)."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def bad_request(message: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, message)


def unprocessable(message: str, code: int = BAD_REQUEST) -> ApiError:
    return ApiError(422, code, message)


def iso(moment: datetime) -> str:
    """A UTC RFC 3339 timestamp, as Alpaca writes ``created_at`` and bar times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def num(value: float | None) -> str | None:
    """Alpaca sends quantities and prices as decimal strings."""
    return None if value is None else f"{value:.10g}"


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 time or a date (midnight UTC); a naive time is UTC, as alpaca-py assumes."""
    try:
        # a "+" left unescaped in a query string arrives as a space
        stamp = pd.Timestamp(text.strip().replace(" ", "+") if "T" in text else text.strip())
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r} is not an RFC 3339 time") from None
    if stamp is pd.NaT:
        raise bad_request(f"invalid {name}: {text!r}")
    return (stamp.tz_localize(UTC) if stamp.tz is None else stamp).to_pydatetime()


def parse_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise bad_request(f"invalid {name}: {text!r} is not true or false")
    return lowered == "true"


def parse_int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r} is not an integer") from None
    if not low <= value <= high:
        raise bad_request(f"invalid {name}: {value} is not in [{low}, {high}]")
    return value


def parse_number(value: Any, name: str) -> float:
    """A positive finite number from a JSON number or decimal string (Alpaca accepts both)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise unprocessable(f"invalid {name}: {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise unprocessable(f"{name} must be > 0, got {value!r}")
    return number


def parse_choice(text: str, name: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise bad_request(f"invalid {name}: {text!r} is not one of {', '.join(choices)}")
    return text
