"""store_text policies, with a scripted analyzer standing in for Presidio (the real one is tested in
tests/unit/llm/test_pii.py and, end to end, by the flusher's PII test)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pytest
from trace_factory import make_record

from dayshift.llm.pii import PresidioRedactor
from dayshift.trace.redact import REDACTION_FAILED, TextRedactor, prepare_comment, prepare_for_storage


@dataclass
class Found:
    start: int
    end: int
    entity_type: str
    score: float = 0.9


class NamesAnalyzer:
    """Finds the capitalised two-word names it is given; raises when `broken`."""

    def __init__(self, names: list[str], *, broken: bool = False) -> None:
        self.names, self.broken = names, broken

    def analyze(self, text: str, language: str, entities: list[str], score_threshold: float) -> list[Any]:
        if self.broken:
            raise RuntimeError(f"model crashed on {text!r}")
        return [Found(m.start(), m.end(), "PERSON") for name in self.names for m in re.finditer(re.escape(name), text)]


def redactor_for(*names: str, broken: bool = False) -> TextRedactor:
    return TextRedactor(PresidioRedactor(analyzer=NamesAnalyzer(list(names), broken=broken)))


def test_one_value_gets_one_placeholder_across_the_texts() -> None:
    redactor = redactor_for("Ada Lovelace", "Alan Turing")
    out = redactor.redact(["Ada Lovelace met Alan Turing", None, "", "Ask Alan Turing"])
    assert out == ["<PERSON_1> met <PERSON_2>", None, "", "Ask <PERSON_2>"]


def test_redacted_keeps_everything_but_the_pii() -> None:
    record = make_record(1, query="Is Ada Lovelace on call?", answer="Ada Lovelace is on call [1].")
    stored = prepare_for_storage(record, store_text="redacted", redactor=redactor_for("Ada Lovelace"))
    assert (stored.query, stored.answer) == ("Is <PERSON_1> on call?", "<PERSON_1> is on call [1].")
    assert stored == make_record(1, query=stored.query, answer=stored.answer)
    assert record.query == "Is Ada Lovelace on call?"  # the input is not changed


def test_a_failing_redactor_withholds_the_text(caplog: pytest.LogCaptureFixture) -> None:
    record = make_record(1, query="Is Ada Lovelace on call?", answer=None)
    with caplog.at_level(logging.WARNING):
        stored = prepare_for_storage(record, store_text="redacted", redactor=redactor_for("x", broken=True))
    assert (stored.query, stored.answer) == (None, None)
    assert stored.errors == [*record.errors, REDACTION_FAILED]
    assert "stored without its text" in caplog.text and "Lovelace" not in caplog.text


def test_none_and_raw() -> None:
    record = make_record(1)
    assert prepare_for_storage(record, store_text="raw", redactor=None) is record
    withheld = prepare_for_storage(record, store_text="none", redactor=None)
    assert (withheld.query, withheld.answer) == (None, None) and withheld.model == record.model
    with pytest.raises(ValueError, match="TextRedactor"):
        prepare_for_storage(record, store_text="redacted", redactor=None)
    with pytest.raises(ValueError, match="store_text"):
        prepare_for_storage(record, store_text="hashed", redactor=None)  # type: ignore[arg-type]


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def test_pasted_credentials_are_redacted_though_no_pii_type_covers_them() -> None:
    key, openai_key = "dsk_" + "Zq7" * 8, "sk-" + "a1B2" * 6
    out = redactor_for("Ada Lovelace").redact([
        f"Ada Lovelace: token Bearer {JWT}, a bare {JWT}, keys {key} and {openai_key}; key id dsk_ab12cd34 stays",
    ])  # fmt: skip
    assert out == ["<PERSON_1>: token Bearer [REDACTED], a bare [REDACTED], keys [REDACTED] and [REDACTED]; "
                   "key id dsk_ab12cd34 stays"]  # fmt: skip


def test_a_feedback_comment_follows_store_text(caplog: pytest.LogCaptureFixture) -> None:
    comment = f"Wrong, Ada Lovelace says; her token is Bearer {JWT}"
    assert prepare_comment(comment, store_text="redacted", redactor=redactor_for("Ada Lovelace")) == (
        "Wrong, <PERSON_1> says; her token is Bearer [REDACTED]"
    )
    assert prepare_comment(comment, store_text="raw", redactor=None) == comment
    assert prepare_comment(comment, store_text="none", redactor=None) == ""
    with caplog.at_level(logging.WARNING):  # fails closed: nothing of the comment is stored or logged
        assert prepare_comment(comment, store_text="redacted", redactor=redactor_for("x", broken=True)) == ""
    assert "Lovelace" not in caplog.text
    with pytest.raises(ValueError, match="TextRedactor"):
        prepare_comment(comment, store_text="redacted", redactor=None)
