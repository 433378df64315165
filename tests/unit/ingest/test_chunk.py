"""chunk_document with the real MiniLM tokenizer: real Markdown and PDF documents, then small hand-made cases.

Token counts are always taken by re-tokenising what the embedder will see (`Chunk.indexed_text`),
never from the chunker's own bookkeeping. The hand-made cases use words that are one WordPiece
token each, so the expected splits can be worked out on paper (the counts they rely on are
asserted first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from dayshift.embed.local import MiniLMTokenizer
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.markdown import MarkdownLoader
from dayshift.ingest.loaders.pdf import PdfLoader
from dayshift.types import Block, Chunk, Document, context_header

NOW = 1_700_000_000.0
# A table-heavy spreadsheet export, a one-page table, a regulation, a framework with a long
# multi-page table, and a two-column paper: every block kind and page layout the loader makes.
PDFS = (
    "ca_edd_warn_report_2015-07_to_2016-03.pdf",
    "fbi_nics_background_checks_2015-11.pdf",
    "federal_register_2020-17221.pdf",
    "nist_cswp_04162018_cybersecurity_framework_v1.1.pdf",
    "thoma_creativity_in_machine_learning_arxiv1601.03642.pdf",
)


@pytest.fixture(scope="module")
def tok() -> MiniLMTokenizer:
    return MiniLMTokenizer()


@pytest.fixture(scope="module")
def real_docs(rust_book_dir: Path, pdf_dir: Path) -> list[Document]:
    docs: list[Document] = []
    for path in sorted(rust_book_dir.glob("*.md")):
        docs.extend(MarkdownLoader().load(path, source=path.name, options=LoadOptions()))
    for name in PDFS:
        docs.extend(PdfLoader().load(pdf_dir / name, source=f"pdfs/{name}", options=LoadOptions()))
    assert len(docs) == 112 + len(PDFS)
    return docs


@pytest.fixture(scope="module")
def real_chunks(real_docs: list[Document], tok: MiniLMTokenizer) -> dict[int, list[tuple[Document, list[Chunk]]]]:
    """chunk_tokens -> [(document, its chunks)], at the default overlap (32) and at 16."""
    policies = {256: ChunkingPolicy(), 128: ChunkingPolicy(chunk_tokens=128, overlap_tokens=16)}
    return {
        size: [(d, chunk_document(d, tokenizer=tok, policy=policy, ingested_at=NOW)) for d in real_docs]
        for size, policy in policies.items()
    }


# -- helpers -------------------------------------------------------------------------------------------


def block_offsets(doc: Document) -> list[int]:
    """Where each block starts in Document.text (blocks are joined with a blank line)."""
    offsets, pos = [], 0
    for block in doc.blocks:
        offsets.append(pos)
        pos += len(block.text) + 2
    return offsets


def covered_blocks(doc: Document, chunk: Chunk) -> list[int]:
    offsets = block_offsets(doc)
    return [
        i
        for i, start in enumerate(offsets)
        if start < chunk.char_end and start + len(doc.blocks[i].text) > chunk.char_start
    ]


def first_block(doc: Document, chunk: Chunk) -> Block:
    offsets = block_offsets(doc)
    (index,) = [i for i, s in enumerate(offsets) if s <= chunk.char_start < s + len(doc.blocks[i].text)]
    return doc.blocks[index]


def table_header(table_text: str) -> str:
    """The header a later chunk of a table repeats: the header row, without its "| --- |" line."""
    return table_text.splitlines()[0]


def make_doc(*blocks: Block, title: str = "", doc_id: str = "notes/d.md") -> Document:
    return Document(doc_id=doc_id, source=doc_id, title=title, blocks=list(blocks), metadata={"lang": "en"})


def chunk(doc: Document, tok: MiniLMTokenizer, chunk_tokens: int, overlap_tokens: int) -> list[Chunk]:
    policy = ChunkingPolicy(chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens)
    return chunk_document(doc, tokenizer=tok, policy=policy, ingested_at=NOW)


def over_budget(chunks: Sequence[Chunk], tok: MiniLMTokenizer, budget: int) -> list[tuple[int, int]]:
    return [(c.ordinal, n) for c in chunks if (n := tok.count(c.indexed_text)) > budget]


# Ten tokens each: "sentence", the number, "says", "the", "cat", "sat", "on", "the", "mat", ".".
def sentence(i: int) -> str:
    return f"Sentence {i} says the cat sat on the mat."


# -- real documents --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [256, 128])
def test_real_chunks_without_tables_fit_the_token_budget(real_chunks, tok: MiniLMTokenizer, size: int) -> None:
    checked, over = 0, []
    for doc, chunks in real_chunks[size]:
        for c in chunks:
            if any(doc.blocks[i].kind == "table" for i in covered_blocks(doc, c)):
                continue
            checked += 1
            if (n := tok.count(c.indexed_text)) > size:
                over.append((doc.doc_id, c.ordinal, n))
    assert checked > 1500
    assert over == []


def test_real_chunks_fit_the_token_budget(real_chunks, tok: MiniLMTokenizer) -> None:
    over = [(d.doc_id, *o) for d, chunks in real_chunks[256] for o in over_budget(chunks, tok, 256)]
    assert over == []


@pytest.mark.parametrize("size", [256, 128])
def test_real_chunks_never_cross_sections(real_chunks, size: int) -> None:
    for doc, chunks in real_chunks[size]:
        for c in chunks:
            sections = {doc.blocks[i].section for i in covered_blocks(doc, c)}
            assert sections == {c.section}, (doc.doc_id, c.ordinal)


@pytest.mark.parametrize("size", [256, 128])
def test_real_chunk_text_is_its_slice_or_a_table_header_and_its_slice(real_chunks, size: int) -> None:
    with_header = 0
    for doc, chunks in real_chunks[size]:
        text = doc.text
        for c in chunks:
            piece = text[c.char_start : c.char_end]
            assert piece.strip(), (doc.doc_id, c.ordinal)
            if c.text == piece:
                continue
            block = first_block(doc, c)
            assert block.kind == "table", (doc.doc_id, c.ordinal)
            assert c.text.endswith(piece) and c.text.startswith(table_header(block.text) + "\n")
            assert c.text == f"{table_header(block.text)}\n{piece}"
            with_header += 1
    assert with_header > 100  # the repeated-header path really ran (WARN, NICS, CSF, appendix B)


@pytest.mark.parametrize("size", [256, 128])
def test_real_chunk_ids_ordinals_and_provenance(real_chunks, size: int) -> None:
    pdf_pages = set()
    for doc, chunks in real_chunks[size]:
        assert chunks, doc.doc_id
        assert [c.ordinal for c in chunks] == list(range(len(chunks)))
        assert [c.chunk_id for c in chunks] == [f"{doc.doc_id}:{i}" for i in range(len(chunks))]
        assert [c.char_start for c in chunks] == sorted(c.char_start for c in chunks)  # reading order
        for c in chunks:
            assert (c.doc_id, c.doc_version, c.source, c.title) == (doc.doc_id, doc.version, doc.source, doc.title)
            assert c.ingested_at == NOW
            assert c.metadata == doc.metadata
            assert c.page == first_block(doc, c).page
            if doc.source.endswith(".pdf"):
                assert isinstance(c.page, int) and c.page >= 1
                pdf_pages.add((doc.doc_id, c.page))
            else:
                assert c.page is None
    assert len(pdf_pages) > 50  # chunks really land on many different pages


def test_real_chunks_cover_every_block(real_chunks) -> None:
    for doc, chunks in real_chunks[256]:
        seen = {i for c in chunks for i in covered_blocks(doc, c)}
        assert seen == set(range(len(doc.blocks))), doc.doc_id


def test_hand_made_sentences_are_ten_tokens_each(tok: MiniLMTokenizer) -> None:
    assert [tok.count(sentence(i)) for i in range(1, 21)] == [10] * 20
    assert tok.count(" ".join(sentence(i) for i in range(1, 21))) == 200


def test_long_paragraph_splits_at_sentence_ends_with_one_sentence_of_overlap(tok: MiniLMTokenizer) -> None:
    # 20 sentences of 10 tokens, budget 64: six sentences per chunk. Overlap 16 holds one
    # sentence (two would be 20), so each chunk starts again with the previous one's last sentence.
    doc = make_doc(Block(" ".join(sentence(i) for i in range(1, 21))))
    chunks = chunk(doc, tok, 64, 16)
    expected = [range(1, 7), range(6, 12), range(11, 17), range(16, 21)]
    assert [c.text for c in chunks] == [" ".join(sentence(i) for i in r) for r in expected]
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert tok.count(c.indexed_text) <= 64


def test_overlap_is_whole_trailing_sentences_within_overlap_tokens(tok: MiniLMTokenizer) -> None:
    # Sentences of 10, 5 and 5 tokens; overlap 24 can take several whole sentences, never a part.
    parts = []
    for i in range(1, 31):
        parts.append(sentence(i) if i % 3 == 1 else f"Cats nap {i}." if i % 3 == 2 else f"Dogs run {i}.")
    assert [tok.count(p) for p in parts[:3]] == [10, 4, 4]
    doc = make_doc(Block(" ".join(parts)))
    chunks = chunk(doc, tok, 48, 24)
    assert len(chunks) >= 4
    starts = {doc.text.index(p) for p in parts}
    ends = {doc.text.index(p) + len(p) for p in parts}
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.char_start in starts and prev.char_end in ends  # whole sentences only
        assert prev.char_start < nxt.char_start < prev.char_end  # an overlap ...
        shared = doc.text[nxt.char_start : prev.char_end]
        assert prev.text.endswith(shared) and nxt.text.startswith(shared)  # ... of trailing sentences
        assert 0 < tok.count(shared) <= 24


def test_no_overlap_when_overlap_tokens_is_zero(tok: MiniLMTokenizer) -> None:
    doc = make_doc(Block(" ".join(sentence(i) for i in range(1, 21))))
    chunks = chunk(doc, tok, 64, 0)
    expected = [range(1, 7), range(7, 13), range(13, 19), range(19, 21)]
    assert [c.text for c in chunks] == [" ".join(sentence(i) for i in r) for r in expected]


def test_no_overlap_across_a_paragraph_boundary(tok: MiniLMTokenizer) -> None:
    first = " ".join(sentence(i) for i in range(1, 9))  # 80 tokens: split in two
    second = " ".join(sentence(i) for i in range(9, 14))  # 50 tokens: whole
    third = " ".join(sentence(i) for i in range(14, 17))  # 30 tokens: fits after the second? 80 > 64, no
    doc = make_doc(Block(first), Block(second), Block(third))
    chunks = chunk(doc, tok, 64, 16)
    assert [c.text for c in chunks] == [
        " ".join(sentence(i) for i in range(1, 7)),
        " ".join(sentence(i) for i in range(6, 9)),  # overlap inside the first paragraph
        second,  # starts cleanly at the paragraph: nothing of the first repeated
        third,
    ]


def test_short_paragraphs_are_packed_together_whole(tok: MiniLMTokenizer) -> None:
    paras = [sentence(i) for i in range(1, 8)]  # 7 x 10 tokens, budget 32: three per chunk
    doc = make_doc(*[Block(p) for p in paras])
    chunks = chunk(doc, tok, 32, 16)
    assert [c.text for c in chunks] == ["\n\n".join(paras[0:3]), "\n\n".join(paras[3:6]), paras[6]]


def test_context_header_counts_against_the_budget(tok: MiniLMTokenizer) -> None:
    title, section = "Cat Care Guide", ("Cat Care Guide", "Sleeping Spots")
    header = context_header(title, section)
    assert header == "Cat Care Guide > Sleeping Spots" and tok.count(header) == 6
    doc = make_doc(Block(" ".join(sentence(i) for i in range(1, 21)), section=section), title=title)
    chunks = chunk(doc, tok, 64, 0)
    # 64 - 6 = 58 tokens of body: five sentences per chunk, not six (as without a header).
    assert [c.text for c in chunks] == [" ".join(sentence(i) for i in range(s, s + 5)) for s in (1, 6, 11, 16)]
    assert all(c.indexed_text == f"{header}\n{c.text}" for c in chunks)
    assert max(tok.count(c.indexed_text) for c in chunks) == 6 + 50


def test_chunks_follow_section_changes(tok: MiniLMTokenizer) -> None:
    doc = make_doc(
        Block("Cats", kind="heading", section=("Cats",)),
        Block(sentence(1), section=("Cats",)),
        Block("Dogs", kind="heading", section=("Dogs",)),
        Block(sentence(2), section=("Dogs",)),
    )
    chunks = chunk(doc, tok, 256, 32)  # everything would fit one chunk, but sections differ
    assert [(c.section, c.text) for c in chunks] == [
        (("Cats",), f"Cats\n\n{sentence(1)}"),
        (("Dogs",), f"Dogs\n\n{sentence(2)}"),
    ]


# -- tables ---------------------------------------------------------------------------------------------


HEADER = "| id | fruit |\n| --- | --- |"
HEADER_ROW = "| id | fruit |"  # what later chunks repeat


def fruit_table(rows: int) -> str:
    return "\n".join([HEADER, *[f"| {i} | apple |" for i in range(1, rows + 1)]])


def test_big_table_splits_by_rows_with_the_header_on_every_piece(tok: MiniLMTokenizer) -> None:
    assert tok.count(HEADER) == 14 and tok.count(HEADER_ROW) == 5 and tok.count("| 7 | apple |") == 5
    table = fruit_table(30)
    doc = make_doc(Block(table, kind="table"))
    chunks = chunk(doc, tok, 64, 0)
    rows = table.splitlines()[2:]
    first, later = (64 - 14) // 5, (64 - 5) // 5  # ten rows under the header and its line, then eleven
    starts = [0, *range(first, 30, later)]
    assert [c.text for c in chunks] == [HEADER + "\n" + "\n".join(rows[:first])] + [
        HEADER_ROW + "\n" + "\n".join(rows[i : i + later]) for i in starts[1:]
    ]
    for c in chunks:
        assert c.text.endswith(doc.text[c.char_start : c.char_end])
        assert tok.count(c.indexed_text) <= 64


def test_table_rows_overlap_in_whole_rows(tok: MiniLMTokenizer) -> None:
    doc = make_doc(Block(fruit_table(30), kind="table"))
    chunks = chunk(doc, tok, 64, 12)  # two rows (10 tokens) of overlap
    assert len(chunks) == 4
    for prev, nxt in zip(chunks, chunks[1:]):
        prev_rows = prev.text.splitlines()[2 if prev is chunks[0] else 1:]
        next_rows = nxt.text.splitlines()[1:]
        assert nxt.text.startswith(HEADER_ROW + "\n")
        assert next_rows[:2] == prev_rows[-2:]
    assert over_budget(chunks, tok, 64) == []


def test_table_after_a_paragraph_stays_within_budget(tok: MiniLMTokenizer) -> None:
    doc = make_doc(Block("Fruit stock levels are below."), Block(fruit_table(30), kind="table"))
    chunks = chunk(doc, tok, 64, 0)
    assert over_budget(chunks, tok, 64) == []


def test_table_overlap_with_repeated_header_stays_within_budget(tok: MiniLMTokenizer) -> None:
    words = (
        "red green blue cat dog sun moon star tree leaf rock sand sea sky rain snow wind fire ice gold iron salt "
        "milk tea bread jam"
    )
    row = f"| 1 | {words} |"
    assert tok.count(row) == 30
    table = "\n".join([HEADER, *[f"| {i} | {words} |" for i in range(1, 7)]])
    chunks = chunk(make_doc(Block(table, kind="table")), tok, 64, 32)
    assert over_budget(chunks, tok, 64) == []


def test_table_with_a_header_wider_than_the_budget_stays_within_budget(tok: MiniLMTokenizer) -> None:
    cols = 20
    header = "| " + " | ".join(f"col{i}" for i in range(cols)) + " |\n" + "|" + " --- |" * cols
    table = "\n".join([header, *["| " + " | ".join(["x"] * cols) + " |" for _ in range(4)]])
    assert tok.count(header) > 64
    chunks = chunk(make_doc(Block(table, kind="table")), tok, 64, 0)
    assert over_budget(chunks, tok, 64) == []


# -- code -----------------------------------------------------------------------------------------------


def test_long_code_block_splits_at_line_ends(tok: MiniLMTokenizer) -> None:
    lines = [f"    let total_{i} = total_{i - 1} + {i};" for i in range(1, 41)]
    code = "fn main() {\n" + "\n".join(lines) + "\n}"
    assert tok.count(code) > 3 * 64
    doc = make_doc(Block("Add the numbers up.", kind="paragraph"), Block(code, kind="code"))
    chunks = chunk(doc, tok, 64, 16)
    code_start = doc.text.index("fn main")
    code_chunks = [c for c in chunks if c.char_end > code_start]
    assert len(code_chunks) >= 4
    code_lines = code.splitlines()
    previous_lines: list[str] = []
    assert code_chunks[0].char_start == 0  # the paragraph and the first lines share a chunk
    for c in code_chunks:
        assert c.text == doc.text[c.char_start : c.char_end]
        assert c.char_start <= code_start or doc.text[c.char_start - 1] == "\n"  # starts at a line start
        assert c.char_end == len(doc.text) or doc.text[c.char_end] == "\n"  # ends at a line end
        got = doc.text[max(c.char_start, code_start) : c.char_end].splitlines()
        assert all(line in code_lines for line in got)  # only whole lines
        assert tok.count(c.indexed_text) <= 64
        if previous_lines:  # overlap: whole trailing lines of the previous piece, within 16 tokens
            shared = [line for line in got if line in previous_lines]
            assert shared and got[: len(shared)] == previous_lines[-len(shared) :]
            assert tok.count("\n".join(shared)) <= 16
        previous_lines = got
    covered = [line for c in code_chunks for line in doc.text[max(c.char_start, code_start) : c.char_end].splitlines()]
    assert sorted(set(covered), key=code_lines.index) == code_lines


# -- the last resort: a sentence longer than a chunk ---------------------------------------------------


def test_unpunctuated_run_is_cut_at_token_boundaries_within_budget(tok: MiniLMTokenizer) -> None:
    text = " ".join(["the cat sat on the mat and then"] * 20)  # no sentence end anywhere
    n = tok.count(text)
    assert n == 160
    doc = make_doc(Block(text))
    chunks = chunk(doc, tok, 40, 0)
    assert len(chunks) == math.ceil(n / 40)
    token_starts = {s for s, _ in tok.token_spans(text)}
    for c in chunks:
        assert c.char_start in token_starts
        assert c.text == text[c.char_start : c.char_end]
        assert tok.count(c.indexed_text) <= 40
    for prev, nxt in zip(chunks, chunks[1:]):
        assert text[prev.char_end : nxt.char_start].strip() == ""  # contiguous: nothing lost
    assert " ".join(c.text.strip() for c in chunks) == text


def test_token_cuts_inside_words_stay_within_budget(tok: MiniLMTokenizer) -> None:
    text = " ".join(["tokenization"] * 50)
    assert tok.count(text) == 100
    chunks = chunk(make_doc(Block(text)), tok, 33, 0)
    assert over_budget(chunks, tok, 33) == []


def test_small_chunk_tokens_are_honoured(tok: MiniLMTokenizer) -> None:
    chunks = chunk(make_doc(Block(" ".join(sentence(i) for i in range(1, 11)))), tok, 16, 0)
    assert over_budget(chunks, tok, 16) == []


# -- edges ----------------------------------------------------------------------------------------------


def test_empty_document_gives_no_chunks(tok: MiniLMTokenizer) -> None:
    assert chunk_document(make_doc(), tokenizer=tok, ingested_at=NOW) == []


def test_short_document_is_one_chunk(tok: MiniLMTokenizer) -> None:
    doc = make_doc(
        Block("Cats", kind="heading", section=("Cats",)), Block(sentence(1), section=("Cats",)), title="Pets"
    )
    (only,) = chunk_document(doc, tokenizer=tok, ingested_at=NOW)
    assert (only.chunk_id, only.text, only.char_start, only.char_end) == ("notes/d.md:0", doc.text, 0, len(doc.text))
    assert only.indexed_text == f"Pets > Cats\n{doc.text}"
    assert only.section == ("Cats",) and only.metadata == {"lang": "en"}


def test_more_chunk_tokens_never_gives_more_chunks_on_running_text(tok: MiniLMTokenizer) -> None:
    paragraphs = [" ".join(sentence(p * 12 + i) for i in range(12)) for p in range(5)]  # 5 x 120 tokens
    doc = make_doc(*[Block(p) for p in paragraphs])
    counts = [len(chunk(doc, tok, size, 16)) for size in (32, 48, 64, 96, 128, 256, 512, 1024)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]
    # 32 tokens hold 3 sentences and overlap one: 12-sentence paragraph -> 1-3,3-5,5-7,7-9,9-11,11-12.
    assert counts[0] == 5 * 6
    assert counts[-1] == 1  # 600 tokens fit one 1024-token chunk


def test_every_chunk_of_the_wide_nics_table_names_its_columns(real_chunks) -> None:  # type: ignore[no-untyped-def]
    """The FBI NICS table: 25 columns under a caption row. Every chunk carries the column names at the default
    size; at 128 tokens the header row alone (about 100) leaves no room, so rows go alone, but no chunk is
    only the "| --- |" line."""
    for doc, chunks in real_chunks[128]:
        if "fbi_nics" in doc.doc_id:
            assert not any(set(c.text.replace("|", "").split()) <= {"---"} for c in chunks)
    for size in (256,):
        (nics,) = [chunks for doc, chunks in real_chunks[size] if "fbi_nics" in doc.doc_id]
        table = [c for c in nics if "| Alabama |" in c.text or "| Wyoming |" in c.text or "| Texas |" in c.text]
        assert len(table) >= 3
        for c in nics:
            if c.text.startswith("|"):
                first = c.text.splitlines()[0]
                assert "Permit" in first and "Handgun" in first and "NICS Firearm" in first, (size, first[:120])
                assert not c.text.startswith("| Alabama")
