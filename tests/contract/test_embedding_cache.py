"""The embedding cache contract on both engines: embed_cache.sqlite and a table in Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.register_assert_rewrite("dayshift.testing.embedding_cache_contract")

from dayshift.embed.cache import EmbeddingCache, VectorCache
from dayshift.embed.cache_postgres import PostgresEmbeddingCache
from dayshift.testing.embedding_cache_contract import EmbeddingCacheContract


class TestSqliteEmbeddingCache(EmbeddingCacheContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def open_cache(self, place: str) -> VectorCache:
        return EmbeddingCache(self.folder / place / "embed_cache.sqlite")


class TestPostgresEmbeddingCache(EmbeddingCacheContract):
    @pytest.fixture(autouse=True)
    def _database(self, pg_database: str) -> None:
        self.url, self.prefix = pg_database, uuid.uuid4().hex[:10]

    def open_cache(self, place: str) -> VectorCache:
        return PostgresEmbeddingCache(self.url, namespace=f"{self.prefix}-{place}")
