"""Typed values that pass between dayshift's modules.

Shapes only: no I/O, no behaviour beyond cheap derived properties. Everything
that crosses a module boundary (loader -> chunker -> embedder -> store ->
retriever) is one of these, never a bare dict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

MetaValue = str | int | float | bool
Metadata = dict[str, MetaValue]
BlockKind = Literal["paragraph", "heading", "table", "code", "list"]


def content_hash(text: str) -> str:
    """Stable short hash of a text: the identity of a version or a chunk's content."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document, in reading order.

    A block is never split by a loader: a paragraph, a table (as Markdown rows),
    a code listing. The chunker packs blocks into chunks and only splits a block
    that alone exceeds the chunk size.
    """

    text: str
    kind: BlockKind = "paragraph"
    section: tuple[str, ...] = ()  # ("Chapter 3", "3.2 Detection") -- heading path
    page: int | None = None  # 1-based page number, for paged formats


@dataclass(slots=True)
class Document:
    """A loaded document: what one article, page set, file or table row says."""

    doc_id: str  # stable across runs: "<source>" or "<source>#<key>"
    source: str  # the file it came from, relative to the ingest root
    title: str
    blocks: list[Block]
    metadata: Metadata = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    @property
    def version(self) -> str:
        """Content hash of everything that ends up in the index for this document."""
        meta = "\x1f".join(f"{k}={self.metadata[k]!r}" for k in sorted(self.metadata))
        return content_hash(f"{self.title}\x1e{meta}\x1e{self.text}")


def make_doc_id(source: str, key: str | int | None = None) -> str:
    return source if key is None else f"{source}#{key}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable unit of text, with everything needed to cite it."""

    chunk_id: str  # "<doc_id>:<ordinal>"
    doc_id: str
    doc_version: str
    source: str
    title: str
    text: str
    section: tuple[str, ...]
    page: int | None
    char_start: int  # offsets into Document.text
    char_end: int
    ordinal: int
    ingested_at: float  # unix seconds
    metadata: Metadata = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What the embedder and the keyword index see: context header, then text."""
        header = context_header(self.title, self.section)
        return f"{header}\n{self.text}" if header else self.text

    @property
    def content_hash(self) -> str:
        """Identity of what gets embedded (the embedding cache key)."""
        return content_hash(self.indexed_text)


def context_header(title: str, section: tuple[str, ...] | list[str]) -> str:
    """Title and section path, put in front of a chunk for embedding and BM25."""
    parts = [title, *[s for s in section if s and s != title]]
    return " > ".join(p for p in parts if p)


HitSource = Literal["keyword", "dense", "hybrid", "rerank"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk and how it scored."""

    chunk: Chunk
    score: float
    source: HitSource


FilterOp = Literal["=", "!=", ">", ">=", "<", "<="]


@dataclass(frozen=True, slots=True)
class Condition:
    """One metadata filter: `field op value`. Conditions in a list are ANDed.

    `field` is a chunk field (source, doc_id, title, page, section) or a
    metadata key. For "=" and "!=", a string value with * or ? is a glob, and
    a `source` value also matches any path component that starts with it
    (`source=nist` matches "docs/nist/csf.pdf" and "pdfs/nist_sp800.pdf").
    """

    field: str
    op: FilterOp
    value: MetaValue
