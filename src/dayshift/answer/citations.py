"""Citations: find the [n] markers in an answer and map them to the sources given.

    "Paris [1][3], not Lyon [7]."  with sources 1..5
      -> cited [1, 3]; invalid [7] (removed from the text shown)

Accepted forms: [1], [1][2], [1, 2], [1-3]. A number that was not given to
the model is not a citation: it is removed and reported, so an answer never
points at a source it was not shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.answer.sources import Source

_MARKER = re.compile(r" ?\[(\d+(?:\s*[-,]\s*\d+)*)\]")


@dataclass(frozen=True, slots=True)
class Citations:
    text: str  # the answer with invalid markers removed
    cited: tuple[Source, ...]  # in first-cited order
    invalid: tuple[int, ...]  # numbers the model made up


def cited_numbers(text: str) -> list[int]:
    """Every source number its [n] markers name, in order."""
    return [n for match in _MARKER.finditer(text) for n in marker_numbers(match.group(1))]


def strip_citations(text: str) -> str:
    """The text without its [n] markers."""
    return _MARKER.sub("", text).strip()


def marker_numbers(spec: str) -> list[int]:
    """The source numbers of one marker's inside: "1, 3-5" -> [1, 3, 4, 5]."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        if hi:
            start, end = int(lo), int(hi)
            out.extend(range(start, min(end, start + 50) + 1))
        else:
            out.append(int(lo))
    return out


def resolve_citations(answer: str, sources: Sequence[Source]) -> Citations:
    by_n = {s.n: s for s in sources}
    cited: dict[int, Source] = {}
    invalid: list[int] = []

    def keep_valid(match: re.Match[str]) -> str:
        numbers = marker_numbers(match.group(1))
        good = [n for n in numbers if n in by_n]
        invalid.extend(n for n in numbers if n not in by_n)
        for n in good:
            cited.setdefault(n, by_n[n])
        if not good:
            return ""
        return (" " if match.group(0).startswith(" ") else "") + "".join(f"[{n}]" for n in good)

    text = _MARKER.sub(keep_valid, answer).strip()
    return Citations(text=text, cited=tuple(cited.values()), invalid=tuple(dict.fromkeys(invalid)))
