"""BM25 as sparse vectors: document-side weights in each point, IDF applied by Qdrant.

    score(d, q) = sum_t count(t, q) * idf(t) * w(t, d)         Qdrant's sparse dot product, modifier=IDF
    w(t, d)     = tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))     stored in the point
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))                    computed by Qdrant

This is store.embedded.keyword's formula term for term (the same k1, b, Lucene idf, and a
repeated query term counting again) as long as `avgdl` is the live mean length.
Qdrant cannot normalise by a length that changes after a point is written, so
the mean is baked into the weights; QdrantStore.flush() rewrites them when the
live mean has drifted (see store.qdrant).

Term ids are the CRC-32 of the UTF-8 term: Qdrant's sparse indices are uint32,
and a hash needs no shared vocabulary between processes. Two given terms share
an id with probability 2^-32, so among V distinct terms the expected number of
colliding pairs is V(V-1)/2^33: 0.01 for 10k terms, 1.2 for 100k, 116 for 1M. A
collision merges the two terms' postings (a query for one also finds chunks with
the other, and df is their union); it never loses a match.

Left out: field weights and phrase scoring, as in store.embedded.keyword.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence

from dayshift.store.bm25 import K1, B

DEFAULT_AVGDL = 100.0  # analysed terms per chunk before the first flush measures the collection


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def document_vector(
    terms: Sequence[str], *, avgdl: float, k1: float = K1, b: float = B
) -> tuple[list[int], list[float]]:
    """(term ids, BM25 document weights) of one chunk's analysed terms, ids ascending."""
    counts = Counter(term_id(t) for t in terms)  # a hash collision adds the two tfs, as one term
    norm = k1 * (1.0 - b + b * len(terms) / max(avgdl, 1e-9))
    ids = sorted(counts)
    return ids, [counts[i] * (k1 + 1.0) / (counts[i] + norm) for i in ids]


def query_vector(terms: Sequence[str]) -> tuple[list[int], list[float]]:
    """(term ids, counts): a term repeated in the query weighs that many times."""
    counts = Counter(term_id(t) for t in terms)
    ids = sorted(counts)
    return ids, [float(counts[i]) for i in ids]
