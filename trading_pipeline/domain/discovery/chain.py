"""The whole discovery chain over a bars panel in one pass: features → universe → pickers → ensemble, and
the per-picker report the README's table is made of.

The LLM picker is the offline ranking unless the caller passes the picks its model answered (one
``answer_picks`` frame per session, concatenated); either way the chain itself makes no call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from trading_pipeline.domain.discovery.ensemble import EnsembleCombiner
from trading_pipeline.domain.discovery.features import discovery_features
from trading_pipeline.domain.discovery.fuzzy_picker import FuzzyPicker
from trading_pipeline.domain.discovery.llm_picker import MAX_PICKS, offline_picks
from trading_pipeline.domain.discovery.metric_picker import MetricPicker
from trading_pipeline.domain.discovery.scoring import HORIZONS, forward_returns, picker_summary
from trading_pipeline.domain.discovery.universe import UniverseRules, eligible_universe

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class DiscoverySettings:
    """Every knob of the chain; each part's defaults are documented on its class."""

    universe: UniverseRules = field(default_factory=UniverseRules)
    metric: MetricPicker = field(default_factory=MetricPicker)
    fuzzy: FuzzyPicker = field(default_factory=FuzzyPicker)
    max_llm_picks: int = MAX_PICKS
    ensemble: EnsembleCombiner = field(default_factory=EnsembleCombiner)


@dataclass(frozen=True)
class Discovery:
    features: pd.DataFrame
    universe: pd.DataFrame
    picks: pd.DataFrame
    watchlist: pd.DataFrame

    def suggestions(self) -> pd.DataFrame:
        """(date, symbol, picker) of every suggestion: each picker's selected picks, and the watchlist as
        ``ensemble``."""
        chosen = self.picks.loc[self.picks["selected"], ["date", "symbol", "picker"]]
        return pd.concat([chosen, self.watchlist[["date", "symbol"]].assign(picker=ENSEMBLE)], ignore_index=True)


def discover(
    bars: pd.DataFrame,
    settings: DiscoverySettings = DiscoverySettings(),
    holdings: pd.DataFrame | None = None,
    membership: pd.DataFrame | None = None,
    llm_picks: pd.DataFrame | None = None,
    sectors: Mapping[str, str] | None = None,
) -> Discovery:
    """Every session's universe, picks and watchlist from validated ``bars`` (see the pickers for
    ``holdings``, the universe for ``membership``)."""
    features = discovery_features(bars)
    universe = eligible_universe(features, settings.universe, membership)
    candidates = features.loc[universe["eligible"].to_numpy()]
    picks = pd.concat(
        [
            settings.metric.pick(candidates),
            settings.fuzzy.pick(candidates, holdings, sectors),
            offline_picks(candidates, settings.max_llm_picks) if llm_picks is None else llm_picks,
        ],
        ignore_index=True,
    )
    return Discovery(features, universe, picks, settings.ensemble.combine(picks))


def picker_report(
    bars: pd.DataFrame,
    settings: DiscoverySettings = DiscoverySettings(),
    holdings: pd.DataFrame | None = None,
    membership: pd.DataFrame | None = None,
    traded: pd.DataFrame | None = None,
    horizons: tuple[int, ...] = HORIZONS,
) -> pd.DataFrame:
    """Per picker (and the ensemble) and horizon: suggestions, hit rate against the equal-weight universe,
    mean excess return and trade rate (see ``scoring.picker_summary``), over the whole panel."""
    found = discover(bars, settings, holdings, membership)
    scored = forward_returns(found.suggestions(), bars, found.universe, horizons)
    return picker_summary(scored, traded, horizons)
