"""The embedding cache in Postgres: (space, hash) -> float32 vector, in the namespace's schema.

    [database]
    url = "postgresql://user:password@host/db"     # dayshift_<namespace>.embedding_cache

Vectors are kept as the SQLite cache keeps them, little-endian float32 bytes, so they come
back bit for bit, and no pgvector is needed. A batch is read with one `= ANY(array)` query
and written with one INSERT ... SELECT FROM unnest(...), replacing what a hash held, in
binary format both ways (no hex encoding of the vectors).

Left out: eviction, as in the SQLite cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dayshift.postgres import SchemaConnection, schema_name

DDL = """
CREATE TABLE IF NOT EXISTS embedding_cache (
    space text NOT NULL,
    hash text NOT NULL,
    vector bytea NOT NULL,       -- little-endian float32
    PRIMARY KEY (space, hash)
);
"""


class PostgresEmbeddingCache:
    """`VectorCache` over one schema of a Postgres database."""

    def __init__(self, url: str, *, namespace: str = "default") -> None:
        self._db = SchemaConnection(url, schema=schema_name(namespace), ddl=DDL, purpose="embedding cache",
                                    durable=False)  # a lost vector is computed again
        self.where = self._db.where

    def get_many(self, space: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        rows = self._db.fetch(
            "SELECT hash, vector FROM embedding_cache WHERE space = %s AND hash = ANY(%s)", [space, unique], binary=True
        )
        return {h: np.frombuffer(v, dtype="<f4") for h, v in rows}

    def put_many(self, space: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        latest = {h: np.ascontiguousarray(v, dtype="<f4").tobytes() for h, v in zip(hashes, vectors)}  # last wins
        if not latest:
            return
        self._db.execute(
            "INSERT INTO embedding_cache (space, hash, vector) SELECT %s, h, v FROM unnest(%s::text[], %b::bytea[]) "
            "AS batch (h, v) ON CONFLICT (space, hash) DO UPDATE SET vector = EXCLUDED.vector",
            [space, list(latest), list(latest.values())],
        )

    def count(self) -> int:
        return int(self._db.fetch("SELECT count(*) FROM embedding_cache")[0][0])

    def clear(self) -> None:
        self._db.execute("DELETE FROM embedding_cache")

    def close(self) -> None:
        self._db.close()
