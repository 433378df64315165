"""Citations: [n] markers mapped to the sources given; made-up numbers removed and reported."""

from __future__ import annotations

import pytest

from dayshift.answer.citations import resolve_citations
from dayshift.answer.sources import Source
from dayshift.types import Chunk


def source(n: int) -> Source:
    text = f"Source number {n}."
    chunk = Chunk(
        chunk_id=f"doc{n}.md:0", doc_id=f"doc{n}.md", doc_version="v1", source=f"doc{n}.md", title="", text=text,
        section=(), page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=1.0,
    )  # fmt: skip
    return Source(n=n, chunk=chunk, score=1.0 / n)


FIVE = [source(n) for n in range(1, 6)]


def numbers(sources: tuple[Source, ...]) -> list[int]:
    return [s.n for s in sources]


def test_docstring_example() -> None:
    got = resolve_citations("Paris [1][3], not Lyon [7].", FIVE)
    assert (got.text, numbers(got.cited), got.invalid) == ("Paris [1][3], not Lyon.", [1, 3], (7,))


def test_cited_sources_are_the_given_objects() -> None:
    got = resolve_citations("Yes [2].", FIVE)
    assert got.cited == (FIVE[1],) and got.cited[0] is FIVE[1]


@pytest.mark.parametrize(
    ("answer", "text", "cited"),
    [
        ("A [1].", "A [1].", [1]),
        ("A [1][2].", "A [1][2].", [1, 2]),
        ("A [1, 2].", "A [1][2].", [1, 2]),  # normalised to one marker per number
        ("A [1,2 , 4].", "A [1][2][4].", [1, 2, 4]),
        ("A [2-4].", "A [2][3][4].", [2, 3, 4]),
        ("A [1, 3-4].", "A [1][3][4].", [1, 3, 4]),
    ],
)
def test_accepted_forms(answer: str, text: str, cited: list[int]) -> None:
    got = resolve_citations(answer, FIVE)
    assert (got.text, numbers(got.cited), got.invalid) == (text, cited, ())


def test_first_cited_order_and_no_duplicates() -> None:
    got = resolve_citations("B [3]. A [1][3]. C [3, 1].", FIVE)
    assert numbers(got.cited) == [3, 1]
    assert got.text == "B [3]. A [1][3]. C [3][1]."


def test_invalid_numbers_are_removed_with_their_space_and_reported_once() -> None:
    got = resolve_citations("Paris [9]. Rome [0][9] and Oslo [2, 9].", FIVE)
    assert got.text == "Paris. Rome and Oslo [2]."
    assert numbers(got.cited) == [2]
    assert got.invalid == (9, 0)


def test_a_range_past_the_sources_keeps_the_valid_part() -> None:
    got = resolve_citations("A [4-7].", FIVE)
    assert (got.text, numbers(got.cited), got.invalid) == ("A [4][5].", [4, 5], (6, 7))


def test_a_huge_range_is_capped_at_fifty_one_numbers() -> None:
    got = resolve_citations("A [1-100000].", FIVE)
    assert numbers(got.cited) == [1, 2, 3, 4, 5]
    assert got.invalid == tuple(range(6, 52))


def test_only_invalid_markers_leave_plain_text() -> None:
    got = resolve_citations("[8] The sky is blue [9]", FIVE)
    assert (got.text, got.cited, got.invalid) == ("The sky is blue", (), (8, 9))


def test_no_markers_and_non_numeric_brackets_are_left_alone() -> None:
    got = resolve_citations("  See [a] and [1x] and (1).  ", FIVE)
    assert (got.text, got.cited, got.invalid) == ("See [a] and [1x] and (1).", (), ())


def test_no_sources_makes_every_marker_invalid() -> None:
    got = resolve_citations("It is so [1].", [])
    assert (got.text, got.cited, got.invalid) == ("It is so.", (), (1,))


def test_sources_are_matched_by_their_number_not_their_position() -> None:
    renumbered = [FIVE[0], Source(n=7, chunk=FIVE[1].chunk, score=0.5)]
    got = resolve_citations("X [2] Y [7].", renumbered)
    assert (got.text, numbers(got.cited), got.invalid) == ("X Y [7].", [7], (2,))


@pytest.mark.parametrize("answer", ["The dance is:\n[1] Bees", "A\n\n[2] B", "A\t[1]", "A  [1]."])
def test_whitespace_other_than_one_space_before_a_citation_is_kept(answer: str) -> None:
    got = resolve_citations(answer, FIVE)
    assert (got.text, got.invalid) == (answer, ())


def test_a_line_break_before_an_invalid_citation_still_separates_the_lines() -> None:
    got = resolve_citations("The dance is:\n[9] Bees", FIVE)
    assert [line.strip() for line in got.text.split("\n")] == ["The dance is:", "Bees"]
    assert got.invalid == (9,)
