"""The shared statistics: robust z, EWMA, proportion tests, overdispersion, PSI, KS and the Bernoulli CUSUM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dayshift.monitor.detectors.stats import bernoulli_cusum, dispersion, ewma, ks, proportion_z, psi, robust_z


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


def test_cusum_adds_log_likelihood_ratios_floors_at_0_and_restarts_after_an_alarm() -> None:
    # p0 = 0.2, odds x2: p1 = 1/3. A "down" adds ln(p1/p0) = ln(5/3); an "up" adds ln((2/3)/0.8) = ln(5/6).
    up, down = math.log(5 / 6), math.log(5 / 3)
    c = bernoulli_cusum(np.array([0, 1, 1, 1, 0, 1, 1]), 0.2, odds_ratio=2.0, threshold=1.0)
    assert c.path[0] == 0.0  # floored: never below 0
    assert c.path[1] == pytest.approx(down) and c.path[2] == pytest.approx(2 * down)  # 1.02: an alarm
    # Restarted from 0 after the alarm: the next "down" alone does not alarm again; the evidence must pile up anew.
    assert c.path[3] == pytest.approx(down) and c.path[4] == pytest.approx(down + up)
    assert c.path[6] == pytest.approx(3 * down + up)
    assert c.alarms.tolist() == [2, 6]
    assert c.starts.tolist() == [1, 3]  # the first rise began with the first "down"; the second at the restart
    assert c.peak == pytest.approx(3 * down + up)


def test_cusum_scale_and_per_outcome_rates() -> None:
    x = np.array([1, 1, 1, 1])
    assert bernoulli_cusum(x, 0.2, odds_ratio=2.0, threshold=99, scale=2.0).path[-1] == pytest.approx(2 * math.log(5 / 3))
    # Against its own rate, a "down" from a tenant that is often down is weaker evidence.
    mixed = bernoulli_cusum(np.array([1, 1]), np.array([0.1, 0.5]), odds_ratio=2.0, threshold=99).path
    assert mixed[0] == pytest.approx(math.log((2 / 11) / 0.1)) and mixed[1] - mixed[0] == pytest.approx(math.log(4 / 3))
    assert bernoulli_cusum(np.array([], dtype=bool), 0.2, odds_ratio=2.0, threshold=5).peak == 0.0


def test_cusum_run_lengths_match_the_rules_file() -> None:
    rng = np.random.default_rng(0)
    quiet = bernoulli_cusum(rng.random(200_000) < 0.17, 0.17, odds_ratio=1.5, threshold=5.0)
    assert 4 <= len(quiet.alarms) <= 25  # about one per 16,000 outcomes
    delays = [bernoulli_cusum(rng.random(2000) < 0.29, 0.17, odds_ratio=1.5, threshold=5.0).alarms[0]
              for _ in range(50)]  # the odds doubled: 17% -> 29%
    assert 80 <= np.median(delays) <= 200  # about 130 outcomes
