"""The numbered sources an answer may cite, packed within the model's context budget.

    hits (best first) --pack--> [Source(n=1, ...), Source(n=2, ...)]   within budget_tokens

A source is a whole chunk: a chunk that does not fit is skipped (a smaller,
lower-ranked one may still fit), never cut mid-sentence. Left out:
compressing or summarising sources to fit more of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dayshift.types import Chunk, Hit


@dataclass(frozen=True, slots=True)
class Source:
    n: int  # the number the model cites as [n]
    chunk: Chunk
    score: float
    excerpt: str | None = None  # the sentences of the chunk the model was shown; None: all of it

    @property
    def text(self) -> str:
        if self.excerpt is None:
            return self.chunk.indexed_text
        return self.excerpt

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def location(self) -> str:
        """Where the cited text is: document, then page or section."""
        c = self.chunk
        where = [c.title or c.source]
        if c.page is not None:
            where.append(f"p. {c.page}")
        section = c.section[1:] if c.section and c.section[0] == c.title else c.section
        if section:
            where.append(" > ".join(section))
        return ", ".join(where)


def pack_sources(
    hits: Sequence[Hit], *, budget_tokens: int, count_tokens: Callable[[str], int], max_sources: int
) -> list[Source]:
    """The best hits that fit in `budget_tokens`, numbered 1..n in rank order."""
    sources: list[Source] = []
    used = 0
    for hit in hits:
        if len(sources) == max_sources:
            break
        cost = count_tokens(hit.chunk.indexed_text) + 4  # "[n] " and the line break
        if used + cost > budget_tokens:
            continue
        used += cost
        sources.append(Source(n=len(sources) + 1, chunk=hit.chunk, score=hit.score))
    return sources
