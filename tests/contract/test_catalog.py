"""The ingest catalog contract on both engines: catalog.sqlite and tables in Postgres.

Each Postgres test gets namespaces (schemas) of its own in one database. Then, for Postgres
only: the catalog's tables beside the store's in one schema, sharing no name; a connection the
server dropped is reopened; a server out of reach is named, its password not.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

pytest.register_assert_rewrite("dayshift.testing.catalog_contract")

from dayshift import postgres
from dayshift.errors import StoreError
from dayshift.ingest.catalog import Catalog
from dayshift.ingest.catalog_base import IngestCatalog
from dayshift.ingest.catalog_postgres import PostgresCatalog
from dayshift.store.postgres import PostgresStore
from dayshift.testing.catalog_contract import CatalogContract, document
from dayshift.testing.store_contract import SPACE, put


class TestSqliteCatalog(CatalogContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def open_catalog(self, place: str) -> IngestCatalog:
        return Catalog(self.folder / place / "catalog.sqlite")


class TestPostgresCatalog(CatalogContract):
    @pytest.fixture(autouse=True)
    def _database(self, pg_database: str) -> None:
        self.url, self.prefix = pg_database, uuid.uuid4().hex[:10]

    def open_catalog(self, place: str) -> IngestCatalog:
        return PostgresCatalog(self.url, namespace=f"{self.prefix}-{place}")


def test_the_catalog_sits_beside_the_store_in_the_tenants_schema(pg_database: str) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    catalog = PostgresCatalog(pg_database, namespace=namespace)
    store = PostgresStore(url=pg_database, space=SPACE, dim=8, namespace=namespace, pool_size=1)
    try:
        put(store, "docs/a.md", ["the store has its own documents table"])
        catalog.put_document(document("docs/a.md", version="v7"))
        assert store.document_versions() == {"docs/a.md": "v1"}
        assert [d.version for d in catalog.documents()] == ["v7"]
        assert catalog.where.endswith(f"(schema {store.schema})")
    finally:
        store.close()
        catalog.close()


def test_a_connection_the_server_dropped_is_reopened(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = PostgresCatalog(pg_database, namespace=f"t{uuid.uuid4().hex[:10]}")
    try:
        catalog.put_document(document("docs/a.md"))

        def drop() -> None:  # what a server restart does to an open connection
            with psycopg.connect(pg_database, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [catalog._db._conn.info.backend_pid])

        drop()
        monkeypatch.setattr(postgres, "IDLE_CHECK_S", 0.0)  # idle: pinged before use, and reopened
        assert [d.doc_id for d in catalog.documents()] == ["docs/a.md"]
        drop()
        monkeypatch.setattr(postgres, "IDLE_CHECK_S", 3600.0)  # in use: one call fails, the next reconnects
        with pytest.raises(StoreError, match="DAYSHIFT_DATABASE__URL"):
            catalog.documents()
        assert [d.doc_id for d in catalog.documents()] == ["docs/a.md"]
    finally:
        catalog.close()


def test_a_server_that_cannot_be_reached_is_named_without_its_password() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresCatalog("postgresql://app:s3cret-pw@127.0.0.1:1/dayshift")
    message = str(caught.value)
    assert "127.0.0.1/dayshift" in message and "DAYSHIFT_DATABASE__URL" in message and "ingest catalog" in message
    assert "s3cret-pw" not in message
