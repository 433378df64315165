"""Abstention: dayshift decides "I don't know" itself, from measured evidence.

    evidence (each in [0, 1]):
      dense_top      best cosine between the question and a retrieved chunk        (retrieval)
      coverage       share of the question's subject terms in the best source      (retrieval)
      keyword_match  BM25 of the best chunk for the whole question, over the sum of (retrieval)
                     each term's own best BM25 (a term the corpus lacks counts as rare)
      known          share of the question's terms found anywhere in the corpus    (retrieval)
      reader_sure    1 - P(the reader opened with the prompt's no-answer word)     (reader)
      reader_prob    geometric mean probability of the draft's tokens              (reader)
      self_check     P(yes), the reader asked whether the text states its draft    (reader)
      text_answers   P(yes), the reader asked whether the text answers the question (reader)
      support        share of the answer's new terms in the source it stands on    (support check)
      verbatim       the answer appears word for word in a source                  (support check)
      focus          share of the question's subject terms in that source          (support check)

    confidence = sigmoid(bias + weights . evidence)                    are the sources about the question?
               x sigmoid(reader_bias + reader_weights . evidence)      does the reader find the answer in them?
               capped by max(support, verbatim)          answer if confidence >= threshold

The two factors are two different ways a question goes unanswered: sources
about something else (retrieval evidence tells), and sources about the right
thing that do not hold the answer (only the reader can tell). One linear score
over both lets retrieval evidence, which says nothing about the second kind,
blur the reader's signal; the product lets each factor decide its own kind. A
model without reader weights (an older calibration.json) is the first factor
alone.

Weights and threshold come from `dayshift calibrate` (answer/calibrate.py:
weights >= 0 by maximum likelihood, threshold chosen for a target
false-answer rate), saved as data_dir/calibration.json; the shipped defaults
hold until then. Every weight is >= 0, so confidence never falls when evidence
rises, and the confidence with perfect reader and support evidence is an upper
bound: when even that is below the threshold, dayshift abstains before
generating anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dayshift.analysis import analyze
from dayshift.answer.sources import Source
from dayshift.answer.support import subject_terms
from dayshift.errors import ConfigError
from dayshift.store.base import ChunkSearcher
from dayshift.types import Condition

FEATURES = ("dense_top", "coverage", "keyword_match", "known", "reader_sure", "reader_prob", "self_check",
            "text_answers", "support", "verbatim", "focus")
# What the reader factor weighs: the evidence only the reader can give.
READER_FEATURES = ("reader_sure", "reader_prob", "self_check", "text_answers")

ABSTAIN_TEXT = "I don't know. The indexed sources do not answer this question"


@dataclass(frozen=True, slots=True)
class Evidence:
    dense_top: float
    coverage: float
    keyword_match: float = 0.0
    known: float = 0.0
    # The reader's own signals; 1 until measured (and for backends that report no log-probabilities).
    reader_sure: float = 1.0  # 1 - P(the reader opened with the prompt's no-answer word)
    reader_prob: float = 1.0  # geometric mean probability of the draft's tokens
    self_check: float = 1.0  # P(yes), the reader asked whether the text states its draft
    text_answers: float = 1.0  # P(yes), the reader asked whether the text answers the question
    support: float = 1.0  # optimistic until an answer has been checked
    verbatim: float = 1.0
    focus: float = 1.0

    def vector(self) -> list[float]:
        return [getattr(self, name) for name in FEATURES]


def question_coverage(question: str, sources: list[Source], *, best_of: int = 3) -> float:
    """Share of the question's subject terms found in one source (the best of the top few)."""
    terms = subject_terms(question)
    if not terms or not sources:
        return 0.0
    return max(len(terms & set(analyze(s.text))) / len(terms) for s in sources[:best_of])


def keyword_evidence(
    question: str, store: ChunkSearcher, *, where: Sequence[Condition] = ()
) -> tuple[float, float]:
    """(keyword_match, known) for `question` against the (filtered) corpus: one search per term."""
    terms = list(dict.fromkeys(analyze(question)))
    if not terms:
        return 0.0, 0.0
    alone = []
    for term in terms:
        hits = store.keyword_search([term], k=1, where=where)
        alone.append(hits[0].score if hits else 0.0)
    rare = max(alone) or 1.0  # a term missing from the corpus would have scored like its rarest word
    best = store.keyword_search(terms, k=1, where=where)
    denominator = sum(score if score > 0 else rare for score in alone)
    match = min(best[0].score / denominator, 1.0) if best else 0.0
    return match, sum(score > 0 for score in alone) / len(terms)


@dataclass(frozen=True, slots=True)
class AbstentionModel:
    weights: dict[str, float]
    bias: float
    threshold: float
    fitted_on: dict[str, object] = field(default_factory=dict)  # dataset, counts, dev metrics, date
    reader_weights: dict[str, float] | None = None  # the second factor; None: the first factor alone
    reader_bias: float = 0.0

    def confidence(self, evidence: Evidence) -> float:
        """The calibrated probability, capped by support: an answer none of whose words are in its
        sources (support 0, not verbatim) gets 0, however strong the retrieval evidence."""
        calibrated = _logistic(self.bias + sum(self.weights.get(name, 0.0) * getattr(evidence, name)
                                               for name in FEATURES))
        if self.reader_weights is not None:
            calibrated *= _logistic(self.reader_bias + sum(self.reader_weights.get(name, 0.0) * getattr(evidence, name)
                                                           for name in FEATURES))
        return min(calibrated, max(evidence.support, evidence.verbatim))

    def uses(self, feature: str) -> bool:
        """Whether any factor weighs `feature` (evidence nobody weighs need not be measured)."""
        return self.weights.get(feature, 0.0) > 0 or (self.reader_weights or {}).get(feature, 0.0) > 0

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AbstentionModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            weights = {k: float(v) for k, v in dict(raw["weights"]).items() if k in FEATURES}
            reader = raw.get("reader_weights")
            model = cls(weights=weights, bias=float(raw["bias"]), threshold=float(raw["threshold"]),
                        fitted_on=dict(raw.get("fitted_on", {})),
                        reader_weights=None if reader is None else {k: float(v) for k, v in dict(reader).items()
                                                                    if k in FEATURES},
                        reader_bias=float(raw.get("reader_bias", 0.0)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: unreadable calibration ({exc!r}); run `dayshift calibrate` again") from exc
        negative = [k for k, v in {**model.weights, **(model.reader_weights or {})}.items() if v < 0]
        if negative:
            raise ConfigError(f"{path}: negative weights ({', '.join(negative)}); run `dayshift calibrate` again")
        return model


# What every user gets before `dayshift calibrate`: it separates "in the corpus" from "not in the
# corpus" well, SQuAD 2.0's adversarial questions less well; calibrate on your own questions for more.
DEFAULT_MODEL = AbstentionModel(
    # benchmarks/fit_default_abstention.py --leave-out self_check on SQuAD 2.0 *train* (never on the dev
    # questions the benchmark reports): both factors fitted jointly on both kinds of unanswerable question, the
    # threshold where the out-of-corpus false-answer rate's one-sided 95% upper bound is 5%
    # (docs/decisions/0009-reader.md). The draft's own self-check adds nothing here (AUROC 0.815 with it,
    # 0.813 without), so the default does not spend a call on it.
    weights={"dense_top": 11.734, "coverage": 0.980, "keyword_match": 0.0, "known": 2.812, "reader_sure": 0.0,
             "reader_prob": 0.0, "self_check": 0.0, "text_answers": 0.0, "support": 0.752, "verbatim": 0.0,
             "focus": 0.980},
    bias=-9.051, threshold=0.225,
    reader_weights={"reader_sure": 3.441, "reader_prob": 0.287, "self_check": 0.0, "text_answers": 7.890},
    reader_bias=-5.212,
    fitted_on={"source": "shipped default: SQuAD 2.0 train, first 10 articles, out_of_corpus + squad2 settings, "
                         "qwen2.5-coder-1.5b-instruct, answer@v3, one excerpt", "answerable": 400, "unanswerable": 400,
               "factors": 2, "threshold_on": "out_of_corpus", "false_answer_rate": 0.02, "false_abstention_rate": 0.09,
               "auroc": 0.873},
)


def load_abstention_model(data_dir: Path, *, threshold: float | None = None) -> AbstentionModel:
    path = data_dir / "calibration.json"
    model = AbstentionModel.load(path) if path.is_file() else DEFAULT_MODEL
    if threshold is not None:
        model = replace(model, threshold=threshold)
    return model


def _logistic(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(z / 2.0))  # without overflow
