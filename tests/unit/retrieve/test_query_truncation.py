"""A long query: the dense side embeds its first `dense_query_tokens` tokens, the keyword side reads all of it."""

from __future__ import annotations

import numpy as np
import pytest

from dayshift.embed.local import LocalEmbedder
from dayshift.retrieve.query import dense_query
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import RetrieveSettings
from dayshift.testing.memory_store import MemoryStore
from dayshift.types import Chunk

LONG = ("Tuition fees should be abolished because higher education benefits the whole of society, " * 8
        + "and the last word of this argument is zeppelin.")  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(runtime="onnx")


def test_the_cut_ends_on_a_token_boundary_after_exactly_n_tokens(embedder: LocalEmbedder) -> None:
    tokenizer = embedder.tokenizer
    assert tokenizer.count(LONG) > 64
    cut = dense_query(LONG, tokenizer=tokenizer, max_tokens=64)
    assert LONG.startswith(cut) and tokenizer.count(cut) == 64
    assert tokenizer.token_spans(LONG)[63][1] == len(cut)  # the 64th token's end
    assert dense_query("short query", tokenizer=tokenizer, max_tokens=64) == "short query"
    assert dense_query(LONG, tokenizer=tokenizer, max_tokens=None) == LONG


def test_a_word_split_into_pieces_is_cut_between_its_pieces_not_inside_a_character(embedder: LocalEmbedder) -> None:
    text = "pneumonoultramicroscopicsilicovolcanoconiosis " * 3
    cut = dense_query(text, tokenizer=embedder.tokenizer, max_tokens=3)
    assert text.startswith(cut) and 0 < len(cut) < len(text) and embedder.tokenizer.count(cut) == 3


def test_the_retriever_embeds_the_cut_query_and_searches_keywords_with_all_of_it(embedder: LocalEmbedder) -> None:
    texts = ["zeppelin airships and their history", "tuition fees and higher education funding"]
    store = MemoryStore(space=embedder.space, dim=embedder.dim)
    for i, text in enumerate(texts):
        c = Chunk(chunk_id=f"d{i}:0", doc_id=f"d{i}", doc_version="v", source=f"d{i}", title="", text=text,
                  section=(), page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=1.0)  # fmt: skip
        store.replace_document(f"d{i}", [c], embedder.embed([text]))
    retriever = Retriever(store, embedder, settings=RetrieveSettings(dense_query_tokens=32))
    # "zeppelin" is the query's last word, far past the cut: BM25 still finds it
    keyword = retriever.search(LONG, k=2, mode="keyword").hits
    assert "d0" in [h.chunk.doc_id for h in keyword]  # it shares no other term with the query
    dense = retriever.search(LONG, k=2, mode="dense").hits
    cut = dense_query(LONG, tokenizer=embedder.tokenizer, max_tokens=32)
    vector = embedder.embed([cut], kind="query")[0]
    by_doc = {h.chunk.doc_id: h.score for h in dense}
    assert by_doc["d1"] == pytest.approx(float(embedder.embed([texts[1]])[0] @ vector), abs=1e-5)
    whole = embedder.embed([LONG], kind="query")[0]
    assert not np.allclose(vector, whole, atol=1e-3)  # the cut changed what was embedded
