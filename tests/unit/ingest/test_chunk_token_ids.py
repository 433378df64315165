"""chunk_with_token_ids hands the embedder each chunk's token ids, read from the document's
own tokenisation: they must be exactly what tokenising the chunk's `indexed_text` gives, and
missing (None) wherever a chunk starts or ends inside a word, where they would not be."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dayshift.embed.local import MiniLMTokenizer
from dayshift.embed.openai import ApproxTokenizer
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document, chunk_with_token_ids
from dayshift.ingest.clean import clean_document
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.markdown import MarkdownLoader
from dayshift.ingest.loaders.mediawiki import MediaWikiLoader
from dayshift.ingest.loaders.pdf import PdfLoader
from dayshift.ingest.loaders.tabular import CsvLoader
from dayshift.types import Block, Document

NOW = 1_700_000_000.0
POLICIES = (ChunkingPolicy(), ChunkingPolicy(chunk_tokens=64, overlap_tokens=16))


@pytest.fixture(scope="module")
def tok() -> MiniLMTokenizer:
    return MiniLMTokenizer()


@pytest.fixture(scope="module")
def real_docs(rust_book_dir: Path, pdf_dir: Path, wiki_dir: Path, tabular_dir: Path, scifact_dir: Path) -> list[Document]:
    """Markdown, PDF (tables, two columns), wikitext, a CSV export and SciFact abstracts."""
    docs = []
    for path in sorted(rust_book_dir.glob("*.md"))[:40]:
        docs += MarkdownLoader().load(path, source=path.name, options=LoadOptions())
    for path in sorted(pdf_dir.glob("*.pdf")):
        docs += PdfLoader().load(path, source=path.name, options=LoadOptions())
    for path in sorted(wiki_dir.glob("*.xml.bz2")):
        docs += MediaWikiLoader().load(path, source=path.name, options=LoadOptions())
    posts = tabular_dir / "beer_stackexchange" / "posts.csv"  # HTML inside the cells
    docs += list(CsvLoader().load(posts, source="posts.csv", options=LoadOptions()))[:300]
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        for i, line in zip(range(300), lines):
            row = json.loads(line)
            docs.append(Document(doc_id=f"scifact/{i}", source="scifact", title=row["title"], blocks=[Block(row["text"])]))
    cleaned = [c for c in map(clean_document, docs) if c is not None]
    assert len(cleaned) > 700
    return cleaned


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.chunk_tokens}-tokens")
def test_every_real_chunks_ids_are_its_indexed_texts_tokens(
    real_docs: list[Document], tok: MiniLMTokenizer, policy: ChunkingPolicy
) -> None:
    given = wrong = total = 0
    for doc in real_docs:
        chunks, token_ids = chunk_with_token_ids(doc, tokenizer=tok, policy=policy, ingested_at=NOW)
        assert chunks == chunk_document(doc, tokenizer=tok, policy=policy, ingested_at=NOW)
        assert len(token_ids) == len(chunks)
        for chunk, ids in zip(chunks, token_ids):
            total += 1
            if ids is not None:
                given += 1
                wrong += ids != tok.tokenise(chunk.indexed_text)[0]
    assert wrong == 0
    assert given >= 0.99 * total, f"ids for only {given} of {total} chunks"


def test_a_chunk_cut_inside_a_word_gets_no_ids(tok: MiniLMTokenizer) -> None:
    word = "pneumonoultramicroscopicsilicovolcanoconiosis"  # one word of many WordPiece pieces
    assert tok.count(word) > 8
    doc = Document(doc_id="d", source="d", title="", blocks=[Block(f"Before it {word} and after it.")])
    chunks, token_ids = chunk_with_token_ids(doc, tokenizer=tok, policy=ChunkingPolicy(8, 0), ingested_at=NOW)
    inside = [i for i, c in enumerate(chunks) if 0 < c.char_start and doc.text[c.char_start - 1].isalnum()]
    assert inside, "the word must be cut inside"
    for i, (chunk, ids) in enumerate(zip(chunks, token_ids)):
        cut_before = i in inside
        cut_after = i + 1 in inside
        if cut_before or cut_after:
            assert ids is None
        else:
            assert ids == tok.tokenise(chunk.indexed_text)[0]


def test_table_pieces_with_the_repeated_header_get_ids(tok: MiniLMTokenizer) -> None:
    rows = "\n".join(f"| gene{i} | expressed in tissue {i} | yes |" for i in range(40))
    table = f"| gene | where | found |\n|---|---|---|\n{rows}"
    doc = Document(doc_id="t", source="t", title="Genes", blocks=[Block("Intro text.", section=("Results",)),
                                                                   Block(table, kind="table", section=("Results",))])
    chunks, token_ids = chunk_with_token_ids(doc, tokenizer=tok, policy=ChunkingPolicy(64, 16), ingested_at=NOW)
    repeated = [i for i, c in enumerate(chunks) if len(c.text) != c.char_end - c.char_start]
    assert len(repeated) >= 2
    for chunk, ids in zip(chunks, token_ids):
        assert ids == tok.tokenise(chunk.indexed_text)[0]


def test_a_tokenizer_without_ids_gives_none_and_the_same_chunks() -> None:
    doc = Document(doc_id="d", source="d", title="Notes", blocks=[Block(" ".join(["The cat sat on the mat."] * 80))])
    approx = ApproxTokenizer()
    chunks, token_ids = chunk_with_token_ids(doc, tokenizer=approx, policy=ChunkingPolicy(64, 16), ingested_at=NOW)
    assert len(chunks) > 3 and token_ids == [None] * len(chunks)
    assert chunks == chunk_document(doc, tokenizer=approx, policy=ChunkingPolicy(64, 16), ingested_at=NOW)
