"""Grounded answering: retrieve, decide, generate with citations, check, decide again.

    question --retrieve--> hits --pack--> numbered sources
             --evidence (dense_top, coverage)--> upper-bound confidence < threshold?  -> abstain, no LLM call
             --prompt (template file)--> LLM stream (draft shown as it arrives)
             --citations [n] -> sources; support check--> confidence < threshold?     -> abstain, draft withdrawn
             --> Answer(text, citations, confidence)

Left out: multi-turn conversation memory and query rewriting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from dayshift.answer.abstain import ABSTAIN_TEXT, AbstentionModel, Evidence, keyword_evidence, question_coverage
from dayshift.answer.citations import resolve_citations
from dayshift.answer.excerpts import EmbedQueries, select_excerpts
from dayshift.answer.prompts import PromptTemplate
from dayshift.answer.sources import Source, pack_sources
from dayshift.answer.support import Support, check_support
from dayshift.llm.base import CancelToken, ChatRequest, Completion
from dayshift.retrieve.retriever import SearchResult
from dayshift.settings import AnswerSettings
from dayshift.store.base import ChunkSearcher
from dayshift.types import Condition, Hit


class Searcher(Protocol):
    def search(self, query: str, *, k: int = 10, where: Sequence[Condition] = ()) -> SearchResult: ...


class LLMCallLike(Protocol):
    result: Completion | None

    def __iter__(self) -> Iterator[str]: ...


class StreamingLLM(Protocol):
    def stream(self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None) -> LLMCallLike: ...


@dataclass(slots=True)
class Answer:
    question: str
    text: str  # what the user sees: the cited answer, or the fixed abstention response with its reason
    abstained: bool
    confidence: float
    evidence: Evidence
    reason: str = ""  # why it abstained
    cited: tuple[Source, ...] = ()
    sources: tuple[Source, ...] = ()  # everything the model was shown
    retrieved: tuple[Hit, ...] = ()  # the retriever's top k, best first, before excerpts were chosen
    draft: str = ""  # the model's text, kept when withdrawn
    support: Support | None = None
    completion: Completion | None = None
    prompt: str = ""  # template name@version
    timings_ms: dict[str, float] = field(default_factory=dict)


class AnswerStream:
    """Iterate for the draft as it is generated; `.answer` holds the verdict once iteration ends.

    There is one underlying iteration: leaving a loop early and calling
    `result()` finishes the same answer rather than starting another.
    """

    def __init__(self, steps: Generator[str, None, Answer]) -> None:
        self._steps = steps
        self._pieces: Iterator[str] | None = None
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._pieces is None:
            self._pieces = self._run()
        return self._pieces

    def _run(self) -> Iterator[str]:
        self.answer = yield from self._steps

    def result(self) -> Answer:
        """The verdict, consuming whatever of the stream is left."""
        for _ in self:
            pass
        if self.answer is None:
            raise RuntimeError("the answer stream was closed before it finished")
        return self.answer


class Answerer:
    def __init__(
        self, retriever: Searcher, llm: StreamingLLM, *, prompt: PromptTemplate, abstention: AbstentionModel,
        count_tokens: Callable[[str], int], context_window: int, settings: AnswerSettings | None = None,
        embed_queries: EmbedQueries | None = None, keyword_store: ChunkSearcher | None = None,
    ) -> None:
        self.embed_queries = embed_queries
        self.keyword_store = keyword_store  # for the keyword evidence; None leaves it at 0
        self.retriever, self.llm, self.prompt, self.abstention = retriever, llm, prompt, abstention
        self.count_tokens, self.context_window = count_tokens, context_window
        self.settings = settings or AnswerSettings()
        # The template without sources, and room for the answer, come off the window.
        bare = sum(count_tokens(m.content) + 4 for m in prompt.render(question="", sources=[]))
        self.source_budget_tokens = context_window - bare - self.settings.max_answer_tokens - 64

    def ask(
        self, question: str, *, where: Sequence[Condition] = (), tenant: str | None = None,
        cancel: CancelToken | None = None,
    ) -> AnswerStream:
        return AnswerStream(self._answer(question, where, tenant, cancel))

    def _answer(
        self, question: str, where: Sequence[Condition], tenant: str | None, cancel: CancelToken | None
    ) -> Generator[str, None, Answer]:
        found = self.retriever.search(question, k=self.settings.k, where=where)
        started = time.perf_counter()
        sources = self._sources(question, found)
        evidence = self._retrieval_evidence(question, found, sources, where)
        timings = {**found.timings_ms, "select": _ms_since(started)}
        base = Answer(question=question, text="", abstained=True, confidence=self.abstention.confidence(evidence),
                      evidence=evidence, sources=tuple(sources), retrieved=tuple(found.hits), prompt=self.prompt.ref,
                      timings_ms=timings)
        if not sources or base.confidence < self.abstention.threshold:
            return _abstain(base, "no source is close enough to the question")
        params = self.prompt.params
        request = ChatRequest(
            messages=self.prompt.render(question=question, sources=sources),
            source_texts=tuple(s.text for s in sources),  # indexed text: kept by PII redaction (llm.redact_sources)
            max_tokens=min(params.get("max_tokens", self.settings.max_answer_tokens), self.settings.max_answer_tokens),
            temperature=float(params.get("temperature", 0.0)), stop=tuple(params.get("stop", ())),
        )
        started = time.perf_counter()
        call = self.llm.stream(request, cancel=cancel, tenant=tenant)
        pieces: list[str] = []
        try:
            for piece in call:
                pieces.append(piece)
                yield piece
        finally:
            base.timings_ms["generate"] = _ms_since(started)
        started = time.perf_counter()
        answer = self._verdict(base, "".join(pieces), call.result, sources)
        answer.timings_ms["check"] = _ms_since(started)
        return answer

    def _retrieval_evidence(
        self, question: str, found: SearchResult, sources: list[Source], where: Sequence[Condition]
    ) -> Evidence:
        dense = found.raw_scores.get("dense")
        if dense is not None:
            dense_top = max(dense.values(), default=0.0)
        elif self.embed_queries is not None and found.hits:  # keyword-only retrieval: measure it here
            vectors = self.embed_queries([question, *(h.chunk.indexed_text for h in found.hits)])
            dense_top = float((vectors[1:] @ vectors[0]).max())
        else:
            dense_top = 0.0
        match, known = keyword_evidence(question, self.keyword_store, where=where) if self.keyword_store else (0.0, 0.0)
        return Evidence(dense_top=dense_top, coverage=question_coverage(question, sources), keyword_match=match,
                        known=known)

    def _sources(self, question: str, found: SearchResult) -> list[Source]:
        if self.embed_queries is not None and self.settings.excerpts > 0:
            return select_excerpts(question, found.hits, embed=self.embed_queries,
                                   max_excerpts=self.settings.excerpts, chunks=self.settings.k)
        return pack_sources(found.hits, budget_tokens=self.source_budget_tokens,
                            count_tokens=self.count_tokens, max_sources=self.settings.k)

    def _verdict(self, base: Answer, draft: str, completion: Completion | None, sources: list[Source]) -> Answer:
        question = base.question
        citations = resolve_citations(draft.strip(), sources)
        support = check_support(citations.text, question=question, cited=citations.cited, given=sources)
        if citations.text and not citations.cited and support.best is not None and support.score > 0:
            # Small models often leave out the marker: cite the source the answer stands on.
            citations = resolve_citations(f"{citations.text} [{support.best.n}]", sources)
        checked = self.settings.support_check
        evidence = replace(
            base.evidence, support=support.score if checked else 1.0,
            verbatim=float(support.verbatim) if checked else 1.0, focus=support.focus if checked else 1.0,
        )
        base.evidence, base.confidence = evidence, self.abstention.confidence(evidence)
        base.draft, base.support, base.completion = draft, support, completion
        if not citations.text:
            return _abstain(base, "the model returned no answer")
        if base.confidence < self.abstention.threshold:
            return _abstain(base, "the draft answer is not supported by the sources it cites")
        base.abstained, base.text, base.cited = False, citations.text, citations.cited
        return base


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _abstain(answer: Answer, reason: str) -> Answer:
    answer.abstained, answer.reason = True, reason
    answer.text = f"{ABSTAIN_TEXT}: {reason} (confidence {answer.confidence:.2f})."
    return answer
