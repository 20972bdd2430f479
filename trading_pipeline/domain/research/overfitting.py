"""Overfitting statistics of a parameter sweep: is the best trial's Sharpe more than the luck of trying many
(the Deflated Sharpe Ratio), and does picking the in-sample best pay out of sample (the Probability of Backtest
Overfitting)?

- Bailey and López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5), 2014 (SSRN 2460551).
- Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting", Journal of Computational
  Finance 20(4), 2017 (SSRN 2326253).

Every Sharpe ratio here is per period (mean / standard deviation of the per-period returns, ddof 1, no risk-free
rate), because the formulas are: an annualized Sharpe SR_a over P periods a year is SR_a / √P per period, and a
variance of annualized Sharpes V_a is V_a / P (a variance scales with the square of its figures).
``metrics.performance_metrics`` reports annualized Sharpes with P = 252. Kurtosis is the non-excess one (3 for a
normal distribution).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from itertools import combinations
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class DeflatedSharpe:
    """The DSR of a selected trial with what it was computed from (Sharpes per period)."""

    sharpe: float
    n_obs: int
    skew: float
    kurtosis: float
    n_trials: int
    sharpe_variance: float
    expected_max_sharpe: float
    dsr: float

    def describe(self) -> str:
        return (
            f"DSR {self.dsr:.4f}: probability that the true per-period Sharpe exceeds {self.expected_max_sharpe:.4f}, "
            f"the expected best of {self.n_trials} trial(s) without skill, given {self.sharpe:.4f} observed over "
            f"{self.n_obs} periods (skew {self.skew:.2f}, kurtosis {self.kurtosis:.2f})"
        )


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """PSR(SR*): the probability that the true per-period Sharpe exceeds ``benchmark`` (SR*), given ``sharpe`` (SR)
    observed over ``n_obs`` (T) returns of that skewness and kurtosis: Φ((SR − SR*)·√(T − 1) / √(1 − skew·SR +
    (kurtosis − 1)/4·SR²)). Negative skew and fat tails widen the Sharpe's standard error, so the same SR proves less.
    """
    for name, value in (("sharpe", sharpe), ("skew", skew), ("kurtosis", kurtosis), ("benchmark", benchmark)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if n_obs < 2:
        raise ValueError(f"n_obs must be at least 2, got {n_obs}")
    # Pearson's bound kurtosis ≥ skew² + 1 holds for every distribution; an excess kurtosis usually breaks it.
    if kurtosis < skew**2 + 1:
        raise ValueError(
            f"kurtosis {kurtosis} is below skew² + 1 = {skew**2 + 1}, which no distribution has: "
            "pass the non-excess kurtosis (3 for a normal distribution)"
        )
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if spread <= 0:  # ≥ (1 − skew·SR/2)² by the bound above: zero only for a two-point distribution
        raise ValueError(f"the Sharpe's standard error is zero for sharpe {sharpe}, skew {skew}, kurtosis {kurtosis}")
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the per-period Sharpe the best of ``n_trials`` (N) independent trials without skill is expected to show
    when their Sharpes vary with ``sharpe_variance`` (V): √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), γ the
    Euler–Mascheroni constant. This is the paper's approximation for large N (for N = 2 it gives 0.520·√V where the
    exact expectation is 0.564·√V). One trial involves no selection: SR0 = 0, and the DSR is the PSR against zero.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise ValueError(f"sharpe_variance must be finite and non-negative, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    quantiles = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials) + EULER_GAMMA * _NORMAL.inv_cdf(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * quantiles


def deflated_sharpe_from_moments(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, *, n_trials: int, sharpe_variance: float
) -> DeflatedSharpe:
    """DSR = PSR(SR0) of a trial selected among ``n_trials`` whose per-period Sharpes have ``sharpe_variance``."""
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    dsr = probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis, benchmark=sr0)
    return DeflatedSharpe(sharpe, n_obs, skew, kurtosis, n_trials, sharpe_variance, sr0, dsr)


def deflated_sharpe(returns: ArrayLike, trial_sharpes: ArrayLike) -> DeflatedSharpe:
    """DSR of the selected trial's per-period ``returns`` among ``trial_sharpes``: the per-period Sharpes of all N
    trials (the selected one included), whose sample variance (ddof 1) is V. Skewness and kurtosis are the plain
    moment estimators (m3 / m2^1.5, m4 / m2²). A trial without a Sharpe (NaN: it never traded) is refused: drop it,
    or count it in ``n_trials`` of ``deflated_sharpe_from_moments``, knowingly."""
    values = np.asarray(returns, dtype="float64")
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise ValueError(f"returns must be a 1-D array of at least 2 finite values, got shape {values.shape}")
    if np.ptp(values) == 0:
        raise ValueError("the selected returns have zero variance: they have no Sharpe ratio")
    sharpes = np.asarray(trial_sharpes, dtype="float64")
    if sharpes.ndim != 1 or len(sharpes) < 1:
        raise ValueError(f"trial_sharpes must be a 1-D array of at least one Sharpe, got shape {sharpes.shape}")
    if not np.isfinite(sharpes).all():
        raise ValueError(
            f"trial_sharpes must be finite; not at positions {np.flatnonzero(~np.isfinite(sharpes)).tolist()}"
        )
    centered = values - values.mean()
    m2 = float(np.mean(centered**2))
    return deflated_sharpe_from_moments(
        float(values.mean() / values.std(ddof=1)),
        len(values),
        float(np.mean(centered**3)) / m2**1.5,
        float(np.mean(centered**4)) / m2**2,
        n_trials=len(sharpes),
        sharpe_variance=float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0,
    )


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class BacktestOverfitting:
    """CSCV's verdict on picking the in-sample best of ``n_trials``. The arrays hold one entry per split, in the order
    of ``itertools.combinations(range(n_blocks), n_blocks // 2)`` over the in-sample blocks: the logit, the trial
    selected, and its in-sample and out-of-sample performance (the degradation pairs; NaN: undefined)."""

    pbo: float
    logits: np.ndarray
    selected: np.ndarray
    in_sample: np.ndarray
    out_of_sample: np.ndarray
    probability_of_loss: float
    n_trials: int
    n_blocks: int

    def describe(self) -> str:
        return (
            f"PBO {self.pbo:.2f} over {len(self.logits)} splits of {self.n_blocks} blocks among {self.n_trials} "
            f"trials: median logit {float(np.median(self.logits)):+.2f}, probability of an out-of-sample loss "
            f"{self.probability_of_loss:.2f}"
        )


def probability_of_backtest_overfitting(
    returns: ArrayLike, n_blocks: int = 16, metric: Callable[[np.ndarray], ArrayLike] | None = None
) -> BacktestOverfitting:
    """PBO by combinatorially symmetric cross-validation (CSCV) of the T×N per-period ``returns`` of N trials
    (columns) over the same T periods (rows, in time order).

    The rows are cut into ``n_blocks`` (S, even) consecutive blocks of T/S rows; each way of taking S/2 blocks as the
    in-sample half, the other S/2 being out of sample (both kept in time order), is a split: C(S, S/2) of them, 12,870
    for the paper's S = 16. On each split the trial with the best in-sample performance (per-period Sharpe, or
    ``metric``) is selected and ω = rank / (N + 1) is its relative rank out of sample, rank 1 being the worst and N the
    best; dividing by N + 1, as the paper does, keeps ω inside (0, 1) so the logit λ = ln(ω / (1 − ω)) is finite.
    λ ≤ 0 means the selected trial did no better than the out-of-sample median: PBO is the share of such splits. The
    probability of loss is the share of splits where the selected trial's out-of-sample performance is below zero.

    Ties and undefined performance: NaN is undefined, as the Sharpe of a trial whose returns are constant in a half
    (one that never trades): it is never selected and ranks last out of sample, tied with any other undefined (and
    -inf) one. In-sample ties go to the lowest-numbered trial, as in ``walk_forward.best_by_sharpe``; out-of-sample
    ties share the average of their ranks, so a tie neither helps nor hurts the selected trial. A split where no trial
    has a defined in-sample performance is an error.

    ``metric`` maps a (T/2)×N array of a half's returns to N performances (higher is better). It is called once per
    half, since every half is in sample in one split and out of sample in its mirror; the default Sharpe is combined
    from per-block statistics instead, without building the halves.
    """
    data = np.asarray(returns, dtype="float64")
    if data.ndim != 2:
        raise ValueError(f"returns must be a 2-D periods × trials array, got shape {data.shape}")
    n_obs, n_trials = data.shape
    if n_trials < 2:
        raise ValueError(f"returns need at least 2 trials (columns) to select among, got {n_trials}")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be even and at least 2, got {n_blocks}")
    if n_obs % n_blocks:
        raise ValueError(
            f"{n_obs} periods do not cut into {n_blocks} equal blocks: drop {n_obs % n_blocks} period(s), e.g. the oldest"
        )
    if n_obs < 4:
        raise ValueError(f"each half needs at least 2 periods for a Sharpe ratio; got {n_obs} periods in all")
    if not np.isfinite(data).all():
        row, column = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(f"returns must be finite; period {row} of trial {column} is {data[row, column]}")

    blocks = data.reshape(n_blocks, n_obs // n_blocks, n_trials)
    halves = list(combinations(range(n_blocks), n_blocks // 2))
    performance = _half_sharpes(blocks, np.array(halves)) if metric is None else _half_metric(blocks, halves, metric)
    # The halves are closed under complement: each split's out-of-sample half is another row of ``performance``.
    position = {half: i for i, half in enumerate(halves)}
    mirror = [position[tuple(sorted(set(range(n_blocks)) - set(half)))] for half in halves]
    ordered = np.where(np.isnan(performance), -np.inf, performance)
    split = np.arange(len(halves))
    selected = np.argmax(ordered, axis=1)  # the first maximum: ties go to the lowest-numbered trial
    undefined = np.isneginf(ordered[split, selected])
    if undefined.any():
        first = halves[int(np.argmax(undefined))]
        raise ValueError(f"no trial has a defined in-sample performance on blocks {list(first)}: nothing to select")
    outside = ordered[mirror]
    chosen = outside[split, selected][:, None]
    # Average rank: 1 + the trials strictly below, + half of the others tied with the selected one.
    rank = (outside < chosen).sum(axis=1) + ((outside == chosen).sum(axis=1) + 1) / 2
    omega = rank / (n_trials + 1)
    logits = np.log(omega / (1 - omega))
    out_of_sample = performance[mirror, selected]
    return BacktestOverfitting(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        selected=selected,
        in_sample=performance[split, selected],
        out_of_sample=out_of_sample,
        probability_of_loss=float(np.mean(out_of_sample < 0)),
        n_trials=n_trials,
        n_blocks=n_blocks,
    )


def _half_sharpes(blocks: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of every trial on every half (rows: halves), NaN where its returns are all equal there.

    A half's mean is the mean of its blocks' means, and its sum of squared deviations the blocks' own plus each
    block's size × (block mean − half mean)² (Chan et al.'s pairwise update): both stay centred, so rounding does not
    turn a flat trial into a huge Sharpe; flatness itself is decided exactly, by min == max.
    """
    size = blocks.shape[1]
    means = blocks.mean(axis=1)
    squares = ((blocks - means[:, None, :]) ** 2).sum(axis=1)
    parts = [halves[:, j] for j in range(halves.shape[1])]  # loop over a half's blocks: arrays stay halves × trials
    mean = sum(means[part] for part in parts) / len(parts)
    deviations = sum(squares[part] + size * (means[part] - mean) ** 2 for part in parts)
    lows, highs = blocks.min(axis=1), blocks.max(axis=1)
    flat = reduce(np.minimum, (lows[part] for part in parts)) == reduce(np.maximum, (highs[part] for part in parts))
    std = np.sqrt(deviations / (size * len(parts) - 1))
    return np.where(flat, np.nan, mean / np.where(flat, 1.0, std))


def _half_metric(
    blocks: np.ndarray, halves: list[tuple[int, ...]], metric: Callable[[np.ndarray], ArrayLike]
) -> np.ndarray:
    n_trials = blocks.shape[2]
    out = np.empty((len(halves), n_trials))
    for i, half in enumerate(halves):
        values = np.asarray(metric(blocks[list(half)].reshape(-1, n_trials)), dtype="float64")
        if values.shape != (n_trials,):
            raise ValueError(f"metric must return one value per trial, shape ({n_trials},); got shape {values.shape}")
        out[i] = values
    return out
