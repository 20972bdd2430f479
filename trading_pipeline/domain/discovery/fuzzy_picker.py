"""FuzzyPicker: a weighted mean of fuzzy memberships in [0, 1], suggesting candidates above a minimum score.

Where the MetricPicker draws hard lines, the memberships grade: a symbol just under a liquidity level loses a
little, not everything. A NaN feature has membership 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd

from trading_pipeline.domain.discovery.picks import picks_frame
from trading_pipeline.domain.sectors import load_sector_map, sector_of
from trading_pipeline.domain.strategies.base import Text, join, number_text, text_table

CRITERIA = ("liquidity", "volatility", "momentum", "sector")
HOLDINGS_COLUMNS = ["date", "symbol"]


@dataclass(frozen=True)
class FuzzyPicker:
    """Memberships (defaults sit around the S&P 500's 2013-2018 distribution):

    - ``liquidity``: average dollar volume, 0 at or below ``liquidity[0]``, 1 at or above ``liquidity[1]``,
      linear in its logarithm between ($10M → 0, $100M → 0.5, $1B → 1): liquidity matters by orders of size.
    - ``volatility``: a preference for moderate daily volatility, a trapezoid rising from 0 at
      ``volatility[0]`` to 1 at ``volatility[1]``, flat to ``volatility[2]``, back to 0 at ``volatility[3]``:
      a symbol that barely moves gives a strategy nothing to trade, a wild one stops out on noise.
    - ``momentum``: the 60-session return, 0 at or below ``momentum[0]`` and 1 at or above ``momentum[1]``.
    - ``sector``: 1 - the share of the book's holdings on D in the candidate's sector (1 when the book holds
      nothing), so a crowded sector scores low.

    ``weights`` are normalised to sum 1 (a criterion left out weighs 0); a candidate is suggested when its score
    reaches ``min_score``.
    """

    name: ClassVar[str] = "fuzzy"
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict.fromkeys(CRITERIA, 0.25)))
    min_score: float = 0.7
    liquidity: tuple[float, float] = (1e7, 1e9)
    volatility: tuple[float, float, float, float] = (0.005, 0.01, 0.02, 0.04)
    momentum: tuple[float, float] = (-0.10, 0.20)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(CRITERIA))
        if unknown:
            raise ValueError(f"fuzzy weights name unknown criteria {unknown}; the criteria are {list(CRITERIA)}")
        if any(not w >= 0 for w in self.weights.values()) or not sum(self.weights.values()) > 0:
            raise ValueError(f"fuzzy weights must be >= 0 with a positive sum, got {dict(self.weights)}")
        if not 0 <= self.min_score <= 1:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        for label, points in (
            ("liquidity", self.liquidity),
            ("volatility", self.volatility),
            ("momentum", self.momentum),
        ):
            if not all(a < b for a, b in itertools.pairwise(points)):
                raise ValueError(f"{label} membership points must be strictly increasing, got {points}")
        if not self.liquidity[0] > 0:
            raise ValueError(
                f"liquidity membership points are dollar volumes on a log scale: > 0, got {self.liquidity}"
            )

    def normalised_weights(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {c: self.weights.get(c, 0.0) / total for c in CRITERIA}

    def memberships(
        self, candidates: pd.DataFrame, holdings: pd.DataFrame | None = None, sectors: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """Each criterion's membership per candidate row."""
        low, high = np.log(self.liquidity[0]), np.log(self.liquidity[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_volume = np.log(candidates["dollar_volume"].to_numpy(dtype="float64"))
        a, b, c, d = self.volatility
        volatility = candidates["volatility"].to_numpy(dtype="float64")
        memberships = {
            "liquidity": _ramp(log_volume, low, high),
            "volatility": np.minimum(_ramp(volatility, a, b), 1.0 - _ramp(volatility, c, d)),
            "momentum": _ramp(candidates["momentum"].to_numpy(dtype="float64"), *self.momentum),
            "sector": _sector_balance(candidates, holdings, load_sector_map() if sectors is None else sectors),
        }
        return {name: np.nan_to_num(values, nan=0.0) for name, values in memberships.items()}

    def pick(
        self, candidates: pd.DataFrame, holdings: pd.DataFrame | None = None, sectors: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """``PICK_COLUMNS`` for every candidate. ``holdings``: (date, symbol) of the symbols the book holds at
        the start of each session (empty or None: nothing held); ``sectors``: the bundled GICS map by default."""
        memberships = self.memberships(candidates, holdings, sectors)
        weights = self.normalised_weights()
        score = np.clip(sum(weights[name] * memberships[name] for name in CRITERIA), 0.0, 1.0)
        selected = score >= self.min_score
        verdict = text_table([f" < {self.min_score:g}: ", f" >= {self.min_score:g}: "]).take(selected.astype("int64"))
        parts: list[Text] = ["score ", number_text(score, 3), verdict]
        for k, name in enumerate(CRITERIA):
            parts += [f"{', ' if k else ''}{name} ", number_text(memberships[name], 2)]
        return picks_frame(candidates, self.name, score, selected, pd.Series(join(*parts), dtype="str"))


def _ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 at or below ``low``, 1 at or above ``high``, linear between; NaN stays NaN."""
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _sector_balance(candidates: pd.DataFrame, holdings: pd.DataFrame | None, sectors: Mapping[str, str]) -> np.ndarray:
    """1 - the share of the session's holdings in each candidate's sector; 1 on a session with no holdings."""
    if holdings is None or holdings.empty:
        return np.ones(len(candidates))
    missing = [c for c in HOLDINGS_COLUMNS if c not in holdings.columns]
    if missing:
        raise ValueError(f"holdings lack column(s) {missing}; expected (date, symbol) of the symbols held")
    if not pd.api.types.is_datetime64_dtype(holdings["date"]):
        raise ValueError(f"holdings 'date' must be tz-naive datetime64, got {holdings['date'].dtype}")
    held = holdings[HOLDINGS_COLUMNS].drop_duplicates()
    # Sessions and sectors as integer codes shared by the holdings (first) and the candidates (after them).
    days = np.r_[held["date"].to_numpy(dtype="datetime64[ns]"), candidates["date"].to_numpy(dtype="datetime64[ns]")]
    day = pd.factorize(days)[0]
    sector = pd.factorize(np.r_[_sectors(held["symbol"], sectors), _sectors(candidates["symbol"], sectors)])[0]
    cell = day * (sector.max(initial=0) + 1) + sector
    n_held = len(held)
    in_sector = np.bincount(cell[:n_held], minlength=cell.max(initial=0) + 1)[cell[n_held:]]
    held_total = np.bincount(day[:n_held], minlength=day.max(initial=0) + 1)[day[n_held:]]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(held_total > 0, 1.0 - in_sector / held_total, 1.0)


def _sectors(symbols: pd.Series, sectors: Mapping[str, str]) -> np.ndarray:
    """Each symbol's sector (``sector_of``), looked up once per distinct symbol."""
    codes, distinct = pd.factorize(symbols)
    return np.asarray([sector_of(str(s), sectors) for s in distinct], dtype=object)[codes]
