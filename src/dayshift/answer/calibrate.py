"""Learn when to say "I don't know" from labelled questions.

    evidence per question (abstain.FEATURES), label answerable yes/no
      --logistic regression, weights >= 0, light L2--> weights, bias
      --threshold: the lowest confidence at which the false-answer rate's upper
        confidence bound (one-sided Clopper-Pearson, 95%) on these questions is
        <= target (answer as much as that allows)--> AbstentionModel

A threshold placed where the point estimate just meets the target misses it
about half the time on new questions; the upper bound leaves a margin that
shrinks as more unanswerable questions are labelled (100 of them allow one
false answer at a 5% target, 300 allow eight).

Metrics: false_answer_rate (answered an unanswerable question) and
false_abstention_rate (abstained on an answerable one) at the threshold, each
with a 95% Clopper-Pearson interval, and AUROC of confidence (answerable ranks
above unanswerable) with a bootstrap interval. Left out: per-topic thresholds
and non-linear models; a few monotone features do not need them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import beta

from dayshift.answer.abstain import FEATURES, READER_FEATURES, AbstentionModel, Evidence
from dayshift.errors import ConfigError

CONFIDENCE = 0.95  # of the upper bound a threshold must keep within the false-answer target


@dataclass(frozen=True, slots=True)
class AbstentionMetrics:
    false_answer_rate: float
    false_abstention_rate: float
    auroc: float
    answerable: int
    unanswerable: int
    false_answer_interval: tuple[float, float] = (0.0, 1.0)  # 95% Clopper-Pearson
    false_abstention_interval: tuple[float, float] = (0.0, 1.0)


def upper_bound(failures: int, trials: int, *, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as `failures` of `trials`."""
    if trials == 0:
        return 1.0
    if failures >= trials:
        return 1.0
    return float(beta.ppf(confidence, failures + 1, trials - failures))


def interval(failures: int, trials: int, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval of a rate seen as `failures` of `trials`."""
    if trials == 0:
        return (0.0, 1.0)
    tail = (1.0 - confidence) / 2
    low = 0.0 if failures == 0 else float(beta.ppf(tail, failures, trials - failures + 1))
    high = 1.0 if failures == trials else float(beta.ppf(1 - tail, failures + 1, trials - failures))
    return (low, high)


def auroc_interval(
    scores: Sequence[float], labels: Sequence[bool], *, rounds: int = 1000, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of AUROC, resampling answerable and unanswerable questions apart."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        p, n = rng.choice(pos, len(pos)), rng.choice(neg, len(neg))
        greater = (p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean()
        values.append(greater)
    tail = (1.0 - confidence) / 2
    return (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    joined = np.concatenate([pos, neg])
    for value in np.unique(joined):  # average ranks of ties
        same = joined == value
        ranks[same] = ranks[same].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def rates(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> AbstentionMetrics:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    answered = s >= threshold
    false_answers, false_abstentions = int(answered[~y].sum()), int((~answered[y]).sum())
    return AbstentionMetrics(
        false_answer_rate=false_answers / int((~y).sum()) if (~y).any() else 0.0,
        false_abstention_rate=false_abstentions / int(y.sum()) if y.any() else 0.0,
        auroc=auroc(s, y), answerable=int(y.sum()), unanswerable=int((~y).sum()),
        false_answer_interval=interval(false_answers, int((~y).sum())),
        false_abstention_interval=interval(false_abstentions, int(y.sum())),
    )


def threshold_for(
    scores: Sequence[float], labels: Sequence[bool], *, target_false_answer_rate: float,
    confidence: float | None = CONFIDENCE,
) -> float:
    """The threshold that answers the most answerable questions while the false-answer rate's upper bound
    stays within the target (`confidence=None`: the point estimate instead).

    Among thresholds that answer that many, the highest: no false answer is
    spent where it buys nothing.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_neg = int((~y).sum())
    candidates = np.unique(np.concatenate([s, [np.inf]]))

    def within(t: float) -> bool:
        if not n_neg:
            return True
        false_answers = int((s[~y] >= t).sum())
        if confidence is None:
            return false_answers / n_neg <= target_false_answer_rate
        return upper_bound(false_answers, n_neg, confidence=confidence) <= target_false_answer_rate

    feasible = [t for t in candidates if within(t)]
    if not feasible:  # even abstaining on everything cannot show the target with so few unanswerable questions
        needed = next(n for n in range(1, 100_000) if upper_bound(0, n, confidence=confidence or 0.0) <= target_false_answer_rate)
        raise ConfigError(
            f"{n_neg} unanswerable questions cannot show a false-answer rate within {target_false_answer_rate:.0%} "
            f"at {confidence:.0%} confidence (it takes at least {needed}): label more unanswerable questions, "
            "or raise the target"
        )
    most = max(int((s[y] >= t).sum()) for t in feasible)
    best = max(t for t in feasible if int((s[y] >= t).sum()) == most)
    below = s[s < best]
    return float((best + below.max()) / 2) if np.isfinite(best) and below.size else float(best)  # mid-gap


def fit_abstention(
    evidence: Sequence[Evidence], answerable: Sequence[bool], *, target_false_answer_rate: float = 0.05,
    l2: float = 1e-4, dataset: str = "", confidence: float | None = CONFIDENCE, factors: int = 1,
) -> AbstentionModel:
    """Weights by maximum likelihood (all >= 0, light L2), then the threshold for the target.

    factors=1: one logistic score over every feature. factors=2: the product of a retrieval factor
    (every feature but the reader's) and a reader factor (READER_FEATURES), fitted jointly."""
    y = np.asarray(answerable, dtype=np.float64)
    if y.min() == y.max():
        raise ConfigError("calibration needs both answerable and unanswerable questions; label some of each")
    if factors not in (1, 2):
        raise ConfigError(f"factors must be 1 or 2, not {factors}")
    x = np.array([e.vector() for e in evidence], dtype=np.float64)
    if factors == 1:
        weights, bias, reader_weights, reader_bias = *_fit_one(x, y, l2), None, 0.0
    else:
        weights, bias, reader_weights, reader_bias = _fit_two(x, y, l2)
    model = AbstentionModel(weights=weights, bias=bias, threshold=0.5, reader_weights=reader_weights,
                            reader_bias=reader_bias)
    scores = [model.confidence(e) for e in evidence]
    threshold = threshold_for(scores, answerable, target_false_answer_rate=target_false_answer_rate,
                              confidence=confidence)
    metrics = rates(scores, answerable, threshold)
    return AbstentionModel(weights=weights, bias=bias, threshold=threshold, reader_weights=reader_weights,
                           reader_bias=reader_bias, fitted_on={
        "dataset": dataset, "answerable": metrics.answerable, "unanswerable": metrics.unanswerable,
        "target_false_answer_rate": target_false_answer_rate, "false_answer_rate": metrics.false_answer_rate,
        "false_abstention_rate": metrics.false_abstention_rate, "auroc": metrics.auroc,
        "false_answer_interval": list(metrics.false_answer_interval),
        "false_abstention_interval": list(metrics.false_abstention_interval),
        "threshold_rule": f"upper {confidence:.0%} bound <= target" if confidence else "point estimate <= target",
        "factors": factors,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })


def _fit_one(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[dict[str, float], float]:
    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        eps = 1e-12
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + l2 * float(w @ w)
        grad_z = (p - y) / len(y)
        return value, np.append(x.T @ grad_z + 2 * l2 * w, grad_z.sum())

    bounds = [(0.0, None)] * len(FEATURES) + [(None, None)]
    fit = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return {name: float(v) for name, v in zip(FEATURES, fit.x[:-1])}, float(fit.x[-1])


def _fit_two(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[dict[str, float], float, dict[str, float], float]:
    """P(answerable) = sigmoid(x.w1 + b1) * sigmoid(x.w2 + b2), w1 on retrieval features, w2 on the reader's."""
    n = len(FEATURES)
    reader = np.array([name in READER_FEATURES for name in FEATURES])

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = params[:n], params[n], params[n + 1: 2 * n + 1], params[2 * n + 1]
        a = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))
        c = 1.0 / (1.0 + np.exp(-(x @ w2 + b2)))
        p = np.clip(a * c, 1e-12, 1 - 1e-12)
        value = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) + l2 * float(w1 @ w1 + w2 @ w2)
        d_p = (-(y / p) + (1 - y) / (1 - p)) / len(y)
        d_z1, d_z2 = d_p * p * (1 - a), d_p * p * (1 - c)
        grad = np.concatenate([x.T @ d_z1 + 2 * l2 * w1, [d_z1.sum()], x.T @ d_z2 + 2 * l2 * w2, [d_z2.sum()]])
        return value, grad

    bounds = ([(0.0, 0.0) if r else (0.0, None) for r in reader] + [(None, None)]
              + [(0.0, None) if r else (0.0, 0.0) for r in reader] + [(None, None)])
    start = np.zeros(2 * n + 2)
    start[2 * n + 1] = 2.0  # the reader factor starts near 1: retrieval explains what it can first
    fit = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    w1, b1, w2, b2 = fit.x[:n], fit.x[n], fit.x[n + 1: 2 * n + 1], fit.x[2 * n + 1]
    return ({name: float(v) for name, v in zip(FEATURES, w1)}, float(b1),
            {name: float(v) for name, v in zip(FEATURES, w2) if name in READER_FEATURES}, float(b2))
