"""Find eval cases that the training data has already shown the model.

Two kinds of leak, both by normalised text (case, punctuation, articles and spacing ignored, as
eval questions are compared elsewhere in dayshift):

    question   an eval question is a training query, or nearly (word 3-gram Jaccard >= 0.8)
    passage    an eval case's expected document is a training positive (same document id)

A question leak means the model was graded on a question it was taught: the CLI refuses to train
on such data, unless told `--allow-leakage`, and the run record says so. A passage leak is
reported as a warning: synthetic questions over the whole corpus make every document a positive
of some question, which is the point of training without labels, but a reader of the figures
should know it. Left out: semantic near-duplicates (paraphrases with few shared words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dayshift.evals.cases import EvalCase, normalize_question
from dayshift.finetune.data.examples import TrainingExample

NEAR_DUPLICATE = 0.8


@dataclass(frozen=True, slots=True)
class Leak:
    case_id: str
    kind: Literal["question", "passage"]
    detail: str


@dataclass(slots=True)
class LeakageReport:
    cases: int
    leaks: list[Leak] = field(default_factory=list)

    @property
    def question_leaks(self) -> list[Leak]:
        return [leak for leak in self.leaks if leak.kind == "question"]

    @property
    def leaked_cases(self) -> set[str]:
        return {leak.case_id for leak in self.leaks}

    def summary(self) -> str:
        if not self.leaks:
            return f"no leakage: none of {self.cases} eval cases is in the training data"
        by_kind = {k: sum(1 for leak in self.leaks if leak.kind == k) for k in ("question", "passage")}
        return (f"{len(self.leaked_cases)} of {self.cases} eval cases leak into the training data "
                f"({by_kind['question']} by question, {by_kind['passage']} by passage)")  # fmt: skip


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = normalize_question(text).split()
    return {tuple(words[i: i + 3]) for i in range(max(1, len(words) - 2))}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def check_leakage(cases: Sequence[EvalCase], examples: Sequence[TrainingExample]) -> LeakageReport:
    report = LeakageReport(cases=len(cases))
    exact = {normalize_question(e.query): e for e in examples}
    shingled = [(_shingles(e.query), e) for e in examples]
    positives_by_doc = {e.positive_id for e in examples if e.positive_id}
    for case in cases:
        key = normalize_question(case.question)
        if key in exact:
            report.leaks.append(Leak(case.id, "question", f"the training query {exact[key].query!r}"))
        else:
            mine = _shingles(case.question)
            near = next((e for s, e in shingled if _jaccard(mine, s) >= NEAR_DUPLICATE), None)
            if near is not None:
                report.leaks.append(Leak(case.id, "question", f"near copy of the training query {near.query!r}"))
        for doc_id in case.expected_sources:
            if doc_id in positives_by_doc:
                report.leaks.append(Leak(case.id, "passage", f"its expected document {doc_id} is a training positive"))
                break
    return report
