"""The deployment profiles: one setting, ``TRADING_PROFILE``, picks a complete set of resources.

- ``offline`` (the default): the bundled real bars replayed, the deterministic policy, the simulated broker, the
  SQLite journal under DAGSTER_HOME. Needs nothing. (Every profile keeps the memory of setups in pgvector when
  ``TRADING_MEMORY_URL`` is set, else under DAGSTER_HOME.)
- ``paper``: Alpaca's market data with yfinance as fallback (cached), Alpaca paper trading, its order updates and
  minute bars; Groq selects and Anthropic reviews and narrates when their keys are set, the deterministic policy
  otherwise. ``ALPACA_BASE_URL`` points both Alpaca APIs elsewhere (the local sandbox). Launch config cannot move
  the journal, write outside DAGSTER_HOME or add strategy plugins (``resources/launch_lock.py``).
- ``live``: as paper, against Alpaca's live API; it also needs the confirmation phrase in ``TRADING_LIVE_CONFIRM``
  (the second switch), checked again by the broker before anything is sent.

Read once, where the Definitions are assembled: it is the one environment switch the project has. Keys are named
here, never read: a key the profile needs and lacks fails the load naming the variable, and the resources get
``EnvVar``s that Dagster resolves at run time. Which provider serves each concern is ``Profile.providers``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import EnvVar

from trading_pipeline.defs.resources.accounts import TradingAccounts
from trading_pipeline.defs.resources.alerts import Alerter
from trading_pipeline.defs.resources.alpaca_keys import KEY_VARIABLE, SECRET_VARIABLE
from trading_pipeline.defs.resources.bar_rules import BarRules
from trading_pipeline.defs.resources.book import TradingBook
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.discovery import SymbolDiscovery
from trading_pipeline.defs.resources.intraday_data import AlpacaIntradayData, ReplayIntradayData
from trading_pipeline.defs.resources.journal import JournalResource
from trading_pipeline.defs.resources.launch_lock import (
    LockedAlpacaAssetsDiscovery,
    LockedAlpacaBroker,
    deployed,
    locked_resources,
)
from trading_pipeline.defs.resources.llm import GroqSelector
from trading_pipeline.defs.resources.market_data import (
    AlpacaMarketData,
    FallbackMarketData,
    ReplayMarketData,
    YFinanceMarketData,
)
from trading_pipeline.defs.resources.memory import LocalSetupMemory, PgVectorSetupMemory, SetupMemoryStore
from trading_pipeline.defs.resources.narrative import AnthropicNarrator, TemplateNarrator
from trading_pipeline.defs.resources.news import AlpacaNews, GroqSentiment, LexiconSentiment, NoNews
from trading_pipeline.defs.resources.order_updates import AlpacaOrderUpdates, SimulatedOrderUpdates
from trading_pipeline.defs.resources.report_folder import ReportFolder
from trading_pipeline.defs.resources.review import AnthropicReviewer, NoReview
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.session_store import SessionParquetIOManager
from trading_pipeline.defs.resources.strategies import StrategyCatalog
from trading_pipeline.defs.resources.symbol_picker import AnthropicPicker, GroqPicker, OfflinePicker, SymbolPicker
from trading_pipeline.integrations.alpaca_trading import LIVE_CONFIRM_VALUE, LIVE_CONFIRM_VARIABLE

PROFILE_VARIABLE = "TRADING_PROFILE"
PROFILES = ("offline", "paper", "live")
ALPACA_KEYS = (KEY_VARIABLE, SECRET_VARIABLE)
ALPACA_URL_VARIABLE = "ALPACA_BASE_URL"
GROQ_KEY, ANTHROPIC_KEY = "GROQ_API_KEY", "ANTHROPIC_API_KEY"
MEMORY_URL_VARIABLE = "TRADING_MEMORY_URL"  # PostgreSQL with pgvector for the memory of setups (compose sets it)
SYMBOLS_VARIABLE = "TRADING_SYMBOLS"
# What a paper or live book trades unless TRADING_SYMBOLS lists others: liquid names both Alpaca and the bundled
# data (hence the offline sandbox) know.
DEFAULT_SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")


class ProfileError(ValueError):
    """The profile cannot be assembled: unknown, or a variable it needs is missing (named, never its value)."""


@dataclass(frozen=True)
class Profile:
    name: str
    resources: dict[str, Any]
    providers: dict[str, str]  # concern -> who serves it, and why when a fallback was chosen
    keys: dict[str, bool]  # every key variable the profile may use -> whether it is set (never the value)

    @property
    def book(self) -> str:
        return self.resources["trading"].book


def profile_from(environ: Mapping[str, str]) -> Profile:
    """The profile named by ``TRADING_PROFILE`` (offline when unset), assembled or refused."""
    name = environ.get(PROFILE_VARIABLE, "offline").strip().lower() or "offline"
    if name not in PROFILES:
        raise ProfileError(f"{PROFILE_VARIABLE}={name!r}: expected one of {', '.join(PROFILES)}")
    return offline(environ) if name == "offline" else alpaca(name, environ)


def offline(environ: Mapping[str, str] | None = None) -> Profile:
    """The offline profile; ``environ`` only says where the memory of setups lives (pgvector under compose)."""
    memory, memory_provider = _memory(environ or {})
    resources = _common() | {
        "memory": memory,
        "news": NoNews(),
        "sentiment": LexiconSentiment(),
        "market_data": ReplayMarketData(),
        "selector": RuleBasedSelector(),
        "reviewer": NoReview(),
        "narrator": TemplateNarrator(),
        "broker": SimulatedBroker(),
        "trading": TradingBook(book="offline"),
        "intraday_data": ReplayIntradayData(),
        "order_updates": SimulatedOrderUpdates(),
        "discovery": SymbolDiscovery(),
        "symbol_picker": OfflinePicker(),
    }
    providers = {
        "market data": "bundled daily bars (replay)",
        "strategy selection": "deterministic policy",
        "review": "none",
        "audit narrative": "template",
        "broker": "simulator",
        "intraday data": "bundled SPY minute bars (replay)",
        "order updates": "simulator",
        "journal": "SQLite under DAGSTER_HOME unless TRADING_JOURNAL_URL",
        "memory of setups": memory_provider,
        "news": "none (no sentiment features)",
        "symbol discovery": "off (the discovery resource's enabled); candidates: the market data's symbols",
        "llm picker": "deterministic ranking",
    }
    return Profile("offline", resources, providers, keys={})


def alpaca(name: str, environ: Mapping[str, str]) -> Profile:
    """The paper or live profile: Alpaca for data, orders and updates; an LLM where its key is set."""
    needed = [*ALPACA_KEYS, *([LIVE_CONFIRM_VARIABLE] if name == "live" else [])]
    missing = [variable for variable in needed if not environ.get(variable)]
    if missing:
        raise ProfileError(f"the {name} profile needs {', '.join(missing)} in the environment")
    if name == "live" and environ[LIVE_CONFIRM_VARIABLE] != LIVE_CONFIRM_VALUE:
        raise ProfileError(f"the live profile needs {LIVE_CONFIRM_VARIABLE}={LIVE_CONFIRM_VALUE}")
    url = environ.get(ALPACA_URL_VARIABLE) or None
    symbols = _symbols(environ)
    data = AlpacaMarketData.from_env(data_url=url)
    broker = deployed(LockedAlpacaBroker, f"{name.title()}AlpacaBroker", mode=name, trading_url=url).from_env()
    has_groq, has_anthropic = bool(environ.get(GROQ_KEY)), bool(environ.get(ANTHROPIC_KEY))
    memory, memory_provider = _memory(environ)
    resources = _common() | {
        "memory": memory,
        "news": AlpacaNews(market_data=data),
        "sentiment": GroqSentiment(api_key=EnvVar(GROQ_KEY)) if has_groq else LexiconSentiment(),
        "market_data": FallbackMarketData(
            alpaca=data, yfinance=YFinanceMarketData(), order=["alpaca", "yfinance"], symbols=symbols
        ),
        "selector": GroqSelector(api_key=EnvVar(GROQ_KEY)) if has_groq else RuleBasedSelector(),
        "reviewer": AnthropicReviewer(api_key=EnvVar(ANTHROPIC_KEY)) if has_anthropic else NoReview(),
        "narrator": AnthropicNarrator(api_key=EnvVar(ANTHROPIC_KEY)) if has_anthropic else TemplateNarrator(),
        "broker": broker,
        "trading": deployed(TradingBook, f"{name.title()}TradingBook", book=name)(),
        "intraday_data": AlpacaIntradayData(market_data=data, symbols=symbols),
        "order_updates": AlpacaOrderUpdates(broker=broker),
        "discovery": deployed(
            LockedAlpacaAssetsDiscovery,
            f"{name.title()}AssetsDiscovery",
            trading_url=url,
            data_url=url,
            paper=name == "paper",
        ).from_env(),
        "symbol_picker": _picker(has_groq, has_anthropic),
    }
    resources |= locked_resources()  # a launch cannot move the journal, write outside DAGSTER_HOME or add plugins
    where = f" at {url}" if url else ""
    providers = {
        "universe": ", ".join(symbols) + ("" if environ.get(SYMBOLS_VARIABLE) else f" (default; {SYMBOLS_VARIABLE})"),
        "market data": f"Alpaca{where}, then yfinance (cached)",
        "strategy selection": "Groq" if has_groq else f"deterministic policy ({GROQ_KEY} not set)",
        "review": "Anthropic" if has_anthropic else f"none ({ANTHROPIC_KEY} not set)",
        "audit narrative": "Anthropic" if has_anthropic else f"template ({ANTHROPIC_KEY} not set)",
        "broker": f"Alpaca {name}{where}",
        "intraday data": f"Alpaca minute bars{where}",
        "order updates": f"Alpaca{where}",
        "journal": "TRADING_JOURNAL_URL (PostgreSQL under compose), else SQLite under DAGSTER_HOME",
        "memory of setups": memory_provider,
        "news": f"Alpaca{where}, scored by " + ("Groq" if has_groq else f"VADER ({GROQ_KEY} not set)"),
        "symbol discovery": f"off (the discovery resource's enabled); candidates: Alpaca assets{where}",
        "llm picker": "Groq" if has_groq else "Anthropic" if has_anthropic else "deterministic ranking (no LLM key)",
    }
    keys = {variable: bool(environ.get(variable)) for variable in (*ALPACA_KEYS, GROQ_KEY, ANTHROPIC_KEY)}
    return Profile(name, resources, providers, keys)


def _picker(has_groq: bool, has_anthropic: bool) -> SymbolPicker:
    """Groq when its key is set (it also selects strategies), else Anthropic, else the deterministic ranking."""
    if has_groq:
        return GroqPicker(api_key=EnvVar(GROQ_KEY))
    if has_anthropic:
        return AnthropicPicker(api_key=EnvVar(ANTHROPIC_KEY))
    return OfflinePicker()


def _symbols(environ: Mapping[str, str]) -> list[str]:
    """The book's universe: ``TRADING_SYMBOLS`` (comma-separated tickers), else the default list."""
    listed = [s.strip().upper() for s in environ.get(SYMBOLS_VARIABLE, "").split(",") if s.strip()]
    bad = [s for s in listed if not s.replace(".", "").replace("-", "").isalnum()]
    if bad:
        raise ProfileError(f"{SYMBOLS_VARIABLE}: {bad} are not tickers (comma-separated, e.g. AAPL,MSFT)")
    return listed or list(DEFAULT_SYMBOLS)


def _memory(environ: Mapping[str, str]) -> tuple[SetupMemoryStore, str]:
    """pgvector at ``TRADING_MEMORY_URL`` when it is set (compose sets it), else numpy under DAGSTER_HOME."""
    if environ.get(MEMORY_URL_VARIABLE):
        return PgVectorSetupMemory(url=EnvVar(MEMORY_URL_VARIABLE)), f"pgvector at {MEMORY_URL_VARIABLE}"
    return LocalSetupMemory(), f"numpy, under DAGSTER_HOME ({MEMORY_URL_VARIABLE} not set)"


def _common() -> dict[str, Any]:
    return {
        # The journal's URL is read when a run starts: $TRADING_JOURNAL_URL, else SQLite under DAGSTER_HOME.
        "journal": JournalResource(),
        "session_store": SessionParquetIOManager(),
        "strategies": StrategyCatalog(),
        # One account, "default", holding every book; list accounts (their key variables, books, limits) to split.
        "accounts": TradingAccounts(),
        "report_folder": ReportFolder(),
        # Failed-run alerts always reach the journal; TRADING_ALERT_WEBHOOK_URL adds a Slack-compatible webhook.
        "alerter": Alerter(),
        # What counts as a bad bar, for every step that validates bars (market_bars and the histories before it).
        "bar_rules": BarRules(),
    }


def current() -> Profile:
    """The profile of this process's environment (read where the Definitions are assembled, and by the CLI)."""
    return profile_from(os.environ)
