"""The API key store contract on both engines: keys.sqlite and a table in Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.register_assert_rewrite("dayshift.testing.key_store_contract")

from dayshift.keys import KeyStore, SqliteKeyStore
from dayshift.keys.postgres import PostgresKeyStore
from dayshift.testing.key_store_contract import KeyStoreContract


class TestSqliteKeyStore(KeyStoreContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def open_key_store(self, place: str) -> KeyStore:
        return SqliteKeyStore(self.folder / place / "keys.sqlite")


class TestPostgresKeyStore(KeyStoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, pg_database: str) -> None:
        self.url, self.prefix = pg_database, uuid.uuid4().hex[:10]

    def open_key_store(self, place: str) -> KeyStore:
        return PostgresKeyStore(self.url, namespace=f"{self.prefix}-{place}")
