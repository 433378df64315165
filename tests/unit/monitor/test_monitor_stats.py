"""The shared statistics: robust z, EWMA, proportion tests, overdispersion, PSI and KS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dayshift.monitor.detectors.stats import dispersion, ewma, ks, proportion_z, psi, robust_z


def test_robust_z_uses_median_and_mad_and_ignores_one_outlier() -> None:
    z, median, scale = robust_z(20.0, [10, 11, 9, 10, 12, 8, 100])
    assert median == 10 and scale == pytest.approx(1.4826 * 1)
    assert z == pytest.approx(10 / 1.4826)


def test_robust_z_scale_is_floored_when_history_is_flat() -> None:
    z, _, scale = robust_z(11.0, [10, 10, 10, 10])
    assert scale == pytest.approx(1.0)  # 10% of the median, not 0
    assert z == pytest.approx(1.0)
    assert math.isnan(robust_z(1.0, [])[0])


def test_ewma_follows_and_skips_gaps() -> None:
    assert ewma([1.0, float("nan"), 3.0], alpha=0.5).tolist() == [1.0, 1.0, 2.0]


def test_proportion_z_sign_size_and_dispersion() -> None:
    z = proportion_z(30, 100, 150, 1000)
    assert z > 3
    assert proportion_z(10, 100, 150, 1000) < 0
    assert proportion_z(30, 100, 150, 1000, dispersion=4.0) == pytest.approx(z / 2)
    assert math.isnan(proportion_z(0, 0, 5, 10))
    assert proportion_z(0, 50, 0, 500) == 0.0


def test_few_events_use_the_exact_test() -> None:
    # 3 events now, none in the reference: the normal approximation calls it z ~ 6; Fisher's test does not.
    assert proportion_z(3, 94, 0, 600) < 3.0
    assert proportion_z(300, 940, 0, 6000) > 10  # many events: the normal test, unchanged


def test_weighted_reference_matches_a_reweighted_sample() -> None:
    rng = np.random.default_rng(1)
    low, high = rng.normal(0, 1, 3000), rng.normal(2, 1, 3000)
    reference = np.concatenate([low, high])
    current = rng.normal(2, 1, 1000)  # only the "high" tenant today
    weights = np.concatenate([np.zeros(3000), np.ones(3000)])
    assert psi(reference, current) > 0.5 and psi(reference, current, weights=weights) < 0.05
    assert ks(reference, current)[1] < 1e-10 and ks(reference, current, weights=weights)[1] > 0.01


def test_dispersion_is_one_for_binomial_counts_and_larger_for_day_to_day_swings() -> None:
    rng = np.random.default_rng(0)
    n = np.full(30, 1000)
    assert dispersion(rng.binomial(1000, 0.1, 30), n) < 1.6
    swinging = [rng.binomial(1000, p) for p in rng.choice([0.05, 0.15], 30)]
    assert dispersion(swinging, n) > 5
    assert dispersion([3], [10]) == 1.0


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 5000)
    assert psi(ref, rng.normal(0, 1, 2000)) < 0.02
    assert psi(ref, rng.normal(1, 1, 2000)) > 0.25
    assert psi(ref * 1000 + 7, rng.normal(1, 1, 2000) * 1000 + 7) == pytest.approx(psi(ref, rng.normal(1, 1, 2000)),
                                                                                   abs=0.1)  # scale-free
    assert math.isnan(psi(ref, np.array([])))


def test_ks_separates_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    d, p = ks(rng.normal(0, 1, 500), rng.normal(0.5, 1, 500))
    assert d > 0.15 and p < 1e-6
    d, p = ks(np.array([]), np.array([1.0]))
    assert math.isnan(d) and p == 1.0
