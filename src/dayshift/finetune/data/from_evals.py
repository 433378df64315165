"""Training examples from an eval set's answerable cases that name their expected sources.

Each case's question becomes a query, its expected documents' text the positive, and the
production retriever's top documents that are not expected the hard negatives. An eval set used
for training can no longer judge the model: leakage/ refuses to compare on it afterwards.
Left out: unanswerable cases (no positive passage) and cases with no expected source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from dayshift.evals.cases import Dataset
from dayshift.finetune.data.examples import TrainingExample
from dayshift.finetune.data.synthetic import Search


def eval_examples(
    dataset: Dataset, *, document_text: Callable[[str], str | None], search: Search, negatives: int = 3,
) -> Iterator[TrainingExample]:
    for case in dataset.accepted():
        if not case.answerable or not case.expected_sources:
            continue
        expected = set(case.expected_sources)
        ranked: Sequence[tuple[str, str]] = search(case.question)
        others = [(d, t) for d, t in ranked if d not in expected][:negatives]
        for doc_id in case.expected_sources:
            text = document_text(doc_id)
            if text is None:
                continue  # the document is not in this index
            yield TrainingExample(
                query=case.question, positive=text, positive_id=doc_id, negatives=tuple(t for _, t in others),
                negative_ids=tuple(d for d, _ in others), source="eval", origin={"case_id": case.id},
            )
