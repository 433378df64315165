"""`search_docs`: the retriever over the indexed documents, each hit a citable passage.

    {"query": "memorized secret minimum length", "where": ["source=nist"]}
      -> [D1] Digital Identity Guidelines, p. 14 > 5.1.1.1 Memorized Secret Authenticators (doc: pdfs/nist_sp800-63b...)
         Memorized secrets SHALL be at least 8 characters in length if chosen by the subscriber. ...

Hits are the retriever's best chunks (keyword, dense or hybrid, as configured), filtered by the
same `where` expressions as `dayshift search --where`. A chunk longer than `passage_chars` is shown
as the window of its sentences that shares most words with the query, so the model reads the part
that matters and the prompt stays short; the citation still names the whole chunk.

Filters that cannot be read are left out, and a filtered search that finds nothing is run again
without its filters; the result says which filters were dropped and why. The model writes the
filters, and small models invent fields or copy values from wherever they saw them: the words alone
are a better second try than an empty result.

Left out: re-asking with a rewritten query (the model can search again with other words).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field

from dayshift.agents.tools.base import Evidence, RunContext, ToolOutput
from dayshift.analysis import analyze
from dayshift.errors import QueryError
from dayshift.ingest.chunk import sentence_spans
from dayshift.retrieve.filters import parse_filters
from dayshift.types import Chunk, Condition


class Searcher(Protocol):
    def search(self, query: str, *, k: int = 10, where: Sequence[Condition] = ()) -> Any: ...


class SearchDocsArgs(BaseModel):
    query: str = Field(min_length=1, max_length=300, description="a few specific words to search the documents for")
    where: list[str] = Field(default_factory=list, max_length=5,
                             description="leave empty unless the task names a document field: then "
                                         "field=value or field>=number")


class SearchDocs:
    name = "search_docs"
    description = ("Search the indexed documents (PDFs, web pages, Markdown, posts) and get the best passages, "
                   "each with an id to cite. Search with a few specific words, not a whole question.")
    Args = SearchDocsArgs

    def __init__(self, searcher: Searcher, *, k: int = 3, passage_chars: int = 700) -> None:
        self.searcher, self.k, self.passage_chars = searcher, k, passage_chars

    def run(self, args: SearchDocsArgs, *, run: RunContext) -> ToolOutput:
        note = ""
        try:
            where = parse_filters(args.where)
        except QueryError as exc:  # filters the model made up: say why, and search on the words
            where, note = [], f"the filters {args.where} were left out ({exc}); the best passages for the words:\n\n"
        hits = self.searcher.search(args.query, k=self.k, where=where).hits
        if not hits and where:  # filters that match nothing: say so, and show what the words alone find
            hits = self.searcher.search(args.query, k=self.k).hits
            note = (f"no passage matches the filters {args.where}; the best passages for the words alone, "
                    "without filters:\n\n")
        if not hits:
            return ToolOutput(text="no passage matches that search: try other words")
        evidence = [self._evidence(hit.chunk, args.query, run) for hit in hits]
        text = note + "\n\n".join(f"[{e.id}] {e.location} (doc: {e.doc_id})\n{e.text}" for e in evidence)
        return ToolOutput(text=text, evidence=tuple(evidence), data={"hits": len(hits), "filters_dropped": bool(note)})

    def _evidence(self, chunk: Chunk, query: str, run: RunContext) -> Evidence:
        location = _location(chunk)
        return Evidence(id=run.new_id("D"), kind="docs", label=location, text=focus(chunk.text, query,
                        self.passage_chars), doc_id=chunk.doc_id, chunk_id=chunk.chunk_id, location=location)


def focus(text: str, query: str, limit: int) -> str:
    """`text`, or, when longer than `limit`, its run of sentences around the one sharing most terms with `query`."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    spans = sentence_spans(text) or [(0, len(text))]
    terms = set(analyze(query))
    scores = [len(terms & set(analyze(text[a:b]))) for a, b in spans]
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    lo = hi = best
    while True:  # grow towards the better-scoring neighbour while it fits
        options = [i for i in (lo - 1, hi + 1) if 0 <= i < len(spans)]
        grown = [(scores[i], i) for i in options if spans[max(hi, i)][1] - spans[min(lo, i)][0] <= limit]
        if not grown:
            break
        _, i = max(grown)
        lo, hi = min(lo, i), max(hi, i)
    start, end = spans[lo][0], min(spans[hi][1], spans[lo][0] + limit)
    return ("... " if start > 0 else "") + text[start:end].strip() + (" ..." if end < len(text) else "")


def _location(chunk: Chunk) -> str:
    where = [chunk.title or chunk.source]
    if chunk.page is not None:
        where.append(f"p. {chunk.page}")
    section = chunk.section[1:] if chunk.section and chunk.section[0] == chunk.title else chunk.section
    if section:
        where.append(" > ".join(section[-2:]))
    return ", ".join(where)
