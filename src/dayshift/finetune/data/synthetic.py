"""doc2query: a question per chunk, drafted by the local reader, kept only if it finds its own chunk.

    chunk --reader--> "What does X do to Y?" --production retrieval--> own document in the top
    `keep_within`? keep, with the documents ranked above and around it as hard negatives : drop

The filter is what makes synthetic questions trainable: a question too vague to find its own
passage teaches the model noise. The negatives are the production retriever's own mistakes, so
the model learns what production gets wrong. Left out: several questions per chunk, answer
drafting (the reader's SFT data is drafted by train_reader), and de-duplicating near-identical
questions across chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from dayshift.finetune.data.examples import TrainingExample

PROMPT = ("Write one question that the passage below answers, the way a user would search for it. "
          "Reply with the question only.\n\nPassage:\n{text}")  # fmt: skip
MAX_PASSAGE_CHARS = 1200  # the reader sees the start of the chunk; a small reader loses its way in more

# (query) -> ranked (doc_id, text) of the production retriever, best first
Search = Callable[[str], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Passage:
    doc_id: str
    chunk_id: str
    text: str


@dataclass(slots=True)
class SyntheticReport:
    drafted: int = 0
    kept: int = 0
    unusable: int = 0  # the reader's reply was not a question
    not_found: int = 0  # the question did not retrieve its own document
    ranks: list[int] = field(default_factory=list)  # 1-based rank of the own document, for kept questions


def clean_question(reply: str) -> str | None:
    """The reader's reply as one question, or None when it is not one (empty, a list, an echo)."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(question\s*\d*\s*[:.)-]\s*|\d+[.)]\s*|[-*]\s*)", "", line, flags=re.IGNORECASE)
    line = line.strip().strip('"“”\'').strip()
    if "?" in line:
        line = line[: line.index("?") + 1]
    words = line.split()
    if not 3 <= len(words) <= 40 or not line.endswith("?"):
        return None
    return line


def synthetic_examples(
    passages: Iterable[Passage], *, draft: Callable[[str], str], search: Search, keep_within: int = 10,
    negatives: int = 3, report: SyntheticReport | None = None, on_passage: Callable[[], None] | None = None,
) -> Iterator[TrainingExample]:
    """One example per passage whose drafted question ranks its own document within `keep_within`."""
    report = report if report is not None else SyntheticReport()
    for passage in passages:
        report.drafted += 1
        question = clean_question(draft(PROMPT.format(text=passage.text[:MAX_PASSAGE_CHARS])))
        if on_passage is not None:
            on_passage()
        if question is None:
            report.unusable += 1
            continue
        ranked = list(search(question))[:keep_within]
        rank = next((i for i, (doc_id, _) in enumerate(ranked) if doc_id == passage.doc_id), None)
        if rank is None:
            report.not_found += 1
            continue
        report.kept += 1
        report.ranks.append(rank + 1)
        others = [(doc_id, text) for doc_id, text in ranked if doc_id != passage.doc_id][:negatives]
        yield TrainingExample(
            query=question, positive=passage.text, positive_id=passage.doc_id,
            negatives=tuple(t for _, t in others), negative_ids=tuple(d for d, _ in others), source="synthetic",
            origin={"chunk_id": passage.chunk_id, "rank": rank + 1},
        )
