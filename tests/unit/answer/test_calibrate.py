"""Calibration: AUROC (ties counted half), the error rates at a threshold, the threshold for a target
false-answer rate (the most answerable questions within the target, the highest such threshold, placed
mid-gap), and the logistic fit (non-negative weights, separable evidence ranked perfectly)."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest

from dayshift.answer.abstain import FEATURES, AbstentionModel, Evidence
from dayshift.answer.calibrate import auroc, fit_abstention, interval, rates, threshold_for, upper_bound
from dayshift.errors import ConfigError

# -- auroc ------------------------------------------------------------------------------


def brute_force_auroc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auroc_hand_computed_with_ties() -> None:
    # positives 0.9, 0.5, 0.5; negatives 0.5, 0.1. Pairs (pos > neg):
    #   0.9: beats 0.5, beats 0.1           -> 2
    #   0.5: ties 0.5 (1/2), beats 0.1      -> 1.5   (twice)
    # 5 of 6 pairs.
    scores = [0.5, 0.9, 0.1, 0.5, 0.5]
    labels = [True, True, False, False, True]
    assert auroc(scores, labels) == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.9, 0.8, 0.2, 0.1], [True, True, False, False], 1.0),
        ([0.1, 0.2, 0.8, 0.9], [True, True, False, False], 0.0),
        ([0.4, 0.4, 0.4, 0.4], [True, False, True, False], 0.5),
        ([0.3, 0.7], [False, True], 1.0),
        ([2.0, 1.0, 1.0, 0.0], [True, False, True, False], 0.875),  # 3.5 of 4 pairs
    ],
)
def test_auroc_small_cases(scores: list[float], labels: list[bool], expected: float) -> None:
    assert auroc(scores, labels) == pytest.approx(expected)


def test_auroc_matches_pair_counting_on_random_data_with_many_ties() -> None:
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(2, 40)
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in range(n)]
        labels = [rng.random() < 0.5 for _ in range(n)]
        labels[0], labels[1] = True, False  # both classes present
        assert auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels))


def test_auroc_of_one_class_is_nan() -> None:
    assert math.isnan(auroc([0.1, 0.9], [True, True]))
    assert math.isnan(auroc([0.1, 0.9], [False, False]))


# -- rates --------------------------------------------------------------------------------


def test_rates_at_a_threshold_by_hand() -> None:
    scores = [0.9, 0.6, 0.4, 0.7, 0.3, 0.2]
    labels = [True, True, True, False, False, False]
    got = rates(scores, labels, 0.6)
    # answered (>= 0.6): 0.9, 0.6 (answerable) and 0.7 (unanswerable)
    assert got.false_answer_rate == pytest.approx(1 / 3)  # 0.7 of 0.7, 0.3, 0.2
    assert got.false_abstention_rate == pytest.approx(1 / 3)  # 0.4 of 0.9, 0.6, 0.4
    assert (got.answerable, got.unanswerable) == (3, 3)
    assert got.auroc == pytest.approx(brute_force_auroc(scores, labels))


def test_rates_with_one_class_report_zero_for_the_missing_side() -> None:
    only_answerable = rates([0.2, 0.8], [True, True], 0.5)
    assert (only_answerable.false_answer_rate, only_answerable.false_abstention_rate) == (0.0, 0.5)
    only_unanswerable = rates([0.2, 0.8], [False, False], 0.5)
    assert (only_unanswerable.false_answer_rate, only_unanswerable.false_abstention_rate) == (0.5, 0.0)


# -- threshold_for ------------------------------------------------------------------------------

SCORES = [0.95, 0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.45, 0.4, 0.3, 0.2, 0.1]
LABELS = [True, True, False, True, True, False, True, False, False, True, False, False]


def false_answer_rate(threshold: float) -> float:
    return rates(SCORES, LABELS, threshold).false_answer_rate


def answered_answerable(scores: list[float], labels: list[bool], threshold: float) -> int:
    return sum(s >= threshold for s, y in zip(scores, labels) if y)


def check_threshold(scores: list[float], labels: list[bool], target: float) -> float:
    """The properties threshold_for promises with the point-estimate rule, against every threshold that could be chosen."""
    t = threshold_for(scores, labels, target_false_answer_rate=target, confidence=None)
    assert rates(scores, labels, t).false_answer_rate <= target
    candidates = sorted(set(scores)) + [math.inf]
    feasible = [c for c in candidates if rates(scores, labels, c).false_answer_rate <= target]
    # no threshold within the target answers more answerable questions
    assert answered_answerable(scores, labels, t) == max(answered_answerable(scores, labels, c) for c in feasible)
    if math.isfinite(t):
        above = min(s for s in scores if s >= t)
        # any higher threshold answers fewer answerable questions: the next score up is an answerable one
        assert any(s == above and y for s, y in zip(scores, labels))
        lower = [s for s in scores if s < t]
        # mid-gap between the lowest score answered and the highest one not answered
        assert t == pytest.approx((above + max(lower)) / 2) if lower else t == above
    return t


@pytest.mark.parametrize("target", [0.0, 0.1, 0.2, 0.34, 0.5, 0.8, 1.0])
def test_threshold_answers_the_most_within_the_target_and_spends_nothing_more(target: float) -> None:
    check_threshold(SCORES, LABELS, target)


def test_threshold_properties_on_random_data_with_ties() -> None:
    rng = random.Random(17)
    for _ in range(200):
        n = rng.randint(2, 30)
        scores = [rng.choice([0.0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0]) for _ in range(n)]
        labels = [rng.random() < 0.5 for _ in range(n)]
        check_threshold(scores, labels, rng.choice([0.0, 0.05, 0.2, 0.5, 1.0]))


def test_threshold_by_hand() -> None:
    # answerable: 0.95, 0.9, 0.7, 0.65, 0.5, 0.3; unanswerable: 0.8, 0.6, 0.45, 0.4, 0.2, 0.1
    point = {"confidence": None}
    # none false: 0.95, 0.9 answered; mid-gap between 0.9 and 0.8
    assert threshold_for(SCORES, LABELS, target_false_answer_rate=0.0, **point) == pytest.approx(0.85)
    # one false (0.8) buys 0.7 and 0.65; mid-gap between 0.65 and 0.6
    assert threshold_for(SCORES, LABELS, target_false_answer_rate=1 / 6, **point) == pytest.approx(0.625)
    # three false allowed, but two (0.8, 0.6) already buy 0.5; the third (0.45) would buy nothing
    assert threshold_for(SCORES, LABELS, target_false_answer_rate=0.5, **point) == pytest.approx(0.475)
    assert false_answer_rate(0.475) == pytest.approx(2 / 6)
    # anything allowed: every answerable question from 0.3 up, not the 0.2 and 0.1 below it
    assert threshold_for(SCORES, LABELS, target_false_answer_rate=1.0, **point) == pytest.approx(0.25)
    assert false_answer_rate(0.25) == pytest.approx(4 / 6)


def test_threshold_between_tied_scores_of_both_labels() -> None:
    # 0.7 is shared by an answerable and an unanswerable question: answering the answerable one costs
    # the unanswerable one, which a target of 1/3 allows
    scores, labels = [0.9, 0.7, 0.7, 0.4, 0.2], [True, True, False, False, False]
    assert threshold_for(scores, labels, target_false_answer_rate=1 / 3, confidence=None) == pytest.approx(0.55)
    assert threshold_for(scores, labels, target_false_answer_rate=0.0, confidence=None) == pytest.approx(0.8)


# -- the upper confidence bound ---------------------------------------------------------------------


def test_upper_bound_with_no_failure_is_the_closed_form() -> None:
    # Clopper-Pearson with 0 of n: 1 - (1 - confidence) ** (1 / n)
    for n in (1, 10, 59, 100, 300):
        assert upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n))
    assert upper_bound(3, 3) == 1.0 and upper_bound(0, 0) == 1.0


def test_intervals_hold_the_rate_and_narrow_with_more_questions() -> None:
    for k, n in ((0, 50), (1, 100), (5, 100), (15, 300)):
        low, high = interval(k, n)
        assert low <= k / n <= high
    assert interval(5, 100)[1] - interval(5, 100)[0] > interval(15, 300)[1] - interval(15, 300)[0]
    assert interval(5, 100) == pytest.approx((0.01643, 0.11283), abs=1e-4)


def labelled(negatives: int, false_answers_above: int) -> tuple[list[float], list[bool]]:
    """`negatives` unanswerable questions, `false_answers_above` of them scoring above 50 answerable ones."""
    scores = [0.9] * false_answers_above + [0.1] * (negatives - false_answers_above) + [0.5] * 50
    return scores, [False] * negatives + [True] * 50


@pytest.mark.parametrize(("negatives", "allowed"), [(100, 1), (300, 8)])
def test_the_upper_bound_rule_allows_only_what_the_bound_keeps_within_the_target(negatives: int, allowed: int) -> None:
    # With `allowed` unanswerable questions above the answerable ones, answering all 50 keeps the 95% bound
    # within 5%; one more and the rule stops below them, though the point estimate would still be within.
    scores, labels = labelled(negatives, allowed)
    assert threshold_for(scores, labels, target_false_answer_rate=0.05) < 0.5
    scores, labels = labelled(negatives, allowed + 1)
    assert threshold_for(scores, labels, target_false_answer_rate=0.05) > 0.5
    assert (allowed + 1) / negatives <= 0.05  # the point-estimate rule would have answered them
    assert threshold_for(scores, labels, target_false_answer_rate=0.05, confidence=None) < 0.5


def test_too_few_unanswerable_questions_for_the_target_say_how_many_it_takes() -> None:
    scores, labels = labelled(50, 0)
    with pytest.raises(ConfigError, match="50 unanswerable questions cannot show .* at least 59"):
        threshold_for(scores, labels, target_false_answer_rate=0.05)


def test_threshold_when_an_unanswerable_question_scores_highest_is_infinite() -> None:
    t = threshold_for([0.9, 0.5], [False, True], target_false_answer_rate=0.0, confidence=None)
    assert t == math.inf
    assert rates([0.9, 0.5], [False, True], t).false_answer_rate == 0.0


def test_threshold_without_unanswerable_questions_answers_everything() -> None:
    assert threshold_for([0.3, 0.9, 0.6], [True, True, True], target_false_answer_rate=0.0) == 0.3


# -- fit_abstention ---------------------------------------------------------------------------------


def synthetic(n: int, *, seed: int = 11) -> tuple[list[Evidence], list[bool]]:
    """Separable: answerable questions have a close dense match and supported answers; the
    unanswerable ones do not. `verbatim` is noise (and higher for the unanswerable ones)."""
    rng = np.random.default_rng(seed)
    evidence, labels = [], []
    for i in range(n):
        answerable = i % 2 == 0
        lo, hi = (0.6, 1.0) if answerable else (0.0, 0.4)
        evidence.append(Evidence(
            dense_top=float(rng.uniform(lo, hi)), coverage=float(rng.uniform(lo, hi)),
            support=float(rng.uniform(lo, hi)), verbatim=float(rng.uniform(0.0, 0.5) + (0.0 if answerable else 0.5)),
            focus=float(rng.uniform(lo, hi)),
        ))  # fmt: skip
        labels.append(answerable)
    return evidence, labels


@pytest.fixture(scope="module")
def fitted() -> tuple[AbstentionModel, list[Evidence], list[bool]]:
    evidence, labels = synthetic(200)
    return fit_abstention(evidence, labels, target_false_answer_rate=0.05, dataset="synthetic"), evidence, labels


def test_fit_on_separable_evidence_ranks_perfectly(fitted: tuple[AbstentionModel, list[Evidence], list[bool]]) -> None:
    model, evidence, labels = fitted
    scores = [model.confidence(e) for e in evidence]
    assert auroc(scores, labels) == pytest.approx(1.0)
    assert model.fitted_on["auroc"] == pytest.approx(1.0)
    assert model.fitted_on["false_answer_rate"] <= 0.05
    assert model.fitted_on["false_abstention_rate"] == 0.0


def test_fit_does_not_spend_the_false_answer_budget_for_nothing(
    fitted: tuple[AbstentionModel, list[Evidence], list[bool]],
) -> None:
    model, evidence, labels = fitted
    assert model.fitted_on["false_answer_rate"] == 0.0  # separable: 5% allowed, none needed
    scores = [model.confidence(e) for e in evidence]
    lowest_answerable = min(s for s, y in zip(scores, labels) if y)
    highest_unanswerable = max(s for s, y in zip(scores, labels) if not y)
    assert model.threshold == pytest.approx((lowest_answerable + highest_unanswerable) / 2)  # mid-gap


def test_fit_weights_are_non_negative_and_the_noise_feature_is_clamped_to_zero(
    fitted: tuple[AbstentionModel, list[Evidence], list[bool]],
) -> None:
    model = fitted[0]
    assert set(model.weights) == set(FEATURES)
    assert all(w >= 0.0 for w in model.weights.values())
    assert model.weights["verbatim"] == 0.0  # anti-correlated with the label: the bound holds it at 0
    assert min(model.weights[f] for f in ("dense_top", "coverage", "support", "focus")) > 1.0
    assert model.bias < 0


def test_fit_threshold_meets_the_target_on_its_data(fitted: tuple[AbstentionModel, list[Evidence], list[bool]]) -> None:
    model, evidence, labels = fitted
    scores = [model.confidence(e) for e in evidence]
    assert model.threshold == threshold_for(scores, labels, target_false_answer_rate=0.05)
    assert rates(scores, labels, model.threshold).false_answer_rate <= 0.05


def test_fit_records_what_it_was_fitted_on(fitted: tuple[AbstentionModel, list[Evidence], list[bool]]) -> None:
    meta = fitted[0].fitted_on
    assert (meta["dataset"], meta["answerable"], meta["unanswerable"], meta["target_false_answer_rate"]) == (
        "synthetic", 100, 100, 0.05,
    )  # fmt: skip
    assert str(meta["date"])[:2] == "20" and str(meta["date"]).endswith("+00:00")


def test_fitted_model_round_trips_through_calibration_json(
    tmp_path: Path, fitted: tuple[AbstentionModel, list[Evidence], list[bool]]
) -> None:
    model = fitted[0]
    model.save(tmp_path / "calibration.json")
    assert AbstentionModel.load(tmp_path / "calibration.json") == model


def test_fit_on_overlapping_evidence_still_keeps_the_false_answer_target() -> None:
    rng = np.random.default_rng(5)
    evidence = [Evidence(*map(float, rng.uniform(0, 1, len(FEATURES)))) for _ in range(1000)]
    labels = [e.dense_top + 0.5 * e.support + float(rng.normal(0, 0.3)) > 0.75 for e in evidence]
    model = fit_abstention(evidence, labels, target_false_answer_rate=0.1)
    scores = [model.confidence(e) for e in evidence]
    assert 0.75 < auroc(scores, labels) < 1.0
    assert rates(scores, labels, model.threshold).false_answer_rate <= 0.1
    # the label is dense_top + 0.5 * support (+ noise): the fit finds dense_top worth about twice support
    assert 1.5 < model.weights["dense_top"] / model.weights["support"] < 2.5
    unrelated = ("coverage", "keyword_match", "known", "verbatim", "focus")
    assert max(model.weights[f] for f in unrelated) < model.weights["support"] / 3


def test_two_factors_fit_questions_that_need_both_retrieval_and_the_reader() -> None:
    """Answerable only when the sources are about the question (dense_top) AND the reader finds the answer in
    them (text_answers): the product of two factors fits that; one linear score cannot, so it ranks worse."""
    rng = np.random.default_rng(11)
    evidence = [Evidence(*map(float, rng.uniform(0, 1, len(FEATURES)))) for _ in range(1200)]
    labels = [bool(e.dense_top + float(rng.normal(0, 0.08)) > 0.5 and e.text_answers + float(rng.normal(0, 0.08)) > 0.5)
              for e in evidence]  # fmt: skip
    train, test = slice(0, 800), slice(800, None)
    one = fit_abstention(evidence[train], labels[train], confidence=None)
    two = fit_abstention(evidence[train], labels[train], confidence=None, factors=2)
    assert one.reader_weights is None and two.reader_weights is not None and two.fitted_on["factors"] == 2
    assert max(two.reader_weights, key=lambda f: two.reader_weights[f]) == "text_answers"  # type: ignore[index]
    assert max(two.weights, key=lambda f: two.weights[f]) == "dense_top"
    assert not any(two.weights[f] for f in ("reader_sure", "reader_prob", "self_check", "text_answers"))
    held_out = labels[test]
    auroc_one = auroc([one.confidence(e) for e in evidence[test]], held_out)
    auroc_two = auroc([two.confidence(e) for e in evidence[test]], held_out)
    assert auroc_two > auroc_one + 0.01 and auroc_two > 0.95, (auroc_one, auroc_two)


def test_fit_default_l2_is_light() -> None:
    evidence, labels = synthetic(60, seed=3)
    default = fit_abstention(evidence, labels, confidence=None)  # 30 unanswerable: too few for the 95% bound
    assert default.weights == pytest.approx(fit_abstention(evidence, labels, l2=1e-4, confidence=None).weights)
    heavier = fit_abstention(evidence, labels, l2=0.01, confidence=None)
    assert sum(heavier.weights.values()) < sum(default.weights.values()) / 2


@pytest.mark.parametrize("labels", [[True] * 4, [False] * 4])
def test_fit_needs_both_classes(labels: list[bool]) -> None:
    evidence = [Evidence(0.1 * i, 0.5) for i in range(4)]
    with pytest.raises(ConfigError, match="both answerable and unanswerable"):
        fit_abstention(evidence, labels)
