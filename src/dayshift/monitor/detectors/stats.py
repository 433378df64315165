"""The statistics the detectors share: robust z, EWMA, two-proportion tests, overdispersion, KS, PSI, CUSUM.

    robust_z(12.0, [5, 6, 5, 7, 6])          -> (z, median, scale)   scale = 1.4826 MAD, floored
    proportion_z(30, 100, 150, 1000)          -> z > 0 when the first rate is the higher
    dispersion([10, 14, 9], [100, 100, 100])  -> >= 1: how much wider than binomial the spread is
    psi(reference, current)                   -> population stability index over reference deciles
    ks(reference, current)                    -> (D, p) two-sample Kolmogorov-Smirnov
    bernoulli_cusum(x, p0, odds_ratio=2, threshold=8)
                                              -> Cusum(path, alarms, starts): a sequential test of 0/1 outcomes

Every function takes plain numbers or arrays and returns plain floats; the
guards (minimum samples, minimum history) are the callers', because only
they know what "enough" means for their check.

Left out: multiple-testing corrections (the thresholds in rules.toml are
set for the number of tests a run makes) and two-sided or Gaussian CUSUMs
(only a rising rate of bad outcomes is watched sequentially).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["MAD_TO_SD", "Cusum", "bernoulli_cusum", "dispersion", "ewma", "ks", "proportion_z", "psi", "robust_z",
           "seasonal_median"]

MAD_TO_SD = 1.4826  # MAD x this estimates the standard deviation of normal data
_EXACT_BELOW = 100  # events on both sides together under which proportion_z also runs the exact test


def robust_z(value: float, history: Sequence[float], *, rel_floor: float = 0.1, abs_floor: float = 1e-9
             ) -> tuple[float, float, float]:
    """How many robust standard deviations `value` lies above the median of `history`.

    The scale is 1.4826 x MAD, but never below rel_floor x |median| (with a
    handful of near-identical days the MAD can be ~0, and any wobble would be
    "infinitely" unusual) nor below abs_floor. Returns (z, median, scale).
    """
    h = np.asarray(history, dtype=np.float64)
    if h.size == 0:
        return math.nan, math.nan, math.nan
    median = float(np.median(h))
    scale = max(MAD_TO_SD * float(np.median(np.abs(h - median))), rel_floor * abs(median), abs_floor)
    return (value - median) / scale, median, scale


def seasonal_median(values: np.ndarray, period: np.ndarray, periods: Sequence[int]) -> float:
    """The median over `periods` of the per-period sums of `values` (period[i] says which one row i is in)."""
    sums = np.bincount(period, weights=values, minlength=max(periods, default=0) + 1)
    return float(np.median(sums[list(periods)])) if periods else math.nan


def ewma(values: Sequence[float], *, alpha: float) -> np.ndarray:
    """Exponentially weighted moving average (alpha: weight of the newest value); NaNs are skipped."""
    out = np.empty(len(values))
    level = math.nan
    for i, v in enumerate(values):
        if not math.isnan(v):
            level = v if math.isnan(level) else alpha * v + (1 - alpha) * level
        out[i] = level
    return out


def proportion_z(x1: float, n1: float, x0: float, n0: float, *, dispersion: float = 1.0) -> float:
    """One-sided two-proportion z (pooled variance): positive when x1/n1 is above x0/n0.

    `dispersion` (>= 1) widens the binomial variance for counts that vary more
    than binomially from day to day (quasi-binomial). NaN when either side is empty.
    """
    if n1 <= 0 or n0 <= 0:
        return math.nan
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n0) * max(dispersion, 1.0)
    if var <= 0:
        return 0.0 if x1 / n1 == x0 / n0 else math.copysign(math.inf, x1 / n1 - x0 / n0)
    z = (x1 / n1 - x0 / n0) / math.sqrt(var)
    if x1 + x0 < _EXACT_BELOW and z > 0:  # few events: the normal tail is far too thin, use Fisher's exact test
        total, events = round(n1 + n0), round(x1 + x0)
        p = float(sps.hypergeom.sf(round(x1) - 1, total, events, round(n1)))
        z = min(z, float(sps.norm.isf(p)) if p > 0 else math.inf)
    return z


def dispersion(successes: Sequence[float], totals: Sequence[float], *, cap: float = 10.0) -> float:
    """Pearson chi-square / (k - 1) across k periods' rates, clipped to [1, cap]; 1 with under 2 usable periods."""
    x, n = np.asarray(successes, dtype=np.float64), np.asarray(totals, dtype=np.float64)
    keep = n > 0
    x, n = x[keep], n[keep]
    if len(n) < 2 or n.sum() == 0:
        return 1.0
    p = x.sum() / n.sum()
    if p <= 0 or p >= 1:
        return 1.0
    chi2 = float((((x - n * p) ** 2) / (n * p * (1 - p))).sum())
    return min(max(chi2 / (len(n) - 1), 1.0), cap)


def psi(reference: np.ndarray, current: np.ndarray, *, weights: np.ndarray | None = None, bins: int = 10,
        eps: float = 1e-4) -> float:
    """Population stability index: sum over reference-quantile bins of (c - r) ln(c / r).

    Bins are the reference's deciles (ties merged), so the index does not
    depend on the values' scale; empty bins are floored at eps. `weights`
    (per reference value) re-weight the reference, e.g. to today's tenant mix.
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        return math.nan
    w = np.ones(ref.size) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), weights=w, minlength=len(edges) + 1) / w.sum()
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / cur.size
    r, c = np.maximum(r, eps), np.maximum(c, eps)
    return float(((c - r) * np.log(c / r)).sum())


def ks(reference: np.ndarray, current: np.ndarray, *, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov (D, asymptotic p-value), the reference optionally weighted.

    With weights the reference counts as its effective size (sum w)^2 / sum w^2. (NaN, 1.0) when
    either side is empty.
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        return math.nan, 1.0
    w = np.ones(ref.size) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(ref, kind="stable")
    ref, w = ref[order], w[order]
    grid = np.concatenate([ref, cur])
    f0 = np.concatenate([[0.0], np.cumsum(w)])[np.searchsorted(ref, grid, side="right")] / w.sum()
    f1 = np.searchsorted(np.sort(cur), grid, side="right") / cur.size
    d = float(np.abs(f1 - f0).max())
    m = w.sum() ** 2 / (w**2).sum()
    n = cur.size * m / (cur.size + m)
    return d, float(min(1.0, sps.kstwobign.sf(math.sqrt(n) * d)))


@dataclass(frozen=True, slots=True)
class Cusum:
    path: np.ndarray  # (n,) the statistic after each outcome; it restarts from 0 after each alarm
    alarms: np.ndarray  # (a,) int: the outcomes at which it reached the threshold
    starts: np.ndarray  # (a,) int: for each alarm, the first outcome after the statistic last stood at 0

    @property
    def peak(self) -> float:
        """The highest the statistic went (at least the threshold when there was an alarm; 0 with no outcomes)."""
        return float(self.path.max(initial=0.0))


def bernoulli_cusum(x: np.ndarray, p0: np.ndarray | float, *, odds_ratio: float, threshold: float,
                    scale: float = 1.0) -> Cusum:
    """One-sided Bernoulli CUSUM (Page's test) of outcomes x (1 = bad) against their expected rates p0.

    Each outcome adds its log-likelihood ratio of "the odds of a bad outcome are odds_ratio times p0's"
    against "the rate is p0", divided by `scale` (a quasi-likelihood dispersion >= 1 for outcomes that
    vary more than binomially); the sum is floored at 0. It reaches `threshold` (an alarm) once evidence
    for the raised rate has piled up, however slowly, and then restarts from 0, so a second alarm needs
    evidence of its own. p0 may differ per outcome (risk adjustment: each against its own tenant's rate).
    With the exact likelihood ratio (scale 1) the in-control run length between false alarms is about
    exp(threshold) / |mean increment| outcomes.
    """
    x = np.asarray(x, dtype=bool)
    p = np.clip(np.broadcast_to(np.asarray(p0, dtype=np.float64), x.shape), 1e-6, 1 - 1e-6)
    odds = odds_ratio * p / (1 - p)
    p1 = odds / (1 + odds)
    step = np.where(x, np.log(p1 / p), np.log((1 - p1) / (1 - p))) / max(scale, 1.0)
    path, alarms, starts = np.zeros(len(x)), [], []
    begin = 0
    while begin < len(x):
        # Without a reset, S_i = C_i - min(0, min_{k<=i} C_k) with C the running sum from `begin`.
        total = np.cumsum(step[begin:])
        low = np.minimum.accumulate(np.minimum(total, 0.0))
        segment = total - low
        over = np.flatnonzero(segment >= threshold)
        end = len(segment) if len(over) == 0 else int(over[0]) + 1
        path[begin : begin + end] = segment[:end]
        if len(over) == 0:
            break
        alarm = begin + int(over[0])
        zeros = np.flatnonzero(segment[: int(over[0])] <= 0.0)
        alarms.append(alarm)
        starts.append(begin + (int(zeros[-1]) + 1 if len(zeros) else 0))
        begin = alarm + 1
    return Cusum(path=path, alarms=np.array(alarms, dtype=np.int64), starts=np.array(starts, dtype=np.int64))
