"""A batch of chunks as the column arrays that `INSERT ... unnest()` and COPY take, with their BM25 postings.

    chunk_rows(chunks, vectors) -> ChunkRows(columns, postings, df, documents)
    insert_rows(conn, rows)      chunks, postings, document frequencies, documents and totals, in one go

Shared by the store's `replace_document` and by `bulk` (COPY), so neither imports the other for it.

Left out: deleting what a batch replaces (the callers do, in the same transaction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dayshift.analysis import analyze
from dayshift.store.postgres import sql as q
from dayshift.types import Chunk


@dataclass(slots=True)
class ChunkRows:
    """A batch of chunks as column arrays, with their postings: what INSERT ... unnest() takes."""

    columns: dict[str, list[Any]]
    postings: dict[str, list[Any]]  # p_chunk_id, p_term, p_tf
    df: Counter[str]  # term -> chunks of the batch that hold it
    documents: dict[str, tuple[str, int]]  # doc_id -> (lowest version, chunks)


def chunk_rows(chunks: Sequence[Chunk], vectors: np.ndarray) -> ChunkRows:
    from psycopg.types.json import Jsonb

    names = ("chunk_id", "doc_id", "doc_version", "source", "title", "text", "section", "page", "char_start",
             "char_end", "ordinal", "ingested_at", "metadata", "length", "embedding")  # fmt: skip
    columns: dict[str, list[Any]] = {name: [] for name in names}
    postings: dict[str, list[Any]] = {"p_chunk_id": [], "p_term": [], "p_tf": []}
    df: Counter[str] = Counter()
    documents: dict[str, tuple[str, int]] = {}
    for chunk, vector in zip(chunks, vectors):
        terms = analyze(chunk.indexed_text)
        tf = Counter(terms)
        for name in names[:12]:
            columns[name].append(getattr(chunk, name))
        columns["section"][-1] = Jsonb(list(chunk.section))
        columns["metadata"].append(Jsonb(chunk.metadata))
        columns["length"].append(len(terms))
        columns["embedding"].append(vector)
        postings["p_chunk_id"] += [chunk.chunk_id] * len(tf)
        postings["p_term"] += list(tf)
        postings["p_tf"] += list(tf.values())
        df.update(tf.keys())
        version, count = documents.get(chunk.doc_id, (chunk.doc_version, 0))
        documents[chunk.doc_id] = (min(version, chunk.doc_version), count + 1)
    return ChunkRows(columns, postings, df, documents)


def insert_rows(conn: Any, rows: ChunkRows) -> None:
    """INSERT a batch (after its documents were deleted): chunks, postings, df, documents, totals."""
    conn.execute(q.INSERT_CHUNKS, {**rows.columns, **rows.postings})
    terms = sorted(rows.df)
    conn.execute(q.ADD_TERMS, {"term": terms, "df": [rows.df[t] for t in terms]})
    docs = sorted(rows.documents)
    conn.execute(q.ADD_DOCUMENTS, {"doc_id": docs, "version": [rows.documents[d][0] for d in docs],
                                   "chunks": [rows.documents[d][1] for d in docs]})  # fmt: skip
    conn.execute(q.ADD_TOTALS, {"chunks": len(rows.columns["chunk_id"]), "length": sum(rows.columns["length"])})
