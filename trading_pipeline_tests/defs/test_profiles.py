"""The deployment profiles: one variable picks a complete resource set, a missing key fails the load by name."""

import os
import subprocess
import sys

import pytest
from dagster import EnvVar

from trading_pipeline.defs.profiles import ProfileError, profile_from
from trading_pipeline.defs.resources.alpaca_broker import AlpacaBroker
from trading_pipeline.defs.resources.broker import SimulatedBroker
from trading_pipeline.defs.resources.discovery import AlpacaAssetsDiscovery
from trading_pipeline.defs.resources.llm import GroqSelector
from trading_pipeline.defs.resources.market_data import FallbackMarketData, ReplayMarketData
from trading_pipeline.defs.resources.narrative import AnthropicNarrator, TemplateNarrator
from trading_pipeline.defs.resources.order_updates import AlpacaOrderUpdates
from trading_pipeline.defs.resources.review import AnthropicReviewer, NoReview
from trading_pipeline.defs.resources.selector import RuleBasedSelector
from trading_pipeline.defs.resources.symbol_picker import AnthropicPicker, GroqPicker, OfflinePicker
from trading_pipeline.integrations.alpaca_trading import LIVE_CONFIRM_VALUE, LIVE_CONFIRM_VARIABLE

KEYS = {"ALPACA_API_KEY": "key-id-123", "ALPACA_SECRET_KEY": "very-secret-456"}
RESOURCE_NAMES = {
    "market_data", "selector", "reviewer", "narrator", "broker", "trading", "journal", "session_store",
    "strategies", "intraday_data", "order_updates", "alerter", "accounts", "report_folder", "memory", "news",
    "sentiment", "discovery", "symbol_picker", "bar_rules",
}  # fmt: skip


def test_offline_is_the_default_and_needs_nothing():
    profile = profile_from({})
    assert profile.name == "offline" and profile.book == "offline"
    assert set(profile.resources) == RESOURCE_NAMES
    assert isinstance(profile.resources["market_data"], ReplayMarketData)
    assert isinstance(profile.resources["broker"], SimulatedBroker)
    assert isinstance(profile.resources["selector"], RuleBasedSelector)
    assert profile_from({"TRADING_PROFILE": " Offline "}).name == "offline"


def test_an_unknown_profile_is_refused_with_the_choices():
    with pytest.raises(ProfileError, match="TRADING_PROFILE='papr': expected one of offline, paper, live"):
        profile_from({"TRADING_PROFILE": "papr"})


@pytest.mark.parametrize("present", [{}, {"ALPACA_API_KEY": "x"}])
def test_paper_without_its_keys_fails_naming_each_missing_variable(present):
    with pytest.raises(ProfileError) as refused:
        profile_from({"TRADING_PROFILE": "paper", **present})
    message = str(refused.value)
    assert "ALPACA_SECRET_KEY" in message
    assert ("ALPACA_API_KEY" in message) == ("ALPACA_API_KEY" not in present)


def test_paper_is_alpaca_everywhere_with_the_deterministic_policy_when_no_llm_key_is_set():
    profile = profile_from({"TRADING_PROFILE": "paper", **KEYS})
    resources = profile.resources
    assert set(resources) == RESOURCE_NAMES and profile.book == "paper"
    broker = resources["broker"]
    assert isinstance(broker, AlpacaBroker) and broker.mode == "paper" and broker.trading_url is None
    assert isinstance(resources["market_data"], FallbackMarketData)
    assert resources["market_data"].order == ["alpaca", "yfinance"]
    assert isinstance(resources["order_updates"], AlpacaOrderUpdates)
    assert isinstance(resources["selector"], RuleBasedSelector)
    assert isinstance(resources["reviewer"], NoReview) and isinstance(resources["narrator"], TemplateNarrator)
    assert profile.providers["strategy selection"] == "deterministic policy (GROQ_API_KEY not set)"
    assert profile.keys == {"ALPACA_API_KEY": True, "ALPACA_SECRET_KEY": True, "GROQ_API_KEY": False,
                            "ANTHROPIC_API_KEY": False}  # fmt: skip


def test_paper_uses_the_llms_whose_keys_are_set():
    profile = profile_from({"TRADING_PROFILE": "paper", **KEYS, "GROQ_API_KEY": "g", "ANTHROPIC_API_KEY": "a"})
    assert isinstance(profile.resources["selector"], GroqSelector)
    assert isinstance(profile.resources["reviewer"], AnthropicReviewer)
    assert isinstance(profile.resources["narrator"], AnthropicNarrator)
    assert profile.providers["strategy selection"] == "Groq"
    assert isinstance(profile.resources["symbol_picker"], GroqPicker)


def test_discovery_is_off_everywhere_and_its_llm_picker_follows_the_keys():
    offline, paper = profile_from({}), profile_from({"TRADING_PROFILE": "paper", **KEYS})
    assert not offline.resources["discovery"].enabled and not paper.resources["discovery"].enabled
    assert isinstance(offline.resources["symbol_picker"], OfflinePicker)
    assert isinstance(paper.resources["symbol_picker"], OfflinePicker)
    assert isinstance(paper.resources["discovery"], AlpacaAssetsDiscovery)
    anthropic = profile_from({"TRADING_PROFILE": "paper", **KEYS, "ANTHROPIC_API_KEY": "a"})
    assert isinstance(anthropic.resources["symbol_picker"], AnthropicPicker)
    assert anthropic.resources["symbol_picker"].api_key == EnvVar("ANTHROPIC_API_KEY")


def test_keys_are_environment_references_never_values():
    profile = profile_from({"TRADING_PROFILE": "paper", **KEYS, "ANTHROPIC_API_KEY": "anthropic-secret"})
    broker = profile.resources["broker"]
    assert broker.api_key == EnvVar("ALPACA_API_KEY") and broker.secret_key == EnvVar("ALPACA_SECRET_KEY")
    shown = repr(profile) + repr(profile.resources)
    for secret in (*KEYS.values(), "anthropic-secret"):
        assert secret not in shown


def test_alpaca_base_url_points_the_paper_profile_at_another_server():
    profile = profile_from({"TRADING_PROFILE": "paper", **KEYS, "ALPACA_BASE_URL": "http://127.0.0.1:8765"})
    assert profile.resources["broker"].trading_url == "http://127.0.0.1:8765"
    assert profile.resources["market_data"].alpaca.data_url == "http://127.0.0.1:8765"
    assert "127.0.0.1:8765" in profile.providers["broker"]


def test_live_needs_the_confirmation_phrase_too():
    with pytest.raises(ProfileError, match=LIVE_CONFIRM_VARIABLE):
        profile_from({"TRADING_PROFILE": "live", **KEYS})
    with pytest.raises(ProfileError, match=LIVE_CONFIRM_VALUE):
        profile_from({"TRADING_PROFILE": "live", **KEYS, LIVE_CONFIRM_VARIABLE: "yes"})
    profile = profile_from({"TRADING_PROFILE": "live", **KEYS, LIVE_CONFIRM_VARIABLE: LIVE_CONFIRM_VALUE})
    assert profile.resources["broker"].mode == "live" and profile.book == "live"


def _load_definitions(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "TRADING_", "GROQ_", "ANTHROPIC_"))}
    code = "from trading_pipeline.definitions import defs, PROFILE; print(PROFILE.name, type(defs.resources['broker']).__name__, defs.resources['broker'])"
    return subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_definitions_load_the_profile_named_by_the_environment():
    loaded = _load_definitions({"TRADING_PROFILE": "paper", **KEYS})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("paper PaperAlpacaBroker ")
    assert "very-secret-456" not in loaded.stdout + loaded.stderr


def test_the_definitions_refuse_to_load_a_profile_that_lacks_a_key():
    loaded = _load_definitions({"TRADING_PROFILE": "paper", "ALPACA_API_KEY": "key-id-123"})
    assert loaded.returncode != 0
    assert "ProfileError: the paper profile needs ALPACA_SECRET_KEY in the environment" in loaded.stderr
    assert "key-id-123" not in loaded.stderr


def test_a_paper_book_trades_the_default_universe_or_trading_symbols():
    default = profile_from({"TRADING_PROFILE": "paper", **KEYS})
    assert default.resources["market_data"].symbols == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert default.resources["intraday_data"].symbols == ["AAPL", "GOOG", "IBM", "MSFT"]
    chosen = profile_from({"TRADING_PROFILE": "paper", **KEYS, "TRADING_SYMBOLS": " spy, brk.b ,QQQ"})
    assert chosen.resources["market_data"].symbols == ["SPY", "BRK.B", "QQQ"]
    assert chosen.providers["universe"] == "SPY, BRK.B, QQQ"
    with pytest.raises(ProfileError, match=r"TRADING_SYMBOLS: \['A;B'\] are not tickers"):
        profile_from({"TRADING_PROFILE": "paper", **KEYS, "TRADING_SYMBOLS": "AAPL,A;B"})
