"""analyze(): lower-case word tokens, English stop words dropped, letter/digit parts added, Snowball (Porter2) stems, in order."""

from __future__ import annotations

import pytest

from dayshift.analysis import STOP_WORDS, analyze


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("running", "run"),
        ("runs", "run"),
        ("cats", "cat"),
        ("connected", "connect"),
        ("connecting", "connect"),
        ("connection", "connect"),
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("generously", "generous"),
    ],
)
def test_porter2_stems(word: str, stem: str) -> None:
    assert analyze(word) == [stem]


def test_stop_words_are_removed() -> None:
    assert analyze("The cat is on the mat and it was there") == ["cat", "mat"]
    assert analyze("the of and to a an") == []
    assert {"the", "and", "of", "with", "which"} <= STOP_WORDS


def test_negations_are_kept() -> None:
    # short on purpose: "no" and "not" matter to scientific claims
    assert analyze("no effect, not significant") == ["no", "effect", "not", "signific"]


def test_case_is_folded() -> None:
    assert analyze("RUNNING Running running") == ["run", "run", "run"]
    assert analyze("THE Cat") == ["cat"]  # stop words match after folding


def test_unicode_words_are_kept() -> None:
    assert analyze("Café Müller 東京 Ελλάδα") == ["café", "müller", "東京", "ελλάδα"]


def test_numbers_are_kept() -> None:
    assert analyze("In 2024 the SP 800-61 guide had 3.14 pages") == [
        "2024", "sp", "800", "61", "guid", "3", "14", "page",
    ]  # fmt: skip
    assert analyze("v2 x86") == ["v2", "v", "2", "x86", "x", "86"]  # and their parts (next test)


def test_words_mixing_letters_and_digits_also_give_their_parts() -> None:
    # Written both ways in the same literature: "IL-6" and "IL6", "COVID-19" and "covid19".
    assert analyze("IL6") == ["il6", "il", "6"]
    assert analyze("IL-6") == ["il", "6"]
    assert set(analyze("IL-6")) < set(analyze("IL6"))  # each spelling finds the other
    assert analyze("COVID-19 covid19") == ["covid", "19", "covid19", "covid", "19"]
    assert analyze("5-HT2A receptors") == ["5", "ht2a", "ht", "2", "receptor"]  # the part "a" is a stop word
    assert analyze("10mg α1β2") == ["10mg", "10", "mg", "α1β2", "α", "1", "β", "2"]


def test_words_of_only_letters_or_only_digits_are_not_split() -> None:
    assert analyze("2024 東京 running") == ["2024", "東京", "run"]


def test_punctuation_and_underscores_split_words() -> None:
    assert analyze("snake_case, kebab-case; dot.case!") == ["snake", "case", "kebab", "case", "dot", "case"]
    assert analyze("...!!! ---") == []
    assert analyze("") == []


def test_term_frequency_and_order_are_preserved() -> None:
    assert analyze("cat dog cat bird cat dog") == ["cat", "dog", "cat", "bird", "cat", "dog"]
    assert analyze("Runner runs; running ran") == ["runner", "run", "run", "ran"]


def test_documents_and_queries_analyse_alike() -> None:
    document = "Incident handling: detecting and analysing security incidents."
    query = "detect security incident"
    assert set(analyze(query)) <= set(analyze(document))
    assert analyze(document) == ["incid", "handl", "detect", "analys", "secur", "incid"]
