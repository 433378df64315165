"""The answer-support check: is the answer backed by the text it cites?

    novel terms = answer terms (stemmed, stop words out) that the question does not already hold
    per source:  support = share of the novel terms found in it
                 focus   = share of the question's subject terms found in it
    the best source (highest support, then focus) is the one the answer stands on

An answer that only restates the question ("The answer to this question is:")
has no novel terms and gets support 0. Numbers count like words, so "1066"
against a source saying "1067" is unsupported. `focus` catches an answer
lifted from a source about something else (a true fact, the wrong one).
Left out: entailment models (none ships offline); this check catches made-up
names, numbers and facts, not subtle misreadings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.analysis import analyze
from dayshift.answer.citations import strip_citations
from dayshift.answer.sources import Source

_SPACE = re.compile(r"\s+")
# Words that frame a question without naming its subject.
QUESTION_WORDS = frozenset(analyze("how why whose did does do many much name named called kind type year answer"))


@dataclass(frozen=True, slots=True)
class Support:
    score: float  # share of the answer's novel terms found in the best source
    focus: float  # share of the question's subject terms found in that source
    verbatim: bool  # the whole answer (citations removed) appears word for word in a checked source
    best: Source | None  # the source the answer stands on
    unsupported_terms: tuple[str, ...]  # novel terms no checked source holds
    checked_against: str  # "cited" or "all given" (no citation)


def subject_terms(question: str) -> set[str]:
    return {t for t in analyze(question) if t not in QUESTION_WORDS}


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def check_support(answer: str, *, question: str, cited: Sequence[Source], given: Sequence[Source]) -> Support:
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
        support = sum(t in terms for t in novel) / len(novel) if novel else 0.0
        focus = len(subject & terms) / len(subject) if subject else 0.0
        if best[2] is None or (support, focus) > best[:2]:
            best = (support, focus, source)
    needle = _normalise(plain)
    verbatim = bool(novel) and bool(needle) and any(f" {needle} " in f" {_normalise(s.text)} " for s in against)
    return Support(
        score=best[0], focus=best[1], verbatim=verbatim, best=best[2],
        unsupported_terms=tuple(dict.fromkeys(t for t in novel if t not in held)),
        checked_against="cited" if cited else "all given",
    )
