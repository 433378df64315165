"""The answer-support check: the answer's novel terms (those the question does not already hold)
found in the source it stands on, the question's subject terms in that source (focus), and verbatim
copies. Scores are recomputed by hand from dayshift.analysis.analyze (lower-case, stop words out, stems).
"""

from __future__ import annotations

import pytest

from dayshift.analysis import analyze
from dayshift.answer.sources import Source
from dayshift.answer.support import QUESTION_WORDS, check_support, subject_terms
from dayshift.types import Chunk


def source(n: int, text: str, *, title: str = "", excerpt: str | None = None) -> Source:
    chunk = Chunk(
        chunk_id=f"doc{n}.md:0", doc_id=f"doc{n}.md", doc_version="v1", source=f"doc{n}.md", title=title, text=text,
        section=(), page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=1.0,
    )  # fmt: skip
    return Source(n=n, chunk=chunk, score=1.0, excerpt=excerpt)


VOLCANO = source(1, "Hekla erupted in the year 1104 and buried farms in the Thjorsardalur valley.")
BREAD = source(2, "Bake the sourdough loaf at 250 degrees Celsius for twenty minutes.")
WHEN = "When did Hekla erupt?"  # subject terms: hekla, erupt


def test_subject_terms_drop_the_words_that_frame_a_question() -> None:
    assert subject_terms("How many years ago did Hekla erupt?") == {"ago", "hekla", "erupt"}
    assert subject_terms("What is the name of the answer?") == set()
    assert {"how", "year", "answer", "name"} <= QUESTION_WORDS


def test_an_answer_copied_from_the_cited_source_is_fully_supported_and_verbatim() -> None:
    got = check_support("Hekla erupted in the year 1104 [1].", question=WHEN, cited=[VOLCANO], given=[VOLCANO, BREAD])
    # novel terms: only "1104" (hekla, erupt are in the question; "year" frames questions)
    assert (got.score, got.focus, got.verbatim, got.best) == (1.0, 1.0, True, VOLCANO)
    assert (got.unsupported_terms, got.checked_against) == ((), "cited")


def test_verbatim_ignores_case_punctuation_and_spacing() -> None:
    got = check_support("HEKLA   erupted, in the year 1104!", question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert got.verbatim and got.score == 1.0


def test_a_paraphrase_is_supported_but_not_verbatim() -> None:
    got = check_support("In 1104 it buried farms [1].", question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert (got.score, got.verbatim) == (1.0, False)


def test_a_wrong_number_is_unsupported() -> None:
    got = check_support("Hekla erupted in 1066 [1].", question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert (got.score, got.unsupported_terms, got.verbatim) == (0.0, ("1066",), False)


def test_score_is_the_share_of_novel_terms_counting_repeats() -> None:
    # novel: 1104, zebra, 1104, zebra, valley -> 3 of 5 in the source; zebra listed once
    got = check_support("1104 zebra, 1104 zebras, valley.", question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert got.score == pytest.approx(3 / 5)
    assert got.unsupported_terms == ("zebra",)


def test_an_answer_that_only_restates_the_question_has_no_support() -> None:
    for answer in ["Hekla erupted [1].", "The answer is: Hekla erupted.", "Did Hekla erupt?"]:
        got = check_support(answer, question=WHEN, cited=[VOLCANO], given=[VOLCANO])
        assert (got.score, got.verbatim, got.unsupported_terms) == (0.0, False, ()), answer


def test_made_up_answer_scores_zero_and_lists_its_terms() -> None:
    got = check_support("Vikings invented gunpowder [1].", question=WHEN, cited=[VOLCANO], given=[VOLCANO, BREAD])
    assert got.score == 0.0 and not got.verbatim
    assert got.unsupported_terms == tuple(analyze("Vikings invented gunpowder"))


def test_only_cited_sources_count_when_there_are_citations() -> None:
    question = "How hot is the oven?"
    got = check_support("250 degrees Celsius [1].", question=question, cited=[VOLCANO], given=[VOLCANO, BREAD])
    assert (got.score, got.best, got.checked_against) == (0.0, VOLCANO, "cited")
    assert got.unsupported_terms == ("250", "degre", "celsius")
    bread = check_support("250 degrees Celsius [2].", question=question, cited=[BREAD], given=[VOLCANO, BREAD])
    assert (bread.score, bread.best) == (1.0, BREAD)


def test_no_citation_checks_against_everything_given_and_finds_the_best_source() -> None:
    got = check_support("At 250 degrees Celsius.", question="How hot is the oven?", cited=[], given=[VOLCANO, BREAD])
    assert (got.score, got.best, got.checked_against, got.verbatim) == (1.0, BREAD, "all given", True)


def test_support_is_that_of_the_best_single_source_not_of_all_pooled() -> None:
    # novel: 1104, 250, degre -> volcano holds 1 of 3, bread 2 of 3; together they hold all
    got = check_support("1104 and 250 degrees.", question=WHEN, cited=[VOLCANO, BREAD], given=[VOLCANO, BREAD])
    assert got.score == pytest.approx(2 / 3) and got.best is BREAD
    assert got.unsupported_terms == ()  # each term is in some checked source
    assert got.focus == 0.0  # the bread source says nothing of Hekla


def test_focus_flags_a_true_fact_from_a_source_about_something_else() -> None:
    got = check_support("Twenty minutes [2].", question=WHEN, cited=[BREAD], given=[VOLCANO, BREAD])
    assert (got.score, got.focus, got.best) == (1.0, 0.0, BREAD)


def test_ties_on_support_go_to_the_source_about_the_question() -> None:
    number = source(3, "The number 1104 is even.")
    got = check_support("1104", question=WHEN, cited=[], given=[number, VOLCANO])
    assert (got.score, got.focus, got.best) == (1.0, 1.0, VOLCANO)
    half = check_support("1104", question="When did Hekla erupt on its number?", cited=[], given=[number, VOLCANO])
    assert half.best is VOLCANO and half.focus == pytest.approx(2 / 3)  # hekla, erupt of hekla, erupt, number


def test_citation_markers_are_not_terms() -> None:
    # "[12]" must not become the term "12".
    answer = "Hekla erupted in the year 1104 [12] [1, 2] [3-4]."
    got = check_support(answer, question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert (got.score, got.verbatim, got.unsupported_terms) == (1.0, True, ())


def test_the_excerpt_is_what_is_checked_not_the_whole_chunk() -> None:
    excerpt = source(3, "Hekla is tall. It erupted in 1104.", title="Volcanoes", excerpt="Hekla is tall.")
    assert check_support("In 1104.", question=WHEN, cited=[excerpt], given=[excerpt]).score == 0.0
    assert check_support("It is tall.", question=WHEN, cited=[excerpt], given=[excerpt]).score == 1.0


@pytest.mark.parametrize("answer", ["", "   ", "[1]", "It is what it was [1]."])
def test_an_answer_without_terms_scores_zero(answer: str) -> None:
    got = check_support(answer, question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert (got.score, got.verbatim, got.unsupported_terms) == (0.0, False, ())


def test_nothing_to_check_against() -> None:
    got = check_support("1104", question=WHEN, cited=[], given=[])
    assert (got.score, got.focus, got.best, got.unsupported_terms) == (0.0, 0.0, None, ("1104",))


@pytest.mark.parametrize(
    ("answer", "verbatim"),
    [
        ("110", False),  # inside "1104"
        ("104", False),
        ("1104", True),
        ("the year 110", False),
        ("ear 1104", False),  # the end of "year"
        ("year 1104 and buried farms", True),
        ("Thjorsardalur valley.", True),  # the last words of the source
        ("Hekla erupted in the year 1104", True),  # the first words
    ],
)
def test_verbatim_needs_whole_words(answer: str, verbatim: bool) -> None:
    got = check_support(answer, question=WHEN, cited=[VOLCANO], given=[VOLCANO])
    assert got.verbatim is verbatim
