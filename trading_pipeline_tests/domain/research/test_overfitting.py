"""Deflated Sharpe Ratio and Probability of Backtest Overfitting against the papers' worked example, scipy, hand
computations and a plain brute-force CSCV written here."""

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from trading_pipeline.domain.research.overfitting import (
    deflated_sharpe,
    deflated_sharpe_from_moments,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)


def direct_sr0(n_trials: int, variance: float) -> float:
    gamma = np.euler_gamma
    return math.sqrt(variance) * (
        (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials) + gamma * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )


def direct_psr(sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float) -> float:
    se = math.sqrt((1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2) / (n_obs - 1))
    return float(stats.norm.cdf((sharpe - benchmark) / se))


# --- Deflated Sharpe Ratio -----------------------------------------------------------------------------------------

# The DSR paper's numerical example (Bailey and López de Prado 2014, SSRN 2460551, "A numerical example"): after
# N = 100 trials whose annualized Sharpes have variance 1/2, a strategy shows an annualized Sharpe of 2.5 over five
# years of daily returns (T = 1250) with skew -3 and kurtosis 10; the paper reports SR0 = 0.1132 (per day) and
# DSR = 0.9004, and that 46 trials would have given 0.9505, as would 88 with normal returns. The paper converts with
# 250 days a year: SR = 2.5 / √250, V = 0.5 / 250 (with 252 the DSR is 0.8997, as in G. Marti's 2018 blog post
# "How to detect false strategies? The Deflated Sharpe Ratio"). The reported figures, as quoted by several
# independent reimplementations found with the search tool, are what these rounded asserts check.
PAPER_SR, PAPER_V, PAPER_T = 2.5 / math.sqrt(250), 0.5 / 250, 1250


def test_dsr_reproduces_the_papers_numerical_example():
    result = deflated_sharpe_from_moments(PAPER_SR, PAPER_T, -3.0, 10.0, n_trials=100, sharpe_variance=PAPER_V)
    assert round(result.expected_max_sharpe, 4) == 0.1132
    assert round(result.dsr, 4) == 0.9004
    assert result.expected_max_sharpe == pytest.approx(direct_sr0(100, PAPER_V), rel=1e-12)
    assert result.dsr == pytest.approx(direct_psr(PAPER_SR, PAPER_T, -3, 10, direct_sr0(100, PAPER_V)), abs=1e-12)
    fewer = deflated_sharpe_from_moments(PAPER_SR, PAPER_T, -3.0, 10.0, n_trials=46, sharpe_variance=PAPER_V)
    assert round(fewer.dsr, 4) == 0.9505
    normal = deflated_sharpe_from_moments(PAPER_SR, PAPER_T, 0.0, 3.0, n_trials=88, sharpe_variance=PAPER_V)
    assert round(normal.dsr, 4) == 0.9505
    assert result.describe().startswith("DSR 0.9004: probability that the true per-period Sharpe exceeds 0.1132")


@pytest.mark.parametrize(
    ("sharpe", "n_obs", "skew", "kurtosis", "benchmark"),
    [(0.1, 252, 0.0, 3.0, 0.0), (0.05, 60, -1.2, 7.5, 0.02), (-0.03, 1000, 0.8, 4.0, 0.0), (0.2, 30, 2.0, 9.0, 0.25)],
)
def test_psr_matches_a_direct_computation_with_scipy(sharpe, n_obs, skew, kurtosis, benchmark):
    assert probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis, benchmark) == pytest.approx(
        direct_psr(sharpe, n_obs, skew, kurtosis, benchmark), abs=1e-12
    )
    # At the benchmark itself the observed Sharpe proves nothing either way.
    assert probabilistic_sharpe_ratio(benchmark, n_obs, skew, kurtosis, benchmark) == 0.5


def test_dsr_from_returns_uses_per_period_moments_and_the_trials_sample_variance():
    rng = np.random.default_rng(7)
    returns = rng.lognormal(0.0, 0.5, 500) * 0.01 - 0.0105  # right-skewed, fat-tailed daily returns
    trial_sharpes = np.array([0.02, -0.01, 0.05, 0.0, 0.03, 0.01])
    result = deflated_sharpe(returns, trial_sharpes)

    sharpe = returns.mean() / returns.std(ddof=1)
    skew, kurtosis = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    variance = sum((s - trial_sharpes.mean()) ** 2 for s in trial_sharpes) / (len(trial_sharpes) - 1)
    assert (result.sharpe, result.n_obs, result.n_trials) == (pytest.approx(sharpe), 500, 6)
    assert (result.skew, result.kurtosis) == (pytest.approx(skew), pytest.approx(kurtosis))
    assert result.sharpe_variance == pytest.approx(variance)
    assert result.dsr == pytest.approx(direct_psr(sharpe, 500, skew, kurtosis, direct_sr0(6, variance)), abs=1e-12)


def test_one_trial_is_no_selection_so_the_dsr_is_the_psr_against_zero():
    assert expected_max_sharpe(1, 0.5) == 0.0
    result = deflated_sharpe_from_moments(0.08, 300, -0.5, 5.0, n_trials=1, sharpe_variance=0.0)
    assert result.dsr == pytest.approx(direct_psr(0.08, 300, -0.5, 5.0, 0.0), abs=1e-12)
    returns = np.random.default_rng(3).normal(0.001, 0.01, 250)
    assert deflated_sharpe(returns, [0.1]).expected_max_sharpe == 0.0
    # Identical trials: no dispersion, no selection bias either.
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_dsr_refuses_bad_input():
    with pytest.raises(ValueError, match="non-excess kurtosis"):
        probabilistic_sharpe_ratio(0.1, 250, 0.0, 0.0)  # the excess kurtosis of a normal distribution
    with pytest.raises(ValueError, match="n_obs must be at least 2"):
        probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0)
    with pytest.raises(ValueError, match="sharpe must be finite"):
        probabilistic_sharpe_ratio(math.nan, 250, 0.0, 3.0)
    with pytest.raises(ValueError, match="n_trials must be at least 1"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="sharpe_variance must be finite and non-negative"):
        expected_max_sharpe(10, -0.1)
    with pytest.raises(ValueError, match="zero variance"):
        deflated_sharpe(np.zeros(100), [0.1, 0.2])
    with pytest.raises(ValueError, match="not at positions \\[1\\]"):
        deflated_sharpe(np.random.default_rng(0).normal(size=50), [0.1, math.nan, 0.2])
    with pytest.raises(ValueError, match="1-D array of at least 2 finite values"):
        deflated_sharpe([0.01, math.inf, 0.02], [0.1, 0.2])


# --- Probability of Backtest Overfitting ---------------------------------------------------------------------------


def sharpe_or_nan(rows: np.ndarray) -> np.ndarray:
    """Per-column Sharpe, NaN for a column whose values are all equal."""
    flat = rows.max(axis=0) == rows.min(axis=0)
    std = rows.std(axis=0, ddof=1)
    return np.where(flat, np.nan, rows.mean(axis=0) / np.where(flat, 1.0, std))


def brute_force_cscv(returns: np.ndarray, n_blocks: int, metric=sharpe_or_nan):
    """CSCV written plainly, one split at a time: (logits, selected, in-sample, out-of-sample) per split."""
    n_obs, n_trials = returns.shape
    size = n_obs // n_blocks
    logits, selected, pairs = [], [], []
    for half in combinations(range(n_blocks), n_blocks // 2):
        inside = [t for t in range(n_obs) if t // size in half]
        outside = [t for t in range(n_obs) if t // size not in half]
        is_perf, oos_perf = metric(returns[inside]), metric(returns[outside])
        best = None
        for trial in range(n_trials):
            if not math.isnan(is_perf[trial]) and (best is None or is_perf[trial] > is_perf[best]):
                best = trial
        mine = oos_perf[best]
        if math.isnan(mine):
            worse, ties = 0, sum(math.isnan(v) for v in oos_perf) - 1
        else:
            worse = sum(math.isnan(v) or v < mine for v in oos_perf)
            ties = sum(v == mine for v in oos_perf) - 1
        rank = 1 + worse + ties / 2
        omega = rank / (n_trials + 1)
        logits.append(math.log(omega / (1 - omega)))
        selected.append(best)
        pairs.append((is_perf[best], oos_perf[best]))
    return np.array(logits), np.array(selected), np.array(pairs)


@pytest.mark.parametrize("metric", [None, lambda rows: rows.mean(axis=0)], ids=["sharpe", "mean return"])
def test_cscv_matches_a_brute_force_on_a_small_matrix(metric):
    returns = np.random.default_rng(11).normal(0.0005, 0.01, (40, 4))
    result = probability_of_backtest_overfitting(returns, n_blocks=4, metric=metric)
    logits, selected, pairs = brute_force_cscv(returns, 4, metric or sharpe_or_nan)
    assert len(result.logits) == math.comb(4, 2) == 6
    np.testing.assert_allclose(result.logits, logits, rtol=1e-12)
    np.testing.assert_array_equal(result.selected, selected)
    np.testing.assert_allclose(result.in_sample, pairs[:, 0], rtol=1e-12)
    np.testing.assert_allclose(result.out_of_sample, pairs[:, 1], rtol=1e-12)
    assert result.pbo == np.mean(logits <= 0)
    assert result.probability_of_loss == np.mean(pairs[:, 1] < 0)


def test_block_combined_sharpes_equal_sharpes_of_the_built_halves_at_scale():
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0002, 0.01, (400, 10)) + rng.normal(0, 0.02, (400, 1))  # correlated trials
    returns[:, 6] = 0.1  # a constant return: flat, though its float mean need not be exactly 0.1
    combined = probability_of_backtest_overfitting(returns, n_blocks=8)
    built = probability_of_backtest_overfitting(returns, n_blocks=8, metric=sharpe_or_nan)
    np.testing.assert_allclose(combined.logits, built.logits, rtol=1e-12)
    np.testing.assert_array_equal(combined.selected, built.selected)
    np.testing.assert_allclose(combined.out_of_sample, built.out_of_sample, rtol=1e-9)
    assert 6 not in combined.selected


def test_ties_and_a_trial_that_never_trades_by_hand():
    # Two blocks of two periods, so two splits: in-sample block 0 then block 1. Trials A and B are identical, D is
    # flat (never trades). Sharpes (mean / sd, ddof 1): block 0: A = B = 2/√2 = √2, C = -1/√2, D undefined;
    # block 1: A = B = 0/√2 = 0, C = 2/√2 = √2, D undefined.
    returns = np.array(
        [
            # A     B     C     D
            [1.0, 1.0, -2.0, 0.0],
            [3.0, 3.0, 0.0, 0.0],
            [-1.0, -1.0, 1.0, 0.0],
            [1.0, 1.0, 3.0, 0.0],
        ]
    )
    result = probability_of_backtest_overfitting(returns, n_blocks=2)
    # Split 1: A and B tie in sample, A (the first) is selected; out of sample D ranks 1, A and B share ranks 2 and 3
    # (2.5 each), C ranks 4: ω = 2.5/5 = 1/2, λ = 0, which counts as overfit.
    # Split 2: C is selected; out of sample D ranks 1, C (-1/√2) ranks 2, A and B share 3.5: ω = 2/5, λ = ln(2/3).
    np.testing.assert_array_equal(result.selected, [0, 2])
    np.testing.assert_allclose(result.logits, [0.0, math.log(2 / 3)], atol=1e-15)
    np.testing.assert_allclose(result.in_sample, [math.sqrt(2), math.sqrt(2)])
    np.testing.assert_allclose(result.out_of_sample, [0.0, -1 / math.sqrt(2)], atol=1e-15)
    assert result.pbo == 1.0
    assert result.probability_of_loss == 0.5  # split 2 loses out of sample; split 1's Sharpe of 0 is no loss


def test_pure_noise_gives_a_pbo_near_one_half_on_average():
    # Independent noise: the in-sample best's out-of-sample rank is uniform on 1..N, so with N even P(λ ≤ 0) = 1/2.
    # One matrix's PBO spreads widely (its splits share data; sd about 0.23), so average 200: standard error ≈ 0.016.
    pbos = [
        probability_of_backtest_overfitting(np.random.default_rng(seed).normal(0, 0.01, (240, 10)), n_blocks=8).pbo
        for seed in range(200)
    ]
    assert abs(np.mean(pbos) - 0.5) < 0.05


def test_a_dominant_trial_gives_a_pbo_of_zero():
    returns = np.random.default_rng(2).normal(0, 0.01, (320, 6))
    returns[:, 4] += 0.01  # a per-period Sharpe near 1: best in and out of every half
    result = probability_of_backtest_overfitting(returns, n_blocks=8)
    assert (result.selected == 4).all()
    np.testing.assert_allclose(result.logits, math.log(6))  # ω = 6/7 on every split
    assert result.pbo == 0.0
    assert result.probability_of_loss == 0.0
    assert result.describe() == (
        "PBO 0.00 over 70 splits of 8 blocks among 6 trials: median logit +1.79, probability of an out-of-sample loss 0.00"
    )


def test_pbo_refuses_bad_input():
    returns = np.random.default_rng(0).normal(size=(40, 4))
    with pytest.raises(ValueError, match="n_blocks must be even"):
        probability_of_backtest_overfitting(returns, n_blocks=5)
    with pytest.raises(ValueError, match="n_blocks must be even and at least 2"):
        probability_of_backtest_overfitting(returns, n_blocks=0)
    with pytest.raises(ValueError, match="40 periods do not cut into 6 equal blocks: drop 4"):
        probability_of_backtest_overfitting(returns, n_blocks=6)
    with pytest.raises(ValueError, match="at least 2 trials"):
        probability_of_backtest_overfitting(returns[:, :1], n_blocks=4)
    with pytest.raises(ValueError, match="2-D"):
        probability_of_backtest_overfitting(returns[:, 0], n_blocks=4)
    with pytest.raises(ValueError, match="at least 2 periods"):
        probability_of_backtest_overfitting(returns[:2], n_blocks=2)
    broken = returns.copy()
    broken[7, 2] = math.nan
    with pytest.raises(ValueError, match="period 7 of trial 2 is nan"):
        probability_of_backtest_overfitting(broken, n_blocks=4)
    idle = returns.copy()
    idle[:20] = 0.0  # nobody trades in blocks 0 and 1
    with pytest.raises(ValueError, match="no trial has a defined in-sample performance on blocks \\[0, 1\\]"):
        probability_of_backtest_overfitting(idle, n_blocks=4)
    with pytest.raises(ValueError, match="one value per trial"):
        probability_of_backtest_overfitting(returns, n_blocks=4, metric=lambda rows: rows.mean())
