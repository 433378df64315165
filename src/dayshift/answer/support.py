"""The answer-support check: is every sentence of the answer in the text it cites?

    per sentence of the answer (its own [n] markers, else the answer's):
      novel terms = its terms (stemmed, stop words out) that the question does not already hold
      score       = share of the novel terms found in the best of its sources
      verbatim    = the sentence appears word for word in one of them
      supported   = verbatim, or score >= min_sentence_support
    the answer:  supported when every sentence is; `weakest` = the lowest sentence score
                 (1.0 for a verbatim one), which bounds the answer's confidence;
                 `score`, `focus`, `verbatim` as measured on the whole answer (abstention features)

An answer that only restates the question has no novel terms and gets score 0.
Numbers count like words, so "1066" against a source saying "1067" is
unsupported. `focus` (the question's subject terms in the source the answer
stands on) catches an answer lifted from a source about something else.
Left out: entailment models (none ships offline); this check catches made-up
names, numbers and facts, not subtle misreadings or a negation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.analysis import analyze
from dayshift.answer.citations import cited_numbers, strip_citations
from dayshift.answer.sources import Source
from dayshift.ingest.chunk import sentence_spans

_SPACE = re.compile(r"\s+")
# Words that frame a question without naming its subject.
QUESTION_WORDS = frozenset(analyze("how why whose did does do many much name named called kind type year answer"))
# A sentence with at least this share of its new terms in its sources is supported (ADR 0008).
MIN_SENTENCE_SUPPORT = 0.75


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    text: str  # the sentence, its [n] markers removed
    sources: tuple[int, ...]  # the source numbers it was checked against
    score: float  # share of its novel terms found in the best of them
    verbatim: bool
    supported: bool
    unsupported_terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Support:
    score: float  # share of the answer's novel terms found in the best source
    focus: float  # share of the question's subject terms found in that source
    verbatim: bool  # the whole answer (citations removed) appears word for word in a checked source
    best: Source | None  # the source the answer stands on
    unsupported_terms: tuple[str, ...]  # novel terms no checked source holds
    checked_against: str  # "cited" or "all given" (no citation)
    sentences: tuple[SentenceSupport, ...] = ()
    supported: bool = False  # every sentence is supported by the text it cites

    @property
    def weakest(self) -> float:
        """The lowest sentence score (a verbatim sentence counts 1): an answer is as strong as its weakest claim."""
        return min((1.0 if s.verbatim else s.score for s in self.sentences), default=0.0)


def subject_terms(question: str) -> set[str]:
    return {t for t in analyze(question) if t not in QUESTION_WORDS}


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def _appears_in(text: str, sources: Sequence[Source]) -> bool:
    needle = _normalise(text)
    return bool(needle) and any(f" {needle} " in f" {_normalise(s.text)} " for s in sources)


def check_support(
    answer: str, *, question: str, cited: Sequence[Source], given: Sequence[Source],
    min_sentence_support: float = MIN_SENTENCE_SUPPORT,
) -> Support:
    against = list(cited or given)
    plain = strip_citations(answer)
    asked = set(analyze(question))
    subject = subject_terms(question)
    novel = [t for t in analyze(plain) if t not in asked and t not in QUESTION_WORDS]
    best: tuple[float, float, Source | None] = (0.0, 0.0, None)
    held: set[str] = set()
    for source in against:
        terms = set(analyze(source.text))
        held |= terms
        share = sum(t in terms for t in novel) / len(novel) if novel else 0.0
        focus = len(subject & terms) / len(subject) if subject else 0.0
        if best[2] is None or (share, focus) > best[:2]:
            best = (share, focus, source)
    sentences = _sentences(answer, asked=asked, against=against, given=given, minimum=min_sentence_support)
    return Support(
        score=best[0], focus=best[1], verbatim=bool(novel) and _appears_in(plain, against), best=best[2],
        unsupported_terms=tuple(dict.fromkeys(t for t in novel if t not in held)),
        checked_against="cited" if cited else "all given", sentences=sentences,
        supported=bool(sentences) and all(s.supported for s in sentences),
    )


def _sentences(
    answer: str, *, asked: set[str], against: list[Source], given: Sequence[Source], minimum: float
) -> tuple[SentenceSupport, ...]:
    by_n = {s.n: s for s in given}
    pieces: list[str] = []
    for start, end in sentence_spans(answer.strip()):
        piece = answer.strip()[start:end]
        if pieces and not strip_citations(piece):  # a marker after the full stop belongs to the sentence before
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    checked = []
    for piece in pieces:
        own = [by_n[n] for n in dict.fromkeys(cited_numbers(piece)) if n in by_n]
        sources = own or against
        text = strip_citations(piece)
        if not text:
            continue
        novel = [t for t in analyze(text) if t not in asked and t not in QUESTION_WORDS]
        held = [set(analyze(s.text)) for s in sources]
        score = max((sum(t in terms for t in novel) / len(novel) for terms in held), default=0.0) if novel else 0.0
        verbatim = bool(novel) and _appears_in(text, sources)
        checked.append(SentenceSupport(
            text=text, sources=tuple(s.n for s in sources), score=score, verbatim=verbatim,
            supported=verbatim or (bool(novel) and score >= minimum),
            unsupported_terms=tuple(dict.fromkeys(t for t in novel if not any(t in terms for terms in held))),
        ))
    return tuple(checked)

