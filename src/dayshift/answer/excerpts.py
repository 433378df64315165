"""Excerpts: the few sentences of the retrieved chunks that bear on the question.

    top chunks --split--> sentences --score--> best few (+ the sentence before each) --> Sources

score = cosine(question, sentence) + 0.5 * share of the question's terms in the sentence

A small model reads a short, focused context far better (and many times
faster) than five whole chunks: on SQuAD 2.0 with the bundled 135M model,
whole-chunk prompts of ~1,200 tokens took ~10 s and were answered worse than
three-excerpt prompts of ~200 tokens. Each excerpt keeps its chunk, so a
citation still names the document, page and section.
Left out: excerpts that join sentences of different chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dayshift.analysis import analyze
from dayshift.answer.sources import Source
from dayshift.ingest.chunk import sentence_spans
from dayshift.types import Hit

EmbedQueries = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) unit vectors


def select_excerpts(
    question: str, hits: Sequence[Hit], *, embed: EmbedQueries, max_excerpts: int = 3, chunks: int = 5
) -> list[Source]:
    candidates: list[tuple[Hit, int, list[tuple[int, int]]]] = []  # (hit, sentence index, all spans)
    for hit in hits[:chunks]:
        spans = sentence_spans(hit.chunk.text) or [(0, len(hit.chunk.text))]
        candidates.extend((hit, i, spans) for i in range(len(spans)))
    if not candidates:
        return []
    texts = [h.chunk.text[spans[i][0] : spans[i][1]] for h, i, spans in candidates]
    vectors = embed([question, *texts])
    cosine = vectors[1:] @ vectors[0]
    terms = set(analyze(question))
    overlap = [len(terms & set(analyze(t))) / len(terms) if terms else 0.0 for t in texts]
    scores = cosine + 0.5 * np.asarray(overlap)
    picked: list[Source] = []
    taken: set[tuple[str, int]] = set()
    for idx in np.argsort(-scores):
        hit, i, spans = candidates[int(idx)]
        key = (hit.chunk.chunk_id, i)
        if key in taken:
            continue
        first = i - 1 if i > 0 and (hit.chunk.chunk_id, i - 1) not in taken else i
        taken.update((hit.chunk.chunk_id, j) for j in range(first, i + 1))
        excerpt = hit.chunk.text[spans[first][0] : spans[i][1]]
        picked.append(Source(n=len(picked) + 1, chunk=hit.chunk, score=float(scores[idx]), excerpt=excerpt))
        if len(picked) == max_excerpts:
            break
    return picked
