"""parse_filter / parse_filters: every operator, typed values, quoting, and the errors users see."""

from __future__ import annotations

import pytest

from dayshift.errors import QueryError
from dayshift.retrieve.filters import parse_filter, parse_filters
from dayshift.types import Condition


@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
def test_every_operator(op: str) -> None:
    assert parse_filter(f"page{op}3") == Condition("page", op, 3)  # type: ignore[arg-type]
    assert parse_filter(f"  page {op}  3 ") == Condition("page", op, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("page=3", 3),
        ("page=-2", -2),
        ("score>=0.75", 0.75),
        ("score<-2.5", -2.5),
        ("size<1e3", 1000.0),
        ("year=2024", 2024),
    ],
)
def test_numbers_become_numbers(expr: str, value: float) -> None:
    got = parse_filter(expr).value
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("expr", "value"), [("draft=true", True), ("draft=FALSE", False), ("draft!=True", True), ("x=false", False)]
)
def test_booleans_become_booleans(expr: str, value: bool) -> None:
    assert parse_filter(expr).value is value


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("zip='02134'", "02134"),
        ('zip="02134"', "02134"),
        ("draft='true'", "true"),
        ('ratio="3.5"', "3.5"),
        ("title='a = b'", "a = b"),
        ("note=''", ""),
    ],
)
def test_quoted_values_stay_strings(expr: str, value: str) -> None:
    assert parse_filter(expr).value == value
    assert isinstance(parse_filter(expr).value, str)


def test_plain_words_paths_and_globs_are_strings() -> None:
    assert parse_filter("source=nist") == Condition("source", "=", "nist")
    assert parse_filter("source=docs/nist*.pdf") == Condition("source", "=", "docs/nist*.pdf")
    assert parse_filter("section=Chapter 3") == Condition("section", "=", "Chapter 3")
    assert parse_filter("zip=02134") == Condition("zip", "=", 2134)  # unquoted: a number, hence quoting
    assert parse_filter("meta.author-name_2!=Ann") == Condition("meta.author-name_2", "!=", "Ann")


def test_first_operator_splits_field_from_value() -> None:
    assert parse_filter("expr=a>=b") == Condition("expr", "=", "a>=b")
    assert parse_filter("x!=y=z") == Condition("x", "!=", "y=z")


def test_parse_filters_keeps_order() -> None:
    assert parse_filters(["source=nist", "page>=3", "draft=false"]) == [
        Condition("source", "=", "nist"),
        Condition("page", ">=", 3),
        Condition("draft", "=", False),
    ]
    assert parse_filters([]) == []


@pytest.mark.parametrize("expr", ["", "   ", "page", "page>=", "page=  ", "=3", ">=3", "pa ge=3", "page 3", "page~3"])
def test_bad_expressions_name_the_expression_and_a_fix(expr: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_filter(expr)
    message = str(info.value)
    assert f'"{expr}"' in message
    assert "field=value" in message and "for example source=nist or page>=3" in message


def test_parse_filters_raises_for_the_bad_one() -> None:
    with pytest.raises(QueryError, match='"page>"'):
        parse_filters(["source=nist", "page>"])


@pytest.mark.parametrize(("expr", "value"), [("author=Nan", "Nan"), ("code=inf", "inf"), ("word=Infinity", "Infinity")])
def test_words_that_python_reads_as_floats_stay_strings(expr: str, value: str) -> None:
    assert parse_filter(expr).value == value


@pytest.mark.parametrize("expr", ["page==3", "page=>3", "page=<3"])
def test_mistyped_operators_are_rejected(expr: str) -> None:
    with pytest.raises(QueryError):
        parse_filter(expr)
