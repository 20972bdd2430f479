"""User strategies: a typed function or a ``Strategy`` subclass in the user's own module, registered by
configuration ("package.module:attribute") or by a ``trading_pipeline.strategies`` entry point.

A user strategy joins the built-in ten in one registry, so it runs in the same graph, backtests and
selection. Its output is checked on every call (columns, index, actions, confidence range, stops on
signals): a bad plugin fails with its name in the error instead of trading on garbage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points

import numpy as np
import pandas as pd

from trading_pipeline.domain.schema import Action
from trading_pipeline.domain.strategies.base import SIGNAL_OUTPUT_COLUMNS, Strategy

ENTRY_POINT_GROUP = "trading_pipeline.strategies"
SignalRule = Callable[[pd.DataFrame], pd.DataFrame]


class FunctionStrategy(Strategy):
    """A strategy made from one function of the indicators panel (see ``strategy``)."""

    def __init__(self, name: str, min_history: int, rule: SignalRule) -> None:
        if not name or not name.isidentifier():
            raise ValueError(f"a strategy name must be an identifier, got {name!r}")
        if isinstance(min_history, bool) or not isinstance(min_history, int) or min_history < 1:
            raise ValueError(f"strategy {name}: min_history must be a positive int, got {min_history!r}")
        self.name = name
        self.min_history = min_history
        self._rule = rule

    def rule(self, panel: pd.DataFrame) -> pd.DataFrame:
        return checked_shape(str(self.name), self._rule(panel), panel)

    def generate(self, panel: pd.DataFrame) -> pd.DataFrame:
        """The minimum-history rule first (so a young symbol's rows need no stop), then the contract."""
        return checked_output(str(self.name), super().generate(panel), panel)

    def __call__(self, panel: pd.DataFrame) -> pd.DataFrame:
        return self.generate(panel)


def strategy(name: str, min_history: int) -> Callable[[SignalRule], FunctionStrategy]:
    """Decorator: ``@strategy(name="SmaCross", min_history=20)`` over ``def rule(panel) -> signals``."""

    def wrap(rule: SignalRule) -> FunctionStrategy:
        return FunctionStrategy(name, min_history, rule)

    return wrap


def checked_shape(name: str, signals: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """The plugin's signals if they are a frame with the output columns on the panel's index."""
    if not isinstance(signals, pd.DataFrame):
        raise ValueError(f"strategy {name} returned {type(signals).__name__}, not a DataFrame")
    missing = [c for c in SIGNAL_OUTPUT_COLUMNS if c not in signals.columns]
    if missing:
        raise ValueError(f"strategy {name} output lacks columns {missing}")
    if not signals.index.equals(panel.index):
        raise ValueError(f"strategy {name} output is not aligned to the panel's index")
    return signals[SIGNAL_OUTPUT_COLUMNS]


def checked_output(name: str, signals: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """The plugin's signals if they honour the contract; ValueError naming the strategy otherwise."""
    signals = checked_shape(name, signals, panel)
    actions = set(signals["action"].astype("str").unique()) - {a.value for a in Action}
    if actions:
        raise ValueError(f"strategy {name} output has unknown actions {sorted(actions)}")
    confidence = signals["confidence"].to_numpy(dtype="float64", na_value=np.nan)
    acting = (signals["action"] != Action.HOLD.value).to_numpy()
    bad = acting & ~((confidence >= 0.0) & (confidence <= 1.0))
    if bad.any():
        raise ValueError(f"strategy {name}: {int(bad.sum())} BUY/SELL rows with a confidence outside [0, 1] or NaN")
    stops = signals["stop"].to_numpy(dtype="float64", na_value=np.nan)
    if (acting & ~(np.isfinite(stops) & (stops > 0))).any():
        raise ValueError(f"strategy {name}: BUY/SELL rows need a finite, positive stop")
    return signals


def load_strategy(spec: str) -> Strategy:
    """Import ``"package.module:attribute"``: a Strategy instance, or a Strategy subclass taking no arguments."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"strategy spec {spec!r} must look like 'package.module:attribute'")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load strategy {spec!r}: {exc}") from exc
    return _as_strategy(target, spec)


def _as_strategy(target: object, origin: str) -> Strategy:
    if isinstance(target, type) and issubclass(target, Strategy):
        target = target()
    if not isinstance(target, Strategy):
        raise ValueError(f"{origin} is {type(target).__name__}, not a Strategy (use @strategy or subclass Strategy)")
    return target


def build_registry(
    builtins: Mapping[str, Strategy], specs: Iterable[str] = (), include_entry_points: bool = True
) -> dict[str, Strategy]:
    """The built-in strategies plus the installed entry points and the configured specs.

    Raises ValueError on a name used twice: a plugin may never silently replace another strategy.
    """
    registry = dict(builtins)
    found: list[tuple[str, Strategy]] = []
    if include_entry_points:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = point.load()
            except Exception as exc:  # any import error of a third-party plugin, reported with its origin
                raise ValueError(f"cannot load entry point {point.name} = {point.value}: {exc}") from exc
            found.append((f"entry point {point.name}", _as_strategy(target, point.value)))
    found.extend((spec, load_strategy(spec)) for spec in specs)
    for origin, plugin in found:
        name = str(plugin.name)
        if name in registry:
            raise ValueError(f"{origin}: a strategy named {name!r} is already registered")
        registry[name] = plugin
    return registry
