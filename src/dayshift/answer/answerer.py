"""Grounded answering: retrieve, decide, generate with citations, check, decide again.

    question --retrieve--> hits --excerpts--> numbered sources
             --evidence (retrieval)--> upper-bound confidence < threshold?          -> abstain, no LLM call
             --prompt (template file)--> LLM stream (draft shown as it arrives; the prompt's
               no-answer word is barred at the first token, its probability kept as evidence)
             --citations [n] -> sources
             --support check, sentence by sentence--> a sentence not in the text it cites? -> abstain (veto)
             --self-check (the reader asked if the text states its answer; local readers)
             --confidence = min(calibrated evidence, weakest sentence's support) < threshold? -> abstain
             --> Answer(text, citations, confidence, supported)

However strong retrieval was, a draft whose claims are not in the text it cites
is never released: support vetoes, and bounds the confidence. With
answer.unsupported = "quote", the withdrawn draft is replaced by the best
source's passage, quoted and labelled as a quote, not as an answer.
Left out: multi-turn conversation memory and query rewriting.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dayshift.analysis import analyze
from dayshift.answer.abstain import ABSTAIN_TEXT, AbstentionModel, Evidence, keyword_evidence, question_coverage
from dayshift.answer.citations import resolve_citations, strip_citations
from dayshift.answer.excerpts import EmbedQueries, select_excerpts
from dayshift.answer.json_claims import claims_text
from dayshift.answer.prompts import PromptTemplate
from dayshift.answer.selfcheck import self_check, text_answers
from dayshift.answer.sources import Source, pack_sources
from dayshift.answer.support import SentenceSupport, Support, check_support
from dayshift.errors import ConfigError, StructuredOutputError
from dayshift.llm.base import CancelToken, ChatRequest, Completion, StreamingLLM
from dayshift.llm.structured import check_json_schema, complete_json
from dayshift.retrieve.retriever import SearchResult
from dayshift.settings import AnswerSettings
from dayshift.store.base import ChunkSearcher
from dayshift.types import Condition, Hit


class Searcher(Protocol):
    def search(self, query: str, *, k: int = 10, where: Sequence[Condition] = ()) -> SearchResult: ...


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
    quote: Source | None = None  # answer.unsupported = "quote": the passage shown instead of a withdrawn draft
    data: Any = None  # ask_json: the JSON value, once released

    @property
    def supported(self) -> bool:
        """Released, and every sentence of it is in the text it cites: one meaning for the CLI, API, traces, evals."""
        return not self.abstained and self.support is not None and self.support.supported


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
        json_prompt: PromptTemplate | None = None,
    ) -> None:
        self.json_prompt = json_prompt  # structured answers (ask_json)
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

    def ask_json(
        self, question: str, *, schema: Mapping[str, Any], prompt: PromptTemplate | None = None,
        where: Sequence[Condition] = (), tenant: str | None = None, cancel: CancelToken | None = None,
    ) -> Answer:
        """The answer as JSON valid against `schema`: the same retrieval, citations, support veto and abstention.

        Locally a grammar makes every token keep the JSON valid; remote models get `response_format`,
        repair and a bounded re-ask (llm/structured.py). `Answer.data` holds the value when released.
        """
        prompt = prompt or self.json_prompt
        if prompt is None:
            raise ConfigError("no prompt for structured answers: set answer.json_prompt (the shipped one is answer-json)")
        check_json_schema(schema)  # a bad schema fails before any retrieval or model call
        base, sources = self._prepare(question, where, prompt=prompt)
        if base.abstained:
            return base
        messages = prompt.render(question=question, sources=sources, schema=json.dumps(schema, indent=1))
        started = time.perf_counter()
        try:
            value, completion = complete_json(
                self.llm, messages, schema, max_tokens=prompt.params.get("max_tokens", self.settings.max_answer_tokens),
                tenant=tenant, cancel=cancel, source_texts=[s.text for s in sources], prompt_texts=prompt.fixed_texts(),
            )
        except StructuredOutputError as exc:
            base.timings_ms["generate"] = _ms_since(started)
            base.draft = exc.last_output or ""
            return _abstain(base, f"the model gave no valid JSON ({exc.validation_error})")
        base.timings_ms["generate"] = _ms_since(started)
        base.draft, base.completion = json.dumps(value, ensure_ascii=False), completion
        # Each value is a claim, checked in full: a field may rightly repeat the question's own words
        # (the volcano a question names), so no term is discounted as the question's.
        support = check_support(claims_text(value, schema), question="", cited=(), given=sources,
                                min_sentence_support=self.settings.min_sentence_support)
        base.support = support
        base.evidence = replace(base.evidence, **self._draft_evidence(support, None, None))
        base.confidence = self.abstention.confidence(base.evidence)
        if not support.sentences:
            return _abstain(base, "the JSON holds no value from the sources")
        if self.settings.support_check:
            base.confidence = min(base.confidence, support.weakest)
            if not support.supported:
                terms = ", ".join(support.unsupported_terms[:5])
                return _abstain(base, "the JSON holds values the sources do not"
                                + (f" (not in them: {terms})" if terms else ""))
        if base.confidence < self.abstention.threshold:
            return _abstain(base, "the evidence for this answer is too weak")
        used = {n for sentence in support.sentences if sentence.supported for n in _best_sources(sentence, sources)}
        base.abstained, base.data = False, value
        base.text, base.cited = base.draft, tuple(s for s in sources if s.n in used)
        return base

    def _prepare(
        self, question: str, where: Sequence[Condition], *, prompt: PromptTemplate | None = None
    ) -> tuple[Answer, list[Source]]:
        """Retrieve, pick excerpts, weigh the retrieval evidence; abstained already if even a perfect draft could
        not reach the threshold."""
        found = self.retriever.search(question, k=self.settings.k, where=where)
        started = time.perf_counter()
        sources = self._sources(question, found)
        evidence = self._retrieval_evidence(question, found, sources, where)
        timings = {**found.timings_ms, "select": _ms_since(started)}
        base = Answer(question=question, text="", abstained=True, confidence=self.abstention.confidence(evidence),
                      evidence=evidence, sources=tuple(sources), retrieved=tuple(found.hits),
                      prompt=(prompt or self.prompt).ref, timings_ms=timings)
        if not sources or base.confidence < self.abstention.threshold:
            return _abstain(base, "no source is close enough to the question"), sources
        base.abstained = False
        return base, sources

    def _answer(
        self, question: str, where: Sequence[Condition], tenant: str | None, cancel: CancelToken | None
    ) -> Generator[str, None, Answer]:
        base, sources = self._prepare(question, where)
        if base.abstained:
            return base
        base.abstained = True  # until the verdict releases it
        params = self.prompt.params
        no_answer = params.get("no_answer")
        request = ChatRequest(
            messages=self.prompt.render(question=question, sources=sources),
            source_texts=tuple(s.text for s in sources),  # indexed text: kept by PII redaction (llm.redact_sources)
            prompt_texts=self.prompt.fixed_texts(),  # the prompt's instructions and examples: never redacted
            max_tokens=min(params.get("max_tokens", self.settings.max_answer_tokens), self.settings.max_answer_tokens),
            temperature=float(params.get("temperature", 0.0)), stop=tuple(params.get("stop", ())),
            suppress_first=(no_answer,) if no_answer else (),
            copy_from=tuple(s.text for s in sources) if params.get("extractive") else (),
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
        answer = self._verdict(base, "".join(pieces), call.result, sources, request, tenant, cancel)
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

    def _verdict(
        self, base: Answer, draft: str, completion: Completion | None, sources: list[Source], request: ChatRequest,
        tenant: str | None, cancel: CancelToken | None,
    ) -> Answer:
        question = base.question
        base.draft, base.completion = draft, completion
        citations = resolve_citations(draft.strip(), sources)
        no_answer = self.prompt.params.get("no_answer")
        if not citations.text:
            return _abstain(base, "the model returned no answer")
        if no_answer and strip_citations(citations.text).lower().strip(" .!\"'").startswith(no_answer.lower()):
            return _abstain(base, "the reader found no answer in the sources")
        support = check_support(citations.text, question=question, cited=citations.cited, given=sources,
                                min_sentence_support=self.settings.min_sentence_support)
        if not citations.cited and support.best is not None and support.score > 0:
            # Small models often leave out the marker: cite the source the answer stands on.
            citations = resolve_citations(f"{citations.text} [{support.best.n}]", sources)
            support = check_support(citations.text, question=question, cited=citations.cited, given=sources,
                                    min_sentence_support=self.settings.min_sentence_support)
        base.support = support
        base.evidence = replace(base.evidence, **self._draft_evidence(support, completion, no_answer))
        if self.settings.self_check and completion is not None and completion.logprobs is not None:
            base.evidence = self._reader_checks(base, request, draft, tenant, cancel)
        base.confidence = self.abstention.confidence(base.evidence)
        if self.settings.support_check:
            base.confidence = min(base.confidence, support.weakest)
            if not support.supported:
                terms = ", ".join(support.unsupported_terms[:5])
                return self._withdraw(base, "the draft is not supported by the sources it cites"
                                      + (f" (not in them: {terms})" if terms else ""))
        if base.confidence < self.abstention.threshold:
            return self._withdraw(base, "the evidence for this answer is too weak")
        base.abstained, base.text, base.cited = False, citations.text, citations.cited
        return base

    def _reader_checks(
        self, base: Answer, request: ChatRequest, draft: str, tenant: str | None, cancel: CancelToken | None
    ) -> Evidence:
        """The reader's yes/no checks that the abstention model weighs (all of them when measuring)."""
        evidence = base.evidence
        wanted = self.settings.measure_all_evidence
        if wanted or self.abstention.uses("text_answers"):
            started = time.perf_counter()
            answers = text_answers(self.llm, request, tenant=tenant, cancel=cancel)
            base.timings_ms["text_answers"] = _ms_since(started)
            if answers is not None:
                evidence = replace(evidence, text_answers=tempered(answers))
        if wanted or self.abstention.uses("self_check"):
            started = time.perf_counter()
            checked = self_check(self.llm, request, draft, tenant=tenant, cancel=cancel)
            base.timings_ms["self_check"] = _ms_since(started)
            if checked is not None:
                evidence = replace(evidence, self_check=tempered(checked))
        return evidence

    def _draft_evidence(self, support: Support, completion: Completion | None, no_answer: str | None) -> dict[str, float]:
        checked = self.settings.support_check
        found: dict[str, float] = {
            "support": support.score if checked else 1.0, "verbatim": float(support.verbatim) if checked else 1.0,
            "focus": support.focus if checked else 1.0,
        }
        logprobs = completion.logprobs if completion is not None else None
        if logprobs is not None and logprobs.chosen:
            found["reader_prob"] = tempered(math.exp(sum(logprobs.chosen) / len(logprobs.chosen)))
        if logprobs is not None and no_answer and logprobs.suppressed_p is not None:
            found["reader_sure"] = tempered(1.0 - logprobs.suppressed_p)
        return found

    def _withdraw(self, answer: Answer, reason: str) -> Answer:
        if self.settings.unsupported == "quote" and answer.support is not None and answer.support.best is not None:
            answer.quote = answer.support.best
        return _abstain(answer, reason)


def tempered(p: float, *, temperature: float = 4.0) -> float:
    """A model's probability with its log-odds divided by `temperature`: 0.999 and 0.99999 stay apart
    (0.85 and 0.95), so a linear fit over them sees the difference. Monotone, 0.5 stays 0.5."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return 1.0 / (1.0 + ((1.0 - p) / p) ** (1.0 / temperature))


def _best_sources(sentence: SentenceSupport, sources: Sequence[Source]) -> list[int]:
    """The sources that hold the most of a supported sentence's terms (what a JSON value cites)."""
    terms = analyze(sentence.text)
    held = {s.n: sum(t in set(analyze(s.text)) for t in terms) for s in sources if s.n in sentence.sources}
    top = max(held.values(), default=0)
    return [n for n, count in held.items() if count == top and top > 0]


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _abstain(answer: Answer, reason: str) -> Answer:
    answer.abstained, answer.reason = True, reason
    answer.text = f"{ABSTAIN_TEXT}: {reason} (confidence {answer.confidence:.2f})."
    if answer.quote is not None:
        answer.text += f' The closest passage, quoted, not an answer: "{answer.quote.text.strip()}" [{answer.quote.n}]'
    return answer
