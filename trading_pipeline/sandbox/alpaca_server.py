"""A local Alpaca on 127.0.0.1: the trading, market-data and news endpoints, answering as Alpaca does.

Trading (``/v2``): account, clock, calendar, assets, positions (GET, DELETE to close), orders (POST, GET
with filters, GET by id and by client_order_id, PATCH to replace, DELETE one or all). Data: GET
/v2/stocks/bars. News: GET /v1beta1/news. Authentication with the APCA-API-* headers, as Alpaca.

The sandbox's own control API (``/sandbox``, no keys): ``POST /sandbox/clock`` moves the clock
({"advance": "next_open"|"next_close"}, {"minutes": n} or {"to": RFC 3339}), executing orders as the
clock passes each session's open and close; ``POST /sandbox/fill``, ``/sandbox/expire``,
``/sandbox/partial`` act as the exchange would; ``POST /sandbox/script`` scripts failures. Tests use the
same controls as methods (``advance``, ``fill``, ``expire``, ``partial``, ``script``).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from trading_pipeline.sandbox import clock
from trading_pipeline.sandbox.account import Account, Update
from trading_pipeline.sandbox.assets import Asset, list_assets
from trading_pipeline.sandbox.market_data import (
    MAX_PAGE,
    bars_page,
    check_columns,
    empty_daily,
    last_closed_day,
    most_actives,
    parse_bars_query,
    session_bars,
)
from trading_pipeline.sandbox.news import MAX_NEWS_PAGE, Article, news_page
from trading_pipeline.sandbox.orders import CLOSED, Order, asset_id
from trading_pipeline.sandbox.wire import (
    NOT_FOUND,
    ApiError,
    bad_request,
    parse_bool,
    parse_choice,
    parse_int,
    parse_number,
    parse_time,
)

NEW_YORK = ZoneInfo("America/New_York")
API_KEY_PREFIX = "PKSANDBOX"  # any key id with this prefix (tests take one each: its own rate-limit window)
API_KEY = "PKSANDBOX00000000000"
SECRET_KEY = "sandbox-secret-0000000000000000000000000"
INTERNAL_ERROR = {"code": 50010000, "message": "internal server error"}

Answer = tuple[int, Any]


@dataclass
class Scripted:
    """One scripted answer: ``commit`` lets the request take effect before the answer is returned."""

    status: int
    body: dict[str, Any] = field(default_factory=lambda: dict(INTERNAL_ERROR))
    headers: dict[str, str] = field(default_factory=dict)
    commit: bool = False


class AlpacaSandbox:
    """Start with ``with AlpacaSandbox(...) as sandbox`` (or ``serve_forever``); ``sandbox.url`` serves both APIs.

    ``bars`` are daily BAR_COLUMNS bars; ``intraday`` (settable) holds minute bars (``timestamp`` = start,
    UTC). ``prices`` are the symbols' last prices (by default each symbol's last close by the clock).
    ``serve_future_bars`` serves bars past the clock, for tests that pin the clock and fetch a fixed range.
    """

    def __init__(
        self,
        bars: pd.DataFrame | None = None,
        now: datetime | None = None,
        cash: float = 100_000.0,
        prices: Mapping[str, float] | None = None,
        page_size: int = MAX_PAGE,
        halted: Iterable[str] = (),
        assets: Iterable[Asset] | None = None,
        news: Iterable[Article] = (),
        news_page_size: int = MAX_NEWS_PAGE,
        serve_future_bars: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bars = check_columns(bars) if bars is not None else empty_daily()
        self.intraday: pd.DataFrame | None = None
        self.now = now or datetime.now(NEW_YORK).replace(microsecond=0)
        if self.now.tzinfo is None:
            raise ValueError(f"the sandbox clock must be time-zone aware, got {self.now!r}")
        self.page_size = page_size
        self.news = list(news)
        self.news_page_size = news_page_size
        self.serve_future_bars = serve_future_bars
        marks = {**self._last_closes(), **(prices or {})}
        halted = set(halted)
        symbols = set(self.bars["symbol"]) | set(marks)
        known = {a.symbol: a for a in assets} if assets is not None else {s: Asset(s) for s in symbols}
        known |= {s: Asset(s, tradable=False) for s in halted}
        self.account = Account(cash, known.values(), marks)
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._scripted: dict[tuple[str, str], deque[Scripted]] = defaultdict(deque)
        self._lock = threading.RLock()
        self._routes = self._route_table()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def _last_closes(self) -> dict[str, float]:
        known = self.bars[pd.to_datetime(self.bars["date"]) <= pd.Timestamp(last_closed_day(self.now))]
        return known.sort_values("date").groupby("symbol")["close"].last().to_dict()

    # ---- lifecycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> AlpacaSandbox:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the standalone command)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    # ---- what tests read -------------------------------------------------------------------------------------
    @property
    def orders(self) -> dict[str, Order]:
        return self.account.orders

    @property
    def by_client_id(self) -> dict[str, str]:
        return self.account.by_client_id

    def order(self, client_order_id: str) -> Order:
        with self._lock:
            return self.account.find_by_client_id(client_order_id)

    def count(self, method: str, path_prefix: str) -> int:
        with self._lock:
            return sum(1 for m, p, _, _ in self.requests if m == method and p.startswith(path_prefix))

    # ---- controls ----------------------------------------------------------------------------------------------
    def script(self, method: str, path: str, *answers: Scripted) -> None:
        """Answer the next requests to (method, path) with ``answers``, in order, before behaving normally."""
        with self._lock:
            self._scripted[(method.upper(), path)].extend(answers)

    def fill(self, client_order_id: str, qty: float, price: float) -> None:
        """An execution of ``qty`` at ``price`` (a partial fill when less than the remaining quantity)."""
        with self._lock:
            self.account.fill(self.order(client_order_id), qty, price, self.now)

    def expire(self, client_order_id: str, status: str = "expired") -> None:
        """The exchange closes the rest of the order (expired, canceled or rejected)."""
        with self._lock:
            self.account.expire(self.order(client_order_id), status, self.now)

    def partial(self, client_order_id: str, qty: float) -> None:
        """The sandbox's next execution of this order fills only ``qty`` (the rest keeps working)."""
        with self._lock:
            self.account.cap_next_fill(self.order(client_order_id), qty)

    def advance(self, instruction: dict[str, Any]) -> list[Update]:
        """Move the clock as POST /sandbox/clock does; returns the order updates on the way."""
        with self._lock:
            return self.advance_to(clock.advance_target(self.now, instruction))

    def advance_to(self, target: datetime) -> list[Update]:
        with self._lock:
            if target < self.now:
                raise ValueError(f"the clock only moves forward: {target.isoformat()} is before {self.now.isoformat()}")
            first = len(self.account.updates)
            for moment, session, kind in clock.session_moments(self.now, target):
                self.now = moment
                bars = session_bars(self.bars, session)
                if kind == "open":
                    self.account.open_session(bars, moment)
                else:
                    self.account.close_session(bars, moment)
            self.now = target
            return self.account.updates[first:]

    # ---- endpoints --------------------------------------------------------------------------------------------
    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[..., Answer]]]:
        a = self.account
        table: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", "/v2/account", lambda q, b: (200, a.account_json())),
            ("GET", "/v2/clock", lambda q, b: (200, clock.clock_json(self.now))),
            ("GET", "/v2/calendar", lambda q, b: (200, clock.calendar_json(q))),
            ("GET", "/v2/assets", lambda q, b: (200, list_assets(a.assets.values(), q))),
            ("GET", "/v2/assets/(?P<key>[^/]+)", self._asset),
            ("GET", "/v2/positions", lambda q, b: (200, [a.position_json(s) for s in sorted(a.positions)])),
            ("DELETE", "/v2/positions", self._close_all_positions),
            ("GET", "/v2/positions/(?P<key>[^/]+)", lambda q, b, key: (200, a.position_json(self._symbol(key)))),
            ("DELETE", "/v2/positions/(?P<key>[^/]+)", self._close_position),
            ("POST", "/v2/orders", self._submit),
            ("GET", "/v2/orders", self._list_orders),
            ("DELETE", "/v2/orders", lambda q, b: (207, a.cancel_all(self.now))),
            ("GET", "/v2/orders:by_client_order_id", self._by_client_order_id),
            ("GET", "/v2/orders/(?P<order_id>[^/]+)", self._get_order),
            ("PATCH", "/v2/orders/(?P<order_id>[^/]+)", self._replace),
            ("DELETE", "/v2/orders/(?P<order_id>[^/]+)", self._cancel),
            ("GET", "/v2/stocks/bars", self._bars),
            ("GET", "/v1beta1/news", lambda q, b: (200, news_page(self.news, q, self.now, self.news_page_size))),
            ("GET", "/v1beta1/screener/stocks/most-actives", lambda q, b: (200, most_actives(self.bars, q, self.now))),
            ("GET", "/sandbox/clock", lambda q, b: (200, {"clock": clock.clock_json(self.now)})),
            ("POST", "/sandbox/clock", self._move_clock),
            ("POST", "/sandbox/fill", self._control_fill),
            ("POST", "/sandbox/expire", self._control_expire),
            ("POST", "/sandbox/partial", self._control_partial),
            ("POST", "/sandbox/script", self._control_script),
        ]
        return [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in table]

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Answer:
        """The answer to one request (the caller holds the lock); refusals are Alpaca's JSON errors."""
        path_known = False
        for route_method, pattern, handler in self._routes:
            matched = pattern.match(path)
            if matched is None:
                continue
            path_known = True
            if route_method == method:
                try:
                    return handler(query, body, **matched.groupdict())
                except ApiError as error:
                    return error.status, error.body()
        if path_known:
            return 405, {"code": 40510000, "message": f"method {method} not allowed on {path}"}
        return 404, {"code": NOT_FOUND, "message": f"no route {method} {path}"}

    def _market_open(self) -> bool:
        return clock.market_is_open(self.now)

    def _symbol(self, key: str) -> str:
        """A symbol or asset id, as Alpaca's asset and position paths take either."""
        by_id = {asset_id(s): s for s in self.account.assets}
        return by_id.get(key, key)

    def _asset(self, query: dict[str, str], body: Any, key: str) -> Answer:
        asset = self.account.assets.get(self._symbol(key))
        if asset is None:
            raise ApiError(404, NOT_FOUND, "asset not found")
        return 200, asset.to_json()

    def _submit(self, query: dict[str, str], body: Any) -> Answer:
        order = self.account.submit(body, self.now, self._market_open())
        return 200, self.account.order_json(order)

    def _list_orders(self, query: dict[str, str], body: Any) -> Answer:
        """GET /v2/orders: ``status`` open|closed|all, ``after``/``until`` on submission time (exclusive/inclusive),
        ``direction``, ``side``, ``symbols``, ``limit`` (50, at most 500), ``nested`` (legs under their order)."""
        status = parse_choice(query.get("status", "open"), "status", ("open", "closed", "all"))
        limit = parse_int(query.get("limit", "50"), "limit", 1, 500)
        after = parse_time(query["after"], "after") if "after" in query else None
        until = parse_time(query["until"], "until") if "until" in query else None
        descending = parse_choice(query.get("direction", "desc"), "direction", ("asc", "desc")) == "desc"
        nested = parse_bool(query.get("nested", "false"), "nested")
        side = parse_choice(query["side"], "side", ("buy", "sell")) if "side" in query else None
        symbols = {s for s in query.get("symbols", "").split(",") if s}
        chosen = [
            o
            for o in self.account.orders.values()
            if (status == "all" or (o.is_open if status == "open" else o.status in CLOSED))
            and not (nested and o.parent is not None)
            and (after is None or o.submitted_at > after)
            and (until is None or o.submitted_at <= until)
            and (side is None or o.side == side)
            and (not symbols or o.symbol in symbols)
        ]
        chosen.sort(key=lambda o: o.submitted_at, reverse=descending)
        return 200, [self.account.order_json(o, nested=nested) for o in chosen[:limit]]

    def _by_client_order_id(self, query: dict[str, str], body: Any) -> Answer:
        if "client_order_id" not in query:
            raise bad_request("client_order_id is required")
        return 200, self.account.order_json(self.account.find_by_client_id(query["client_order_id"]), nested=False)

    def _get_order(self, query: dict[str, str], body: Any, order_id: str) -> Answer:
        nested = parse_bool(query.get("nested", "false"), "nested")
        return 200, self.account.order_json(self.account.find(order_id), nested=nested)

    def _replace(self, query: dict[str, str], body: Any, order_id: str) -> Answer:
        new = self.account.replace_order(self.account.find(order_id), body, self.now)
        return 200, self.account.order_json(new)

    def _cancel(self, query: dict[str, str], body: Any, order_id: str) -> Answer:
        self.account.cancel(self.account.find(order_id), self.now)
        return 204, None

    def _close_position(self, query: dict[str, str], body: Any, key: str) -> Answer:
        order = self.account.close_position(self._symbol(key), query, self.now, self._market_open())
        return 200, self.account.order_json(order)

    def _close_all_positions(self, query: dict[str, str], body: Any) -> Answer:
        """DELETE /v2/positions: one market order per position (after cancelling open orders if asked)."""
        if parse_bool(query.get("cancel_orders", "false"), "cancel_orders"):
            self.account.cancel_all(self.now)
        answers = []
        for symbol in sorted(self.account.positions):
            try:
                order = self.account.close_position(symbol, {}, self.now, self._market_open())
                answers.append({"symbol": symbol, "status": 200, "order_id": order.id, "body": order.to_json()})
            except ApiError as error:
                answers.append({"symbol": symbol, "status": error.status, "body": {**error.body(), "symbol": symbol}})
        return 207, answers

    def _bars(self, query: dict[str, str], body: Any) -> Answer:
        parsed = parse_bars_query(query, self.now)
        return 200, bars_page(self.bars, self.intraday, parsed, self.now, self.page_size, self.serve_future_bars)

    def _move_clock(self, query: dict[str, str], body: Any) -> Answer:
        try:
            updates = self.advance_to(clock.advance_target(self.now, body))
        except ValueError as error:  # e.g. past the calendar's horizon
            raise bad_request(str(error)) from None
        events = [{"event": u.event, "at": u.at.isoformat(), "order": u.order} for u in updates]
        return 200, {"clock": clock.clock_json(self.now), "updates": events}

    def _control_order(self, body: Any) -> Order:
        if not isinstance(body, dict) or "client_order_id" not in body:
            raise bad_request("send the order's client_order_id")
        return self.account.find_by_client_id(str(body["client_order_id"]))

    def _control_fill(self, query: dict[str, str], body: Any) -> Answer:
        order = self._control_order(body)
        try:
            self.account.fill(
                order, parse_number(body.get("qty"), "qty"), parse_number(body.get("price"), "price"), self.now
            )
        except ValueError as error:
            raise bad_request(str(error)) from None
        return 200, self.account.order_json(order)

    def _control_expire(self, query: dict[str, str], body: Any) -> Answer:
        order = self._control_order(body)
        try:
            self.account.expire(order, str(body.get("status", "expired")), self.now)
        except ValueError as error:
            raise bad_request(str(error)) from None
        return 200, self.account.order_json(order)

    def _control_partial(self, query: dict[str, str], body: Any) -> Answer:
        order = self._control_order(body)
        try:
            self.account.cap_next_fill(order, parse_number(body.get("qty"), "qty"))
        except ValueError as error:
            raise bad_request(str(error)) from None
        return 200, self.account.order_json(order)

    def _control_script(self, query: dict[str, str], body: Any) -> Answer:
        """{"method", "path", "status", optional "body", "headers", "commit", "times"}."""
        if not isinstance(body, dict) or not {"method", "path", "status"} <= set(body):
            raise bad_request("send method, path and status (and optionally body, headers, commit, times)")
        answer = Scripted(
            status=parse_int(str(body["status"]), "status", 100, 599),
            body=body.get("body") or dict(INTERNAL_ERROR),
            headers={str(k): str(v) for k, v in (body.get("headers") or {}).items()},
            commit=bool(body.get("commit", False)),
        )
        times = parse_int(str(body.get("times", 1)), "times", 1, 1000)
        self.script(str(body["method"]), str(body["path"]), *[answer] * times)
        return 200, {"scripted": times}

    # ---- HTTP -------------------------------------------------------------------------------------------------
    def _respond(
        self, method: str, path: str, query: dict[str, str], body: Any, authorized: bool
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append((method, path, query, body))
            if not authorized and not path.startswith("/sandbox/"):
                return 401, {"code": 40110000, "message": "request is not authorized"}, {}
            queue = self._scripted.get((method, path))
            scripted = queue.popleft() if queue else None
            if scripted is None:
                return (*self.route(method, path, query, body), {})
            if scripted.commit:
                self.route(method, path, query, body)  # takes effect; its answer is lost
            return scripted.status, scripted.body, scripted.headers

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: tests and the command print what matters
                return

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                key_id = self.headers.get("APCA-API-KEY-ID") or ""
                authorized = key_id.startswith(API_KEY_PREFIX) and self.headers.get("APCA-API-SECRET-KEY") == SECRET_KEY
                try:
                    body = json.loads(raw) if raw else None
                    status, payload, headers = sandbox._respond(method, parsed.path, query, body, authorized)
                except json.JSONDecodeError as error:
                    status, payload, headers = (
                        400,
                        {"code": 40010000, "message": f"request body is not JSON: {error}"},
                        {},
                    )
                except Exception as error:  # a sandbox bug: a 500 with the error, never a dropped connection
                    traceback.print_exc(file=sys.stderr)
                    status, payload, headers = 500, {"code": 50010000, "message": f"sandbox error: {error!r}"}, {}
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

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
