"""Learn when to say "I don't know" from labelled questions.

    evidence per question (abstain.FEATURES), label answerable yes/no
      --logistic regression, weights >= 0, light L2--> weights, bias
      --threshold: the lowest confidence whose false-answer rate on these
        questions is <= target (answer as much as that allows)--> AbstentionModel

Metrics: false_answer_rate (answered an unanswerable question) and
false_abstention_rate (abstained on an answerable one) at the threshold, and
AUROC of confidence (answerable ranks above unanswerable). Left out: per-topic
thresholds and non-linear models; a few monotone features do not need them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from dayshift.answer.abstain import FEATURES, AbstentionModel, Evidence
from dayshift.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AbstentionMetrics:
    false_answer_rate: float
    false_abstention_rate: float
    auroc: float
    answerable: int
    unanswerable: int


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
    return AbstentionMetrics(
        false_answer_rate=float(answered[~y].mean()) if (~y).any() else 0.0,
        false_abstention_rate=float((~answered[y]).mean()) if y.any() else 0.0,
        auroc=auroc(s, y), answerable=int(y.sum()), unanswerable=int((~y).sum()),
    )


def threshold_for(scores: Sequence[float], labels: Sequence[bool], *, target_false_answer_rate: float) -> float:
    """The threshold that answers the most answerable questions within the false-answer target.

    Among thresholds that answer that many, the highest: no false answer is
    spent where it buys nothing.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    candidates = np.unique(np.concatenate([s, [np.inf]]))
    feasible = [t for t in candidates if not (~y).any() or (s[~y] >= t).mean() <= target_false_answer_rate]
    most = max(int((s[y] >= t).sum()) for t in feasible)
    best = max(t for t in feasible if int((s[y] >= t).sum()) == most)
    below = s[s < best]
    return float((best + below.max()) / 2) if np.isfinite(best) and below.size else float(best)  # mid-gap


def fit_abstention(
    evidence: Sequence[Evidence], answerable: Sequence[bool], *, target_false_answer_rate: float = 0.05,
    l2: float = 1e-4, dataset: str = "",
) -> AbstentionModel:
    y = np.asarray(answerable, dtype=np.float64)
    if y.min() == y.max():
        raise ConfigError("calibration needs both answerable and unanswerable questions; label some of each")
    x = np.array([e.vector() for e in evidence], dtype=np.float64)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        eps = 1e-12
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + l2 * float(w @ w)
        grad_z = (p - y) / len(y)
        return value, np.append(x.T @ grad_z + 2 * l2 * w, grad_z.sum())

    bounds = [(0.0, None)] * len(FEATURES) + [(None, None)]
    fit = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    weights = {name: float(v) for name, v in zip(FEATURES, fit.x[:-1])}
    model = AbstentionModel(weights=weights, bias=float(fit.x[-1]), threshold=0.5)
    scores = [model.confidence(e) for e in evidence]
    threshold = threshold_for(scores, answerable, target_false_answer_rate=target_false_answer_rate)
    metrics = rates(scores, answerable, threshold)
    return AbstentionModel(weights=weights, bias=model.bias, threshold=threshold, fitted_on={
        "dataset": dataset, "answerable": metrics.answerable, "unanswerable": metrics.unanswerable,
        "target_false_answer_rate": target_false_answer_rate, "false_answer_rate": metrics.false_answer_rate,
        "false_abstention_rate": metrics.false_abstention_rate, "auroc": metrics.auroc,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
