"""A local Alpaca on 127.0.0.1: the trading and market-data endpoints the project uses, with realistic JSON.

Trading: GET /v2/account, /v2/clock, /v2/calendar, /v2/assets/{symbol}, /v2/positions, /v2/orders,
/v2/orders/{id}, /v2/orders:by_client_order_id; POST /v2/orders; DELETE /v2/orders/{id}. Data:
GET /v2/stocks/bars (daily and minute timeframes, paged with next_page_token).

Like Alpaca it authenticates with the APCA-API-* headers, refuses a second order with a known
client_order_id (422), an unknown symbol (422), a halted asset (422) and an order beyond buying power
(403). Failures can be scripted per (method, path) — including "commit the order, then answer 500", the
lost-answer case — and executions are driven by the test (``fill``, ``expire``), as an exchange would.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from trading_pipeline.domain import calendar

NEW_YORK = ZoneInfo("America/New_York")
API_KEY_PREFIX = "PKTEST"  # any key id with this prefix (one per test: its own rate-limit window)
API_KEY = "PKTEST0000000000FAKE"
SECRET_KEY = "fake-secret-0000000000000000000000000000"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.10g}"


@dataclass
class Scripted:
    """One scripted answer: ``commit`` lets the request take effect before the error is returned."""

    status: int
    body: dict[str, Any] = field(default_factory=lambda: {"code": 50010000, "message": "internal server error"})
    headers: dict[str, str] = field(default_factory=dict)
    commit: bool = False


@dataclass
class _Order:
    data: dict[str, Any]
    price_hint: float


class FakeAlpaca:
    """Start with ``with FakeAlpaca(...) as server``; ``server.url`` is the base URL for both APIs."""

    def __init__(
        self,
        bars: pd.DataFrame | None = None,
        now: datetime | None = None,
        cash: float = 100_000.0,
        prices: dict[str, float] | None = None,
        page_size: int = 10_000,
        halted: tuple[str, ...] = (),
    ) -> None:
        self.bars = (
            bars
            if bars is not None
            else pd.DataFrame(columns=["date", "symbol", "open", "high", "low", "close", "volume"])
        )
        self.intraday: pd.DataFrame | None = None
        self.now = now or datetime(2012, 6, 1, 16, 30, tzinfo=NEW_YORK)
        self.cash = cash
        self.prices = dict(prices or {})
        self.page_size = page_size
        self.assets = dict.fromkeys(set(self.bars["symbol"]) | set(self.prices), "active")
        self.halted = set(halted)
        self.orders: dict[str, _Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, dict[str, float]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._scripted: dict[tuple[str, str], deque[Scripted]] = defaultdict(deque)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAlpaca:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- test controls ------------------------------------------------------------------------------------
    def script(self, method: str, path: str, *answers: Scripted) -> None:
        """Answer the next requests to (method, path) with ``answers``, in order, before behaving normally."""
        with self._lock:
            self._scripted[(method.upper(), path)].extend(answers)

    def count(self, method: str, path_prefix: str) -> int:
        with self._lock:
            return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(path_prefix))

    def fill(self, client_order_id: str, qty: float, price: float) -> None:
        """An execution of ``qty`` at ``price`` (a partial fill when less than the remaining quantity)."""
        with self._lock:
            order = self.orders[self.by_client_id[client_order_id]].data
            filled, total = float(order["filled_qty"]), float(order["qty"])
            if qty <= 0 or filled + qty > total + 1e-9:
                raise ValueError(f"cannot fill {qty} of {client_order_id}: {filled} of {total} already filled")
            avg = float(order["filled_avg_price"] or 0.0)
            new_filled = filled + qty
            order["filled_avg_price"] = _num((avg * filled + price * qty) / new_filled)
            order["filled_qty"] = _num(new_filled)
            order["status"] = "filled" if new_filled >= total - 1e-9 else "partially_filled"
            order["updated_at"] = _iso(self.now)
            if order["status"] == "filled":
                order["filled_at"] = _iso(self.now)
            sign = 1.0 if order["side"] == "buy" else -1.0
            position = self.positions.setdefault(order["symbol"], {"qty": 0.0, "cost": 0.0})
            if sign > 0:
                position["cost"] += qty * price
            elif position["qty"]:
                position["cost"] *= (position["qty"] - qty) / position["qty"]
            position["qty"] += sign * qty
            if abs(position["qty"]) < 1e-9:
                del self.positions[order["symbol"]]
            self.cash -= sign * qty * price
            self.prices[order["symbol"]] = price

    def expire(self, client_order_id: str, status: str = "expired") -> None:
        """The exchange closes the rest of the order (expired, canceled or rejected)."""
        with self._lock:
            order = self.orders[self.by_client_id[client_order_id]].data
            order["status"] = status
            order[{"expired": "expired_at", "canceled": "canceled_at", "rejected": "failed_at"}[status]] = _iso(
                self.now
            )
            order["updated_at"] = _iso(self.now)

    # ---- JSON bodies ----------------------------------------------------------------------------------------
    def _order_json(self, body: dict[str, Any], order_id: str, status: str) -> dict[str, Any]:
        stamp = _iso(self.now)
        kind = body.get("type", "market")
        order_class = body.get("order_class") or "simple"
        order = {
            "id": order_id,
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": stamp,
            "updated_at": stamp,
            "submitted_at": stamp,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": None,
            "qty": _num(float(body["qty"])),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": order_class,
            "order_type": kind,
            "type": kind,
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": _num(body.get("limit_price")),
            "stop_price": _num(body.get("stop_price")),
            "status": status,
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": _num(body.get("trail_percent")),
            "trail_price": _num(body.get("trail_price")),
            "hwm": None,
        }
        if order_class == "bracket":
            exit_side = "sell" if body["side"] == "buy" else "buy"
            legs = []
            for leg_type, price_field, price in (
                ("limit", "limit_price", body["take_profit"]["limit_price"]),
                ("stop", "stop_price", body["stop_loss"]["stop_price"]),
            ):
                leg = {
                    **order,
                    "id": str(uuid.uuid4()),
                    "client_order_id": str(uuid.uuid4()),
                    "order_class": "bracket",
                    "order_type": leg_type,
                    "type": leg_type,
                    "side": exit_side,
                    "status": "held",
                    "limit_price": None,
                    "stop_price": None,
                    "legs": None,
                }
                leg[price_field] = _num(float(price))
                legs.append(leg)
            order["legs"] = legs
        return order

    def _position_json(self, symbol: str, position: dict[str, float]) -> dict[str, Any]:
        qty = position["qty"]
        price = self.prices.get(symbol, position["cost"] / qty if qty else 0.0)
        avg = position["cost"] / qty if qty else 0.0
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": _num(abs(qty)),
            "qty_available": _num(abs(qty)),
            "avg_entry_price": _num(avg),
            "side": "long" if qty > 0 else "short",
            "market_value": _num(qty * price),
            "cost_basis": _num(position["cost"]),
            "unrealized_pl": _num(qty * price - position["cost"]),
            "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0",
            "current_price": _num(price),
            "lastday_price": _num(price),
            "change_today": "0",
        }

    def _account_json(self) -> dict[str, Any]:
        long_value = sum(p["qty"] * self.prices.get(s, 0.0) for s, p in self.positions.items())
        equity = self.cash + long_value
        return {
            "id": "5ec9f6f4-3c54-4c3c-9a5c-1fa7d5a6a111",
            "account_number": "PA3FAKE0001",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _num(self._buying_power()),
            "regt_buying_power": _num(self._buying_power()),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _num(self._buying_power()),
            "cash": _num(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": _num(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2020-01-02T15:00:00Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": _num(equity),
            "last_equity": _num(equity),
            "long_market_value": _num(long_value),
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def _buying_power(self) -> float:
        reserved = sum(
            (float(o.data["qty"]) - float(o.data["filled_qty"])) * o.price_hint
            for o in self.orders.values()
            if o.data["side"] == "buy" and o.data["status"] in ("new", "accepted", "partially_filled", "pending_new")
        )
        return self.cash - reserved

    # ---- endpoints ----------------------------------------------------------------------------------------------
    def _post_order(self, body: dict[str, Any]) -> tuple[int, Any]:
        symbol = body.get("symbol", "")
        coid = body.get("client_order_id")
        if coid and coid in self.by_client_id:
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        if symbol not in self.assets:
            return 422, {"code": 40010001, "message": f'asset "{symbol}" not found'}
        if symbol in self.halted:
            return 422, {"code": 42210000, "message": f"asset {symbol} is not tradable"}
        for required in ("qty", "side", "type", "time_in_force"):
            if required not in body:
                return 422, {"code": 40010001, "message": f"{required} is required"}
        price = float(body.get("limit_price") or self.prices.get(symbol) or 0.0)
        if body["side"] == "buy" and float(body["qty"]) * price > self._buying_power():
            return 403, {"code": 40310000, "message": "insufficient buying power"}
        order_id = str(uuid.uuid4())
        status = "accepted" if body["time_in_force"] in ("opg", "cls") else "new"
        self.orders[order_id] = _Order(self._order_json(body, order_id, status), price)
        if coid:
            self.by_client_id[coid] = order_id
        return 200, self.orders[order_id].data

    def _bars(self, query: dict[str, str]) -> dict[str, Any]:
        symbols = query["symbols"].split(",")
        start = pd.Timestamp(query["start"]).tz_convert(NEW_YORK)
        end = pd.Timestamp(query["end"]).tz_convert(NEW_YORK) if "end" in query else pd.Timestamp.now(NEW_YORK)
        if query["timeframe"] in ("1Day", "1D"):
            frame = self.bars[self.bars["symbol"].isin(symbols)].copy()
            stamps = pd.to_datetime(frame["date"]).dt.tz_localize(NEW_YORK)
        else:
            frame = (
                self.intraday[self.intraday["symbol"].isin(symbols)].copy()
                if self.intraday is not None
                else self.bars.iloc[:0]
            )
            stamps = pd.to_datetime(frame["timestamp"]) if len(frame) else pd.Series(dtype="datetime64[ns, UTC]")
        frame = frame.assign(stamp=stamps.to_numpy() if len(frame) else [])
        frame = frame[(frame["stamp"] >= start) & (frame["stamp"] <= end)].sort_values(["symbol", "stamp"])
        limit = min(int(query.get("limit") or self.page_size), self.page_size)
        offset = int(query.get("page_token") or 0)
        page = frame.iloc[offset : offset + limit]
        bars: dict[str, list[dict[str, Any]]] = {}
        for row in page.itertuples(index=False):
            bars.setdefault(row.symbol, []).append(
                {
                    "t": _iso(pd.Timestamp(row.stamp).to_pydatetime()),
                    "o": row.open,
                    "h": row.high,
                    "l": row.low,
                    "c": row.close,
                    "v": row.volume,
                    "n": 1000,
                    "vw": round((row.high + row.low + row.close) / 3, 4),
                }
            )
        token = str(offset + limit) if offset + limit < len(frame) else None
        return {"bars": bars, "next_page_token": token}

    def _calendar(self, query: dict[str, str]) -> list[dict[str, Any]]:
        days = calendar.sessions(query.get("start", "2012-01-01"), query.get("end", "2012-12-31"))
        out = []
        for day in days:
            close = calendar.session_close(day)
            out.append(
                {
                    "date": day.date().isoformat(),
                    "open": "09:30",
                    "close": close.strftime("%H:%M"),
                    "session_open": "0400",
                    "session_close": "2000",
                    "settlement_date": (day + timedelta(days=1)).date().isoformat(),
                }
            )
        return out

    def _clock(self) -> dict[str, Any]:
        today = self.now.astimezone(NEW_YORK)
        is_session = calendar.is_session(today.date())
        open_at = datetime.combine(today.date(), datetime.min.time(), NEW_YORK).replace(hour=9, minute=30)
        close_at = calendar.session_close(today.date()).to_pydatetime() if is_session else open_at
        is_open = is_session and open_at <= today < close_at
        nxt = calendar.next_session(today.date()).date() if not is_session or today >= close_at else today.date()
        next_open = datetime.combine(nxt, datetime.min.time(), NEW_YORK).replace(hour=9, minute=30)
        next_close = calendar.session_close(nxt).to_pydatetime() if not is_open else close_at
        return {
            "timestamp": today.isoformat(),
            "is_open": is_open,
            "next_open": next_open.isoformat(),
            "next_close": next_close.isoformat(),
        }

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/v2/account":
            return 200, self._account_json()
        if method == "GET" and path == "/v2/clock":
            return 200, self._clock()
        if method == "GET" and path == "/v2/calendar":
            return 200, self._calendar(query)
        if method == "GET" and path.startswith("/v2/assets/"):
            symbol = path.rsplit("/", 1)[1]
            if symbol not in self.assets:
                return 404, {"code": 40410000, "message": "asset not found"}
            halted = symbol in self.halted
            return 200, {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
                "class": "us_equity",
                "exchange": "NASDAQ",
                "symbol": symbol,
                "name": f"{symbol} Inc.",
                "status": "active",
                "tradable": not halted,
                "marginable": True,
                "shortable": True,
                "easy_to_borrow": True,
                "fractionable": True,
                "attributes": [],
            }
        if method == "GET" and path == "/v2/positions":
            return 200, [self._position_json(s, p) for s, p in sorted(self.positions.items())]
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            order_id = self.by_client_id.get(query.get("client_order_id", ""))
            if order_id is None:
                return 404, {"code": 40410000, "message": "order not found"}
            return 200, self.orders[order_id].data
        if method == "POST" and path == "/v2/orders":
            return self._post_order(body)
        if method == "GET" and path == "/v2/orders":  # Alpaca's `after` filters on submission time, exclusive
            after = pd.Timestamp(query["after"]) if "after" in query else None
            listed = [
                o.data for o in self.orders.values() if after is None or pd.Timestamp(o.data["submitted_at"]) > after
            ]
            return 200, listed[: int(query.get("limit") or 500)]
        if path.startswith("/v2/orders/"):
            order = self.orders.get(path.rsplit("/", 1)[1])
            if order is None:
                return 404, {"code": 40410000, "message": "order not found"}
            if method == "GET":
                return 200, order.data
            if method == "DELETE":
                if order.data["status"] in ("filled", "canceled", "expired", "rejected"):
                    return 422, {"code": 42210000, "message": f'order is already in "{order.data["status"]}" state'}
                order.data["status"] = "canceled"
                order.data["canceled_at"] = order.data["updated_at"] = _iso(self.now)
                return 204, None
        if method == "GET" and path == "/v2/stocks/bars":
            return 200, self._bars(query)
        return 404, {"code": 40410000, "message": f"no route {method} {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with server._lock:
                    server.requests.append((method, parsed.path, query, body))
                    key_id = self.headers.get("APCA-API-KEY-ID") or ""
                    if not key_id.startswith(API_KEY_PREFIX) or self.headers.get("APCA-API-SECRET-KEY") != SECRET_KEY:
                        status, payload, headers = 401, {"code": 40110000, "message": "request is not authorized"}, {}
                    else:
                        queue = server._scripted.get((method, parsed.path))
                        scripted = queue.popleft() if queue else None
                        headers = {}
                        if (
                            scripted is not None
                            and scripted.commit
                            and method == "POST"
                            and parsed.path == "/v2/orders"
                        ):
                            server._post_order(body)
                        if scripted is not None:
                            status, payload, headers = scripted.status, scripted.body, scripted.headers
                        else:
                            status, payload = server.route(method, parsed.path, query, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler


def bars_for(frame: pd.DataFrame, symbols: list[str], start: str, end: str) -> pd.DataFrame:
    """A slice of a BAR_COLUMNS frame for the server to serve."""
    days = pd.to_datetime(frame["date"])
    keep = frame["symbol"].isin(symbols) & (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
    return frame[keep].reset_index(drop=True)
