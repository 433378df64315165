"""Abstention: dayshift decides "I don't know" itself, from measured evidence.

    evidence (each in [0, 1]):
      dense_top       best cosine between the question and a source          (retrieval)
      coverage        share of the question's terms found in the best source (retrieval)
      support         share of the answer's terms found in what it cites     (support check)
      verbatim        the answer appears word for word in a source           (support check)
    confidence = sigmoid(bias + weights . evidence)        answer if confidence >= threshold

Weights and threshold come from `dayshift calibrate` (a logistic regression
on labelled questions, threshold chosen for a target false-answer rate),
saved as data_dir/calibration.json; the shipped defaults hold until then.
Every weight is kept >= 0, so confidence never falls when evidence rises, and
the confidence with perfect support is an upper bound: when even that is
below the threshold, dayshift abstains before generating anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dayshift.analysis import analyze
from dayshift.answer.sources import Source
from dayshift.errors import ConfigError

FEATURES = ("dense_top", "coverage", "support", "verbatim")

# Words that frame a question without naming its subject.
_QUESTION_WORDS = frozenset(analyze("how why whose did does do many much name named called kind type year"))

ABSTAIN_TEXT = "I don't know. The indexed sources do not answer this question"


@dataclass(frozen=True, slots=True)
class Evidence:
    dense_top: float
    coverage: float
    support: float = 1.0  # optimistic until an answer has been checked
    verbatim: float = 1.0

    def vector(self) -> list[float]:
        return [getattr(self, name) for name in FEATURES]


def question_coverage(question: str, sources: list[Source], *, best_of: int = 3) -> float:
    """Share of the question's subject terms found in one source (the best of the top few)."""
    terms = {t for t in analyze(question) if t not in _QUESTION_WORDS}
    if not terms or not sources:
        return 0.0
    return max(len(terms & set(analyze(s.text))) / len(terms) for s in sources[:best_of])


@dataclass(frozen=True, slots=True)
class AbstentionModel:
    weights: dict[str, float]
    bias: float
    threshold: float
    fitted_on: dict[str, object] = field(default_factory=dict)  # dataset, counts, dev metrics, date

    def confidence(self, evidence: Evidence) -> float:
        z = self.bias + sum(self.weights[name] * getattr(evidence, name) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> AbstentionModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            model = cls(weights={k: float(raw["weights"][k]) for k in FEATURES}, bias=float(raw["bias"]),
                        threshold=float(raw["threshold"]), fitted_on=dict(raw.get("fitted_on", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: unreadable calibration ({exc}); run `dayshift calibrate` again") from exc
        return model


# Hand-set until calibrated: a close dense match and most question terms
# present are needed, and an answer whose words are not in its sources fails.
DEFAULT_MODEL = AbstentionModel(
    weights={"dense_top": 8.0, "coverage": 4.0, "support": 4.0, "verbatim": 1.0},
    bias=-11.0, threshold=0.5, fitted_on={"source": "shipped default (not calibrated)"},
)


def load_abstention_model(data_dir: Path, *, threshold: float | None = None) -> AbstentionModel:
    path = data_dir / "calibration.json"
    model = AbstentionModel.load(path) if path.is_file() else DEFAULT_MODEL
    if threshold is not None:
        model = AbstentionModel(model.weights, model.bias, threshold, model.fitted_on)
    return model
