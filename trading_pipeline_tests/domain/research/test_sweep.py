"""The sweep's grid, its choice of the best point and its overfitting statistics, the latter against a DSR from
scipy's moments and a brute-force CSCV written here."""

import math
from datetime import date
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trading_pipeline.domain.research.sweep import (
    BookPoint,
    PointResult,
    best_point,
    expand_grid,
    overfitting,
    parse_grid,
)


def test_a_grid_is_typed_and_every_combination_is_a_point():
    grid = parse_grid(["risk_per_trade=0.01,0.02", "atr_stop_multiple=1.5,2,3", "strategy=Breakout"])
    assert grid == {"risk_per_trade": [0.01, 0.02], "atr_stop_multiple": [1.5, 2.0, 3.0], "strategy": ["Breakout"]}
    points = expand_grid(grid, {"slippage_bps": 10.0, "risk_per_trade": 0.05})
    assert len(points) == 6
    assert points[1].settings == {"risk_per_trade": 0.01, "atr_stop_multiple": 2.0, "strategy": "Breakout"}
    assert points[1].limits().risk_per_trade == 0.01  # the grid's value over the base's
    assert points[1].costs().slippage_bps == 10.0 and points[1].pin == "Breakout"
    assert parse_grid(["max_open_positions=3"])["max_open_positions"] == [3]
    policy, pinned = expand_grid(parse_grid(["strategy=selector,Breakout"]))
    assert (policy.pin, pinned.pin) == (None, "Breakout")  # selector: the run's own selection
    for bad, why in (
        (["nonsense=1"], "cannot sweep"),
        (["risk_per_trade"], "NAME=V1,V2"),
        (["risk_per_trade=a"], "type float"),
        (["risk_per_trade=0.01,0.010"], "repeat"),
        (["book=a,b"], "cannot sweep 'book'"),
        (["strategy="], "no values"),
        (["risk_per_trade=0.1", "risk_per_trade=0.2"], "twice"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_grid(bad)
    with pytest.raises(ValueError):
        BookPoint({"risk_per_trade": 2.0})  # outside the limit's bounds: refused when the point is made


def _result(i: int, equity: np.ndarray) -> PointResult:
    index = pd.bdate_range("2020-01-01", periods=len(equity))
    returns = np.diff(equity) / equity[:-1]
    sharpe = None if np.ptp(returns) == 0 else float(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
    return PointResult(
        BookPoint({"risk_per_trade": 0.01 * (i + 1)}), date(2020, 1, 1), index[-1].date(), pd.DataFrame(),
        pd.Series(equity, index=index), {"sharpe": sharpe},
    )  # fmt: skip


def _curves(seed: int, n_points: int, n_returns: int) -> list[PointResult]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_points):
        returns = rng.standard_t(4, n_returns) * 0.01 + 0.0004 * i
        out.append(_result(i, 100_000 * np.cumprod(np.r_[1.0, 1 + returns])))
    out.append(_result(n_points, np.full(n_returns + 1, 100_000.0)))  # never traded: no Sharpe
    return out


def brute_force_pbo(matrix: np.ndarray, n_blocks: int) -> float:
    """CSCV by the letter: every half of the blocks in sample, the best in-sample Sharpe, its out-of-sample rank."""
    blocks = np.array_split(matrix, n_blocks)
    n = matrix.shape[1]

    def sharpes(rows):
        data = np.vstack([blocks[b] for b in rows])
        return [-np.inf if np.ptp(data[:, j]) == 0 else data[:, j].mean() / data[:, j].std(ddof=1) for j in range(n)]

    below = 0
    for half in combinations(range(n_blocks), n_blocks // 2):
        inside = sharpes(half)
        outside = sharpes([b for b in range(n_blocks) if b not in half])
        chosen = int(np.argmax(inside))
        rank = sum(o < outside[chosen] for o in outside) + (sum(o == outside[chosen] for o in outside) + 1) / 2
        below += math.log(rank / (n + 1) / (1 - rank / (n + 1))) <= 0
    return below / math.comb(n_blocks, n_blocks // 2)


def test_overfitting_of_a_sweep_against_independent_computations():
    results = _curves(7, 5, 70)  # 70 returns: the 6 oldest are dropped for 16 blocks of 4
    stats_ = overfitting(results)
    sharpes = [r.metrics["sharpe"] for r in results]
    best = int(np.nanargmax(np.array([np.nan if s is None else s for s in sharpes], dtype=float)))
    assert stats_.best == best
    # DSR: the best's per-period Sharpe, scipy's moments, all 6 points tried, the variance of the 5 scored Sharpes.
    returns = results[best].equity.pct_change().dropna().to_numpy()
    sr = returns.mean() / returns.std(ddof=1)
    skew, kurt = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    scored = [r.equity.pct_change().dropna() for r in results if r.metrics["sharpe"] is not None]
    variance = np.var([s.mean() / s.std(ddof=1) for s in scored], ddof=1)
    gamma = np.euler_gamma
    sr0 = math.sqrt(variance) * ((1 - gamma) * stats.norm.ppf(1 - 1 / 6) + gamma * stats.norm.ppf(1 - 1 / (6 * math.e)))
    expected = stats.norm.cdf(
        (sr - sr0) * math.sqrt(len(returns) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )
    assert stats_.dsr == pytest.approx(expected, abs=1e-12)
    matrix = np.column_stack([r.equity.pct_change().dropna().to_numpy() for r in results])[6:]
    assert stats_.pbo == pytest.approx(brute_force_pbo(matrix, 16), abs=1e-12)


def test_a_point_without_a_score_is_never_the_best():
    flat = _result(0, np.full(30, 100.0))
    losing = _result(1, 100.0 * np.cumprod(np.r_[1.0, np.tile([0.99, 1.005], 14), 0.99]))
    assert losing.metrics["sharpe"] < 0
    assert best_point([flat, losing]) == 1
    assert best_point([flat, flat]) is None
    nothing = overfitting([flat, flat])
    assert nothing.best is None and nothing.dsr is None and nothing.pbo is None and "no point" in nothing.dsr_text


def test_pbo_starts_at_the_first_trade():
    """Before any point holds a position every return is zero: CSCV judges the sessions from the first move on."""
    moving = _curves(11, 3, 64)
    results = [
        _result(i, np.r_[np.full(30, r.equity.iloc[0]), r.equity.to_numpy()]) for i, r in enumerate(moving)
    ]  # 30 flat sessions, then 64 returns
    matrix = np.column_stack([r.equity.pct_change().dropna().to_numpy() for r in results])
    assert (matrix[:30] == 0).all() and (matrix[30] != 0).any()
    assert overfitting(results).pbo == pytest.approx(brute_force_pbo(matrix[30:], 16), abs=1e-12)
