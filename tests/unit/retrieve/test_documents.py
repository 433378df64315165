"""Document-level retrieval: k distinct documents, whatever the chunks per document, fused per document.

A real store (the in-memory reference) and the real MiniLM embedder (ONNX). Each "long" document
has many chunks that all match the query, so the top chunks collapse to few documents.
"""

from __future__ import annotations

import pytest

from dayshift.embed.local import LocalEmbedder
from dayshift.fusion import document_key, weighted_fusion
from dayshift.retrieve.documents import best_per_document, deepen
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import RetrieveSettings
from dayshift.testing.memory_store import MemoryStore
from dayshift.types import Chunk, Hit

LONG_DOCS = 6  # each with 12 chunks about volcanoes
SHORT_DOCS = 30  # one chunk each, about volcanoes too, in fewer words


def chunk(doc: str, ordinal: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"{doc}:{ordinal}", doc_id=doc, doc_version="v1", source=doc, title="", text=text,
                 section=(), page=None, char_start=0, char_end=len(text), ordinal=ordinal, ingested_at=1.0)  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(runtime="onnx")


@pytest.fixture(scope="module")
def store(embedder: LocalEmbedder) -> MemoryStore:
    store = MemoryStore(space=embedder.space, dim=embedder.dim)
    for d in range(LONG_DOCS):
        chunks = [chunk(f"long{d}", i, f"Volcano eruption lava magma report {d} part {i}: volcano lava volcano.")
                  for i in range(12)]  # fmt: skip
        store.replace_document(f"long{d}", chunks, embedder.embed([c.text for c in chunks]))
    for d in range(SHORT_DOCS):
        chunks = [chunk(f"short{d}", 0, f"A note on a volcano, number {d}.")]
        store.replace_document(f"short{d}", chunks, embedder.embed([c.text for c in chunks]))
    return store


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_per_document_search_returns_k_distinct_documents(store: MemoryStore, embedder: LocalEmbedder,
                                                          mode: str) -> None:  # fmt: skip
    retriever = Retriever(store, embedder, settings=RetrieveSettings(candidates=10))
    chunks = retriever.search("volcano lava eruption", k=10, mode=mode)  # type: ignore[arg-type]
    documents = retriever.search("volcano lava eruption", k=10, mode=mode, per_document=True)  # type: ignore[arg-type]
    # the top 10 chunks are mostly chunks of the long documents: fewer than 10 documents
    assert len({h.chunk.doc_id for h in chunks.hits}) < 10
    doc_ids = [h.chunk.doc_id for h in documents.hits]
    assert len(doc_ids) == 10 == len(set(doc_ids))


def test_per_document_search_asks_for_more_than_the_index_holds(store: MemoryStore, embedder: LocalEmbedder) -> None:
    retriever = Retriever(store, embedder, settings=RetrieveSettings(candidates=5))
    found = retriever.search("volcano", k=500, mode="hybrid", per_document=True).hits
    assert len(found) == LONG_DOCS + SHORT_DOCS  # every document once, no more


def test_deepen_doubles_until_the_documents_are_there() -> None:
    hits = [Hit(chunk(f"d{i // 4}", i % 4, "x"), 1.0 - i / 100, "keyword") for i in range(40)]  # 4 chunks a doc
    asked: list[int] = []

    def search(n: int) -> list[Hit]:
        asked.append(n)
        return hits[:n]

    found = deepen(search, documents=5, first=5)
    assert asked == [5, 10, 20] and len({h.chunk.doc_id for h in found}) == 5
    asked.clear()
    assert len(deepen(search, documents=50, first=5)) == 40  # the searcher ran out: all it has
    assert asked[-1] > 40


def test_documents_fuse_by_document_so_two_chunks_of_one_add_up() -> None:
    # keyword found doc a through chunk a:0, dense through chunk a:3; b leads each list alone by a little
    keyword = best_per_document([Hit(chunk("b", 0, "x"), 10.0, "keyword"), Hit(chunk("a", 0, "x"), 9.0, "keyword"),
                                 Hit(chunk("c", 0, "x"), 0.0, "keyword")])  # fmt: skip
    dense = best_per_document([Hit(chunk("a", 3, "x"), 0.8, "dense"), Hit(chunk("a", 0, "x"), 0.7, "dense"),
                               Hit(chunk("c", 1, "x"), 0.1, "dense")])  # fmt: skip
    assert [h.chunk.chunk_id for h in dense] == ["a:3", "c:1"]  # a document once, at its best chunk
    fused = weighted_fusion([keyword, dense], k=3, weights=[0.5, 0.5], key=document_key)
    assert [h.chunk.doc_id for h in fused] == ["a", "b", "c"]
    assert fused[0].score == pytest.approx(0.5 * 0.9 + 0.5 * 1.0)
