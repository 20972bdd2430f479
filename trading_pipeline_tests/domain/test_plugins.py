"""User strategies: the decorator, loading by spec and by entry point, and the output contract."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest

from trading_pipeline.domain.indicators import compute_indicators
from trading_pipeline.domain.strategies import REGISTRY, Strategy, atr_signals, generate_signals, strategy
from trading_pipeline.domain.strategies.plugins import FunctionStrategy, build_registry, load_strategy
from trading_pipeline_tests.domain.test_indicators import wiki_bars

PLUGIN_SOURCE = textwrap.dedent(
    """
    import pandas as pd
    from trading_pipeline.domain.strategies import Strategy, atr_signals, strategy

    @strategy(name="AlwaysBuy", min_history=15)
    def always_buy(panel: pd.DataFrame) -> pd.DataFrame:
        yes = pd.Series(True, index=panel.index)
        return atr_signals(panel, yes, ~yes, pd.Series(0.5, index=panel.index), pd.Series("buy", index=panel.index))

    class Quiet(Strategy):
        name = "Quiet"
        min_history = 1
        def rule(self, panel):
            no = pd.Series(False, index=panel.index)
            return atr_signals(panel, no, no, pd.Series(0.0, index=panel.index), pd.Series("quiet", index=panel.index))

    @strategy(name="Broken", min_history=1)
    def broken(panel: pd.DataFrame) -> pd.DataFrame:
        out = atr_signals(panel, pd.Series(True, index=panel.index), pd.Series(False, index=panel.index),
                          pd.Series(0.5, index=panel.index), pd.Series("x", index=panel.index))
        out["confidence"] = 1.5
        return out

    not_a_strategy = 42
    BollingerBands = strategy(name="BollingerBands", min_history=1)(always_buy._rule)
    """
)


@pytest.fixture
def plugin_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "user_plugins.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_plugins"
    sys.modules.pop("user_plugins", None)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return compute_indicators(wiki_bars(("IBM", "MSFT"))).head(600)


def test_a_decorated_function_is_a_strategy_with_min_history(plugin_module, panel) -> None:
    plugin = load_strategy(f"{plugin_module}:always_buy")
    assert isinstance(plugin, FunctionStrategy) and plugin.name == "AlwaysBuy"
    out = plugin.generate(panel)
    young = panel["history"] < 15
    assert (out.loc[young, "action"] == "HOLD").all() and out.loc[young, "reason"].str.startswith(
        "insufficient history"
    ).all()
    assert (out.loc[~young, "action"] == "BUY").all()


def test_a_strategy_class_is_instantiated(plugin_module) -> None:
    assert load_strategy(f"{plugin_module}:Quiet").name == "Quiet"


def test_registry_adds_plugins_and_refuses_duplicates(plugin_module, panel) -> None:
    registry = build_registry(REGISTRY, [f"{plugin_module}:always_buy"], include_entry_points=False)
    assert set(registry) == set(REGISTRY) | {"AlwaysBuy"}
    selection = panel[["date", "symbol"]].assign(strategy="AlwaysBuy")
    signals = generate_signals(panel, selection, registry)
    assert (signals.loc[panel["history"] >= 15, "action"] == "BUY").all()
    with pytest.raises(ValueError, match="'BollingerBands' is already registered"):
        build_registry(REGISTRY, [f"{plugin_module}:BollingerBands"], include_entry_points=False)
    with pytest.raises(ValueError, match="'AlwaysBuy' is already registered"):
        build_registry(REGISTRY, [f"{plugin_module}:always_buy"] * 2, include_entry_points=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "must look like"),
        ("no_such_module_xyz:thing", "cannot load strategy"),
        ("{m}:missing", "cannot load strategy"),
        ("{m}:not_a_strategy", "int, not a Strategy"),
    ],
)
def test_bad_specs_are_clear_errors(plugin_module, spec, message) -> None:
    with pytest.raises(ValueError, match=message):
        load_strategy(spec.format(m=plugin_module))


def test_output_contract_is_enforced(plugin_module, panel) -> None:
    with pytest.raises(ValueError, match=r"strategy Broken: \d+ BUY/SELL rows with a confidence outside"):
        load_strategy(f"{plugin_module}:broken").generate(panel)
    misaligned = strategy(name="Shifted", min_history=1)(
        lambda p: (
            atr_signals(p, p["close"] > 0, p["close"] < 0, p["close"] * 0 + 0.5, p["symbol"])
            .reset_index(drop=True)
            .iloc[1:]
        )
    )
    with pytest.raises(ValueError, match="not aligned"):
        misaligned.generate(panel)
    with pytest.raises(ValueError, match="identifier"):
        strategy(name="bad name", min_history=1)(lambda p: p)
    with pytest.raises(ValueError, match="positive int"):
        strategy(name="Zero", min_history=0)(lambda p: p)


def test_entry_points_are_discovered(plugin_module, tmp_path, monkeypatch) -> None:
    """An installed distribution declaring the entry point group is picked up without configuration."""
    dist = tmp_path / "user_plugins_dist-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: user-plugins-dist\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[trading_pipeline.strategies]\nquiet = {plugin_module}:Quiet\n")
    registry = build_registry(REGISTRY)
    assert isinstance(registry["Quiet"], Strategy)
    assert "Quiet" not in build_registry(REGISTRY, include_entry_points=False)
