"""search_docs over a real retriever (the in-memory reference store, the real MiniLM embedder): citable
passages, and a filtered search that finds nothing tried again on its words alone, saying so."""

from __future__ import annotations

import time

import pytest

from dayshift.agents.tools.base import RunContext
from dayshift.agents.tools.docs import SearchDocs, SearchDocsArgs
from dayshift.embed.local import LocalEmbedder
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import RetrieveSettings
from dayshift.testing.memory_store import MemoryStore
from dayshift.types import Chunk

POLICY = "Refunds: a customer may ask for a refund within 30 days of purchase, with the receipt."
OTHER = "Shipping: orders leave the warehouse within two working days."


def _chunk(doc: str, text: str, page: int) -> Chunk:
    return Chunk(chunk_id=f"{doc}:0", doc_id=doc, doc_version="v1", source=doc, title=doc, text=text, section=(),
                 page=page, char_start=0, char_end=len(text), ordinal=0, ingested_at=1.0)


@pytest.fixture(scope="module")
def tool() -> SearchDocs:
    embedder = LocalEmbedder(runtime="onnx")
    store = MemoryStore(space=embedder.space, dim=embedder.dim)
    for doc, text, page in (("policy.pdf", POLICY, 2), ("shipping.html", OTHER, 1)):
        chunk = _chunk(doc, text, page)
        store.replace_document(doc, [chunk], embedder.embed([text]))
    return SearchDocs(Retriever(store, embedder, settings=RetrieveSettings(candidates=5)), k=1)


def _run() -> RunContext:
    return RunContext(deadline=time.monotonic() + 30)


def test_a_search_returns_citable_passages(tool: SearchDocs) -> None:
    output = tool.run(SearchDocsArgs(query="refund days"), run=_run())
    assert output.text.startswith("[D1] policy.pdf") and "30 days" in output.text
    assert [e.doc_id for e in output.evidence] == ["policy.pdf"] and not output.data["filters_dropped"]


def test_filters_that_match_nothing_are_dropped_and_the_result_says_so(tool: SearchDocs) -> None:
    output = tool.run(SearchDocsArgs(query="refund days", where=["source=nist", "page>=10"]), run=_run())
    assert output.text.startswith("no passage matches the filters ['source=nist', 'page>=10']")
    assert "30 days" in output.text and [e.doc_id for e in output.evidence] == ["policy.pdf"]
    assert output.data["filters_dropped"]


def test_filters_that_match_are_kept(tool: SearchDocs) -> None:
    output = tool.run(SearchDocsArgs(query="refund days", where=["page<=1"]), run=_run())
    assert [e.doc_id for e in output.evidence] == ["shipping.html"] and not output.data["filters_dropped"]


def test_filters_that_cannot_be_read_are_left_out_with_the_reason(tool: SearchDocs) -> None:
    output = tool.run(SearchDocsArgs(query="refund days", where=["Title LIKE 'Refunds'"]), run=_run())
    assert output.text.startswith("the filters [\"Title LIKE 'Refunds'\"] were left out (")
    assert "field=value" in output.text and "30 days" in output.text
    assert [e.doc_id for e in output.evidence] == ["policy.pdf"]
