"""The answer-support check: is the answer backed by the text it cites?

    answer terms (stemmed, stop words out)  vs  terms of the cited sources
    support = share of the answer's terms found there          in [0, 1]

Numbers count like words, so "1066" against a source saying "1067" is
unsupported. An answer with no citation is checked against every source it
was given, and flagged. Left out: entailment models (none ships offline);
this check catches made-up names, numbers and facts, not subtle misreadings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.analysis import analyze
from dayshift.answer.sources import Source

_CITATION = re.compile(r"\[\d+(?:\s*[-,]\s*\d+)*\]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Support:
    score: float  # share of answer terms found in the checked sources
    verbatim: bool  # the whole answer (citations removed) appears word for word in a source
    unsupported_terms: tuple[str, ...]
    checked_against: str  # "cited" or "all given" (no citation)


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def check_support(answer: str, *, cited: Sequence[Source], given: Sequence[Source]) -> Support:
    against = cited or given
    plain = _CITATION.sub(" ", answer)
    terms = analyze(plain)
    source_terms: set[str] = set()
    for source in against:
        source_terms.update(analyze(source.text))
    missing = tuple(dict.fromkeys(t for t in terms if t not in source_terms))
    score = 1.0 - len([t for t in terms if t in missing]) / len(terms) if terms else 0.0
    needle = _normalise(plain)
    verbatim = bool(needle) and any(needle in _normalise(s.text) for s in against)
    return Support(score=score, verbatim=verbatim, unsupported_terms=missing,
                   checked_against="cited" if cited else "all given")
