"""Embedding cache keyed by (vector space, content hash): unchanged text is never embedded twice.

    VectorCache             the interface: get_many, put_many, count, clear
    EmbeddingCache          <data_dir>/embed_cache.sqlite   space, hash -> float32 vector (the default)
    PostgresEmbeddingCache  the same rows in the namespace's schema, when database.url is set
                            (embed.cache_postgres)

Shared by every store backend, since it sits in front of the embedder; chosen by
`dayshift.assemble.open_embedding_cache`. Both implementations pass
`dayshift.testing.embedding_cache_contract`: vectors come back bit for bit, as float32.
Left out: eviction; the cache grows with distinct texts ever embedded (about 1.6 KB
per 384-dim chunk); `clear()` empties it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from dayshift.embed.base import Embedder
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.sqlite import open_database

_CHUNK = 500  # SQLite host-parameter batches
CACHE_FILE = "embed_cache.sqlite"  # in Settings.data_dir


class VectorCache(Protocol):
    def get_many(self, space: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """hash -> (dim,) float32 vector, for the hashes held in `space`; repeats and misses are fine."""
        ...

    def put_many(self, space: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store `vectors` (n, dim) as float32 under `hashes`, replacing any held; one transaction."""
        ...

    def count(self) -> int: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


MIGRATIONS = baseline(
    "CREATE TABLE IF NOT EXISTS vectors (space TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, "
    "PRIMARY KEY (space, hash)) WITHOUT ROWID"
)


class EmbeddingCache:
    """`VectorCache` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path)
        migrate_sqlite(self._db, "embed_cache", MIGRATIONS, where=str(path))

    def get_many(self, space: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            part = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT hash, vector FROM vectors WHERE space = ? AND hash IN ({marks})", [space, *part])
            found.update((h, np.frombuffer(v, dtype="<f4")) for h, v in rows)
        return found

    def put_many(self, space: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(space, h, np.ascontiguousarray(v, dtype="<f4").tobytes()) for h, v in zip(hashes, vectors)]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO vectors (space, hash, vector) VALUES (?, ?, ?)", rows)
        self._db.execute("COMMIT")

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def clear(self) -> None:
        self._db.execute("DELETE FROM vectors")

    def close(self) -> None:
        self._db.close()


def embed_cached(
    embedder: Embedder, cache: VectorCache | None, texts: Sequence[str], hashes: Sequence[str]
) -> tuple[np.ndarray, int]:
    """(vectors in input order, how many were computed rather than read from the cache)."""
    found, todo = cached_and_missing(cache, embedder.space, hashes)
    computed = embedder.embed([texts[i] for i in todo], kind="document") if todo else None
    return store_computed(cache, embedder.space, hashes, found, todo, computed, dim=embedder.dim), len(todo)


def cached_and_missing(
    cache: VectorCache | None, space: str, hashes: Sequence[str]
) -> tuple[dict[str, np.ndarray], list[int]]:
    """(hash -> cached vector, indexes of the texts to embed): identical texts are embedded once."""
    found = cache.get_many(space, hashes) if cache else {}
    first_of: dict[str, int] = {}
    return found, [i for i, h in enumerate(hashes) if h not in found and first_of.setdefault(h, i) == i]


def store_computed(
    cache: VectorCache | None,
    space: str,
    hashes: Sequence[str],
    found: dict[str, np.ndarray],
    todo: Sequence[int],
    computed: np.ndarray | None,
    *,
    dim: int,
) -> np.ndarray:
    """Put the vectors computed for `todo` in the cache; every row, in input order."""
    if todo and computed is not None:
        if cache:
            cache.put_many(space, [hashes[i] for i in todo], computed)
        found.update((hashes[i], vector) for i, vector in zip(todo, computed))
    out = np.empty((len(hashes), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        out[i] = found[h]
    return out
