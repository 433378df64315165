"""A final answer's sources: the ids it names, checked against what the run produced, or inferred.

    resolve(Final("3503 tracks [Q1]", ("Q1",)), evidence)  -> Cited(evidence=[Q1], invalid=[], inferred=False)

An id the run never produced is dropped and reported, so an answer never points at something it
was not shown (the local reader cannot name one: its grammar offers only real ids). An answer that
names none is given the results it evidently rests on -- each number of the answer found in a
result, or, for passages, most of the answer's words -- and marked `inferred`. An answer that says
it cannot be answered cites nothing.

Left out: checking that each cited result supports each sentence (answer/support.py does that for
single answers; agents' answers mix rows and passages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.agents.tools.base import Evidence
from dayshift.analysis import analyze

_CANNOT = re.compile(
    r"^\W*(cannot|can't|can not|could not|couldn't) be answered|^\W*(i\s+)?(cannot|can't|could not|couldn't) "
    r"(answer|find|determine)|^\W*(the )?(data|results|tools|sources|documents|database)\s+(do|does) not "
    r"(contain|include|say|show|answer)|^\W*unanswerable|^\W*no (data|information|answer)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True, slots=True)
class Cited:
    evidence: tuple[Evidence, ...]
    invalid: tuple[str, ...]  # ids named that the run never produced
    inferred: bool  # the answer named none; these were matched to it


def cannot_answer(answer: str) -> bool:
    """Whether a final answer says the task cannot be answered from the data."""
    return bool(_CANNOT.search(answer.strip()))


def resolve(answer: str, ids: Sequence[str], evidence: Sequence[Evidence]) -> Cited:
    by_id = {e.id.upper(): e for e in evidence}
    named = list(dict.fromkeys(i.strip().upper() for i in ids if i.strip()))
    found = tuple(by_id[i] for i in named if i in by_id)
    invalid = tuple(i for i in named if i not in by_id)
    if found or cannot_answer(answer) or not evidence:
        return Cited(found, invalid, inferred=False)
    return Cited(tuple(infer(answer, evidence)), invalid, inferred=True)


def infer(answer: str, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The results an uncited answer rests on: those holding one of its numbers, or most of its words."""
    numbers = {normalise_number(n) for n in _NUMBER.findall(answer)}
    words = set(analyze(answer))
    picked = []
    for e in evidence:
        held = {normalise_number(n) for n in _NUMBER.findall(e.text)}
        if numbers & held or (e.kind == "docs" and words and len(words & set(analyze(e.text))) >= 0.6 * len(words)):
            picked.append(e)
    return picked


def normalise_number(text: str) -> str:
    """"3,503" and "3503" are one number; "2328.60" and "2328.6" too."""
    text = text.replace(",", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
