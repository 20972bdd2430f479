"""``python -m trading_pipeline.sandbox --port 8765 [--today YYYY-MM-DD] [--runway N]``: the sandbox on its own.

It serves the bundled daily bars re-dated so that their last session is the last session on or before
``--today``, with the clock at the close of the session ``--runway`` sessions earlier: the runway is the
sessions left to trade through, one ``POST /sandbox/clock`` at a time. Point the project's Alpaca
settings (trading and data URL, key and secret) at what it prints.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from datetime import date, datetime

from trading_pipeline.data import SAMPLE_BARS
from trading_pipeline.domain import calendar
from trading_pipeline.domain.bars import load_bars_file
from trading_pipeline.sandbox.alpaca_server import API_KEY, NEW_YORK, SECRET_KEY, AlpacaSandbox
from trading_pipeline.sandbox.assets import BUNDLED_ASSETS
from trading_pipeline.sandbox.clock import hours
from trading_pipeline.sandbox.news import sandbox_articles
from trading_pipeline.sandbox.redate import redate


def build_sandbox(
    today: date, runway: int, cash: float = 100_000.0, host: str = "127.0.0.1", port: int = 0
) -> AlpacaSandbox:
    """The bundled bars re-dated to end on ``today`` (or the session before), the clock ``runway`` sessions back."""
    last = today if calendar.is_session(today) else calendar.previous_session(today).date()
    bars = redate(load_bars_file(SAMPLE_BARS), last)
    sessions = bars["date"].nunique()
    if not 0 <= runway < sessions:
        raise ValueError(f"runway must be in [0, {sessions - 1}] sessions, got {runway}")
    start = hours(calendar.session_offset(last, -runway).date())[1]
    return AlpacaSandbox(
        bars=bars, now=start, cash=cash, assets=BUNDLED_ASSETS, news=sandbox_articles(last), host=host, port=port
    )


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trading_pipeline.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=datetime.now(NEW_YORK).date(), help="the last re-dated session"
    )
    parser.add_argument("--runway", type=int, default=20, help="sessions between the starting clock and --today")
    parser.add_argument("--cash", type=float, default=100_000.0)
    args = parser.parse_args(argv)
    try:
        sandbox = build_sandbox(args.today, args.runway, args.cash, args.host, args.port)
    except ValueError as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(f"cannot listen on {args.host}:{args.port}: {error}")
    bars = sandbox.bars
    print(f"Alpaca sandbox at {sandbox.url} (trading and market data; control API under {sandbox.url}/sandbox)")
    print(f"  ALPACA_API_KEY={API_KEY}")
    print(f"  ALPACA_SECRET_KEY={SECRET_KEY}")
    print(
        f"  bars: {', '.join(sorted(bars['symbol'].unique()))}, sessions {bars['date'].min():%Y-%m-%d} .. "
        f"{bars['date'].max():%Y-%m-%d} (the bundled daily bars, re-dated)"
    )
    print(f'  clock: {sandbox.now.isoformat()}; move it with POST /sandbox/clock {{"advance": "next_open"}}')
    print("  stop with Ctrl-C", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        print("sandbox stopped", flush=True)
    return 0
