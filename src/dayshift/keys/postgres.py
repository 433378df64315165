"""API keys in Postgres: the api_keys table of keys.sqlite, in the namespace's schema.

    [database]
    url = "postgresql://user:password@host/db"     # dayshift_<namespace>.api_keys

The same rows as `dayshift.keys.sqlite.SqliteKeyStore` (key id, SHA-256 of the key, tenant, ISO times); times
sort in byte order (COLLATE "C") as SQLite sorts them. Every method is one statement.
"""

from __future__ import annotations

from dayshift.keys.base import KeyInfo
from dayshift.postgres import SchemaConnection, schema_name

DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id text PRIMARY KEY,             -- the first characters of the key, safe to show and log
    key_hash text NOT NULL UNIQUE,       -- sha256 of the whole key
    tenant text NOT NULL,
    created_at text COLLATE "C" NOT NULL,
    revoked_at text
);
"""


class PostgresKeyStore:
    """`KeyStore` over one schema of a Postgres database."""

    def __init__(self, url: str, *, namespace: str = "default") -> None:
        self._db = SchemaConnection(url, schema=schema_name(namespace), ddl=DDL, purpose="API keys")
        self.where = self._db.where

    def add(self, info: KeyInfo, *, key_hash: str) -> None:
        self._db.execute(
            "INSERT INTO api_keys (key_id, key_hash, tenant, created_at) VALUES (%s, %s, %s, %s)",
            [info.key_id, key_hash, info.tenant, info.created_at],
        )

    def find(self, key_hash: str) -> tuple[str, str] | None:
        rows = self._db.fetch(
            "SELECT key_id, tenant FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", [key_hash]
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def revoke(self, key_id: str, *, at: str) -> bool:
        changed = self._db.execute(
            "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL", [at, key_id]
        )
        return changed > 0

    def list(self) -> list[KeyInfo]:
        rows = self._db.fetch("SELECT key_id, tenant, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [KeyInfo(*row) for row in rows]

    def active_count(self) -> int:
        return int(self._db.fetch("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")[0][0])

    def close(self) -> None:
        self._db.close()
